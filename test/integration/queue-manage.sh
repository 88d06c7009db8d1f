# queue-manage.sh - queue management: the delivery state a failed attempt
# leaves in the Q file and `mailq -v` shows (golden listing, times
# masked), `dma -bp` unchanged, -Mf/-Mt (a held entry outlives
# MAXQUEUETIME without a bounce and is delivered after -Mt), -Mrm (no
# bounce), -M (foreground delivery of just those), unknown ids (exit 67),
# other users (exit 77), -qR/-qS/-qI/-q!R selections, RETRYDELAY in the
# next attempt time, the state surviving a runner killed by SIGKILL, and
# a worker killed by a signal counted as a failed attempt.

MSG='Subject: queue test

body
'
printf 'postmaster: root\n' | aliases_file

# mask: times and ages of a -v listing replaced by fixed words
mask() {
	sed -E -e 's/[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}/TIME/g' \
	    -e 's/\(age [0-9dhms]+\)/(age AGE)/'
}

smtpd_start tf --fault 'rcpt=451 4.3.0 try later' || exit 1
smtpd_conf tf DEFER 'RETRYDELAY 600'
printf '%s' "$MSG" | send_as alice far@example.org
qid=$(qfiles | head -1 | sed 's/^Q//')
msgid=${qid%%.*}
size=$(spool_msg "$SPOOL/M$qid" | wc -c)

capture "$DMA" -bp -v
is "-bp -v of a never attempted entry" "$(printf '%s\n' "$out" | mask)" \
"ID	: $qid
From	: alice@testhost
To	: far@example.org
Queued	: TIME (age AGE)
Size	: $size
Attempts: 0
Failed	: -
Next	: now"

"$DMA" -q -D
capture "$DMA" -bp
is "-bp stays as it was" "$out" "ID	: $qid
From	: alice@testhost
To	: far@example.org"
capture run_as alice mailq -v
is "mailq -v after a failed attempt (golden)" "$(printf '%s\n' "$out" | mask)" \
"ID	: $qid
From	: alice@testhost
To	: far@example.org
Queued	: TIME (age AGE)
Size	: $size
Attempts: 1
Failed	: TIME 127.0.0.1 [127.0.0.1] failed after RCPT TO: 451 4.3.0 try later
Next	: TIME"
like "the state is in the Q file" "$(cat "$SPOOL/Q$qid")" '^Attempts: 1$'
last=$(sed -n 's/^Last-Attempt: //p' "$SPOOL/Q$qid")
next=$(sed -n 's/^Next-Attempt: //p' "$SPOOL/Q$qid")
is "the next attempt is RETRYDELAY after the failure" "$((next - last))" 600
"$DMA" -q -D
next2=$(sed -n 's/^Next-Attempt: //p' "$SPOOL/Q$qid")
last2=$(sed -n 's/^Last-Attempt: //p' "$SPOOL/Q$qid")
d=$((next2 - last2))
ok "the second wait grows by 1.5 to 2.5 ($d s)" test "$d" -ge 900 -a "$d" -le 1500
like "two attempts counted" "$(cat "$SPOOL/Q$qid")" '^Attempts: 2$'

# ---- the state survives a runner killed by SIGKILL --------------------
smtpd_stop tf
smtpd_start slow --delay 'rcpt=60' || exit 1
smtpd_conf slow DEFER 'RETRYDELAY 600'
"$DMA" -q -D &
runner=$!
# slow_started: the server has a session of the runner
slow_started() {
	test "$(smtpd_sessions slow)" -ge 1
}
ok "the killed runner's attempt is under way" wait_until 20 slow_started
kill_dma
wait $runner 2>/dev/null
capture "$DMA" -bp -v
like "after SIGKILL: the attempts are still listed" "$out" '^Attempts: 2$'
like "after SIGKILL: the last failure too" "$out" '^Failed	: .* 451 4\.3\.0 try later$'
smtpd_stop slow

# ---- refusals ----------------------------------------------------------
for a in -Mrm -Mf -Mt -M; do
	capture run_as alice "$DMA" $a "$qid"
	is "$a by a user: exit 77" "$rc" 77
	is "$a by a user: the message" "$err" "dma: $a: only root may act on queued messages"
done
ok "a user's -M changed nothing" test -e "$SPOOL/Q$qid"
capture "$DMA" -Mf 99999.1 "$qid" abc
is "unknown ids: exit 67" "$rc" 67
is "unknown ids: named" "$err" "dma: -Mf: no such queue id: 99999.1 abc"
unlike "unknown ids: nothing held" "$(cat "$SPOOL/Q$qid")" '^Held'

# ---- hold, expiry while held, release --------------------------------
smtpd_start ok2 || exit 1
smtpd_conf ok2 DEFER
capture "$DMA" -Mf "$msgid"
is "-Mf by message id: exit 0" "$rc" 0
like "-Mf: held in the Q file" "$(cat "$SPOOL/Q$qid")" '^Held: yes$'
like "-Mf: mailq -v says (held)" "$("$DMA" -bp -v)" '^Next	: \(held\)$'
ok "-Mf is logged" syslog_has "$qid: <far@example\.org> held by root \(dma -Mf\)"
touch -d '6 days ago' "$SPOOL/Q$qid"
"$DMA" -q -D
ok "held: a run leaves it queued" test -e "$SPOOL/Q$qid"
is "held: nothing was sent" "$(smtpd_sessions ok2)" 0
is "held and 6 days old: no bounce" "$(count_msgs /var/mail/alice)" 0
capture "$DMA" -Mt "$qid"
is "-Mt: exit 0" "$rc" 0
unlike "-Mt: no longer held" "$(cat "$SPOOL/Q$qid")" '^Held'
like "-Mt: the age is kept" "$("$DMA" -bp -v)" '^Queued	: .* \(age 6d'
smtpd_conf ok2 DEFER 'MAXQUEUETIME 864000'
"$DMA" -q -D
ok "released: delivered by the next run" wait_queue_empty 30
is "released: the server got it" "$(smtpd_messages ok2)" 1
is "released: no bounce" "$(count_msgs /var/mail/alice)" 0

# ---- -Mrm ----------------------------------------------------------------
smtpd_conf ok2 DEFER
printf '%s' "$MSG" | send_as alice one@example.org two@example.org
m=$(qfiles | head -1 | sed 's/^Q//; s/\..*//')
capture "$DMA" -Mrm "$m"
is "-Mrm of a message: exit 0, silent" "$rc:$out$err" "0:"
is "-Mrm: both recipients gone" "$(qfiles)" ""
ok "-Mrm: M files gone too" test -z "$(spool_rest | grep '^M')"
ok "-Mrm is logged" syslog_has "$m\.1: <one@example\.org> removed from the queue by root \(dma -Mrm\), no bounce"
is "-Mrm: no bounce" "$(count_msgs /var/mail/alice)" 0

# ---- -M delivers just those, now ------------------------------------------
printf '%s' "$MSG" | send_as alice a1@example.org
printf '%s' "$MSG" | send_as alice a2@example.org
q1=$(grep -l '^Recipient: a1@' "$SPOOL"/Q* | sed 's|.*/Q||')
before=$(smtpd_messages ok2)
capture "$DMA" -M "$q1"
is "-M: exit 0" "$rc" 0
ok "-M: that entry is delivered" test ! -e "$SPOOL/Q$q1"
is "-M: one message sent" "$(smtpd_messages ok2)" $((before + 1))
is "-M: the other one still queued" "$(qfiles | wc -l)" 1

# ---- selective runs -------------------------------------------------------
printf '%s' "$MSG" | send_as bob b1@example.org
capture "$DMA" -q -D '-q!Ra2@'
is "-q!R: the others delivered" "$(grep -l '^Recipient: ' "$SPOOL"/Q* | xargs grep -h '^Recipient' )" "Recipient: a2@example.org"
printf '%s' "$MSG" | send_as bob b2@example.org
"$DMA" -q -D -qSalice
is "-qS: alice's entry delivered, bob's not" "$(cat "$SPOOL"/Q* | grep '^Recipient')" "Recipient: b2@example.org"
q2=$(qfiles | sed 's/^Q//')
"$DMA" -q -D -qI"$q2"
is "-qI: by queue id" "$(qfiles)" ""
capture "$DMA" -qX
is "-qX: exit 64" "$rc" 64
like "-qX: named" "$err" 'unsupported queue option -qX'
smtpd_stop ok2

# ---- a worker killed by a signal counts as a failed attempt ---------------
smtpd_start hang --fault-once --fault greeting=stall || exit 1
smtpd_conf hang DEFER
printf '%s' "$MSG" | send_as alice k1@example.org
"$DMA" -q -D &
runner=$!
# hang_started: the worker waits in the server's first session
hang_started() {
	[ "$(ls "$T/smtpd-hang" | grep -c '^session-')" -gt 0 ]
}
ok "killed worker: its session is open" wait_until 30 hang_started
for c in $(pgrep -P "$runner"); do
	kill -KILL "$c"
done
wait "$runner"
capture "$DMA" -bp -v
like "killed worker: one attempt recorded" "$out" '^Attempts: 1$'
like "killed worker: the reason" "$out" '^Failed	: .* the delivery process was killed by signal 9$'
like "killed worker: a next attempt time" "$out" '^Next	: [0-9]{4}-'
"$DMA" -q -D
is "killed worker: the next run delivers it" "$(qfiles)" ""
smtpd_stop hang
