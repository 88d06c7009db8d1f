# queue-groups.sh - group entries: the remote recipients of one message at
# one domain share one queue entry (a Q file of version 3), local ones stay
# one per entry.  One SMTP transaction carries them with an outcome for
# each recipient: the accepted ones are struck from the entry, a refused
# one is bounced alone, a deferred one stays queued with the attempt in
# the rewritten Q file and is delivered, alone, by the next run.  -Mf,
# -Mt and -Mrm act on a whole entry.  A run that delivers part of a group
# and is killed at any of its writes, fsyncs, renames and unlinks loses
# nobody, and delivers a recipient a second time only when it was killed
# between the server's acceptance and the rewrite of the entry.
#
# test-timeout: 600

MSG='Subject: groups

one message, several recipients
'
printf '%s' "$MSG" >"$T/msg"
chmod 0644 "$T/msg"

# the server that refuses b@example.org for good and d@example.org for now
smtpd_start g1 --pipelining --rcpt-reply 'b@example.org=550 5.1.1 no such user' \
    --rcpt-reply 'd@example.org=451 4.3.0 try later' || exit 1
smtpd_conf g1 DEFER

# ---- 1. the layout of a group entry ---------------------------------------
send_as alice a@example.org b@example.org c@example.net bob d@example.org <"$T/msg"
is "five recipients queued" "$(qrcpts | wc -l)" 5
is "in three entries: example.org, example.net, bob" "$(qfiles | wc -l)" 3
q1=$(grep -l '^Recipient: a@example.org$' "$SPOOL"/Q*)
id=${q1##*/Q}
msgid=${id%.*}
is "the example.org entry is the first" "$id" "$msgid.1"
is "its Q file: version 3, the three recipients in order" "$(cat "$q1")" \
"Version: 3
ID: $id
Sender: alice@$HOST
Recipient: a@example.org
Recipient: b@example.org
Recipient: d@example.org"
is "example.net and bob: version 2 entries of one recipient" \
    "$(sed -n 's/^Version: //p' "$SPOOL/Q$msgid.2" "$SPOOL/Q$msgid.3" | tr '\n' ' ')" "2 2 "
is "the trailer: recipients entry after entry, one Entry line, version 3" \
    "$(sed -n '/^ID: '"$msgid"'$/,$p' "$SPOOL/M$id" | sed 's/^\(DMA-Trailer: 003\) .*/\1/')" \
"ID: $msgid
Sender: alice@$HOST
Recipient: a@example.org
Recipient: b@example.org
Recipient: d@example.org
Recipient: c@example.net
Recipient: bob
Entry: 1 3
DMA-Trailer: 003"
capture run_as alice "$DMA" -bp
is "-bp: one block per entry, a To line per recipient" "$out" \
"ID	: $id
From	: alice@$HOST
To	: a@example.org
To	: b@example.org
To	: d@example.org
--
ID	: $msgid.2
From	: alice@$HOST
To	: c@example.net
--
ID	: $msgid.3
From	: alice@$HOST
To	: bob"

# ---- 2. one transaction, an outcome for each recipient ----------------------
smtpd_conf g1
rm -f /var/mail/alice
syslog_mark
run_dma -q -D
is "bob's copy delivered" "$(count_msgs /var/mail/bob)" 1
is "one session" "$(smtpd_sessions g1)" 1
is "one transaction for the four remote recipients" "$(smtpd_messages g1)" 1
is "RCPT in queue order, one each" \
    "$(grep -a -o 'RCPT TO:<[^>]*>' "$(smtpd_raw g1)" | tr '\n' ' ')" \
    "RCPT TO:<a@example.org> RCPT TO:<b@example.org> RCPT TO:<d@example.org> RCPT TO:<c@example.net> "
is "accepted: a and c" "$(smtpd_json "$(smtpd_last_json g1)" 'j["rcpt_tos"]' | tr '\n' ' ')" \
    "a@example.org c@example.net "
is "b bounced alone: one bounce" "$(count_msgs /var/mail/alice)" 1
like "the bounce names b" "$(cat /var/mail/alice)" '<b@example\.org>'
unlike "and nobody else" "$(cat /var/mail/alice)" '<[acd]@example\.(org|net)>'
is "d is the one left queued" "$(qrcpts)" "d@example.org"
is "in the same entry" "$(qfiles)" "Q$id"
like "its Q file: d alone, with the attempt" "$(cat "$SPOOL/Q$id")" \
    "^Version: 3
ID: $id
Sender: alice@$HOST
Recipient: d@example.org
Attempts: 1
Last-Attempt: [0-9]+
Last-Error: .*451 4.3.0 try later
Next-Attempt: [0-9]+$"
ok "the other entries are gone" test ! -e "$SPOOL/Q$msgid.2" -a ! -e "$SPOOL/M$msgid.2" \
    -a ! -e "$SPOOL/Q$msgid.3" -a ! -e "$SPOOL/M$msgid.3"
ok "no temp file left" test -z "$(ls "$SPOOL" | grep '^tmp_')"
ok "each outcome logged" logged '<a@example.org> delivery successful'
ok "the deferral logged" logged '<d@example.org> delivery deferred'
capture run_as alice "$DMA" -bp
is "-bp: d alone" "$out" "ID	: $id
From	: alice@$HOST
To	: d@example.org"

# ---- 3. the next run: the one left, alone, once ------------------------------
smtpd_start g2 --pipelining || exit 1
smtpd_conf g2
run_dma -q -D
ok "delivered" wait_queue_empty 30
is "d delivered once" "$(smtpd_rcpt_count g2 d@example.org)" 1
is "in a transaction of its own" "$(smtpd_json "$(smtpd_last_json g2)" 'j["rcpt_tos"]')" \
    "d@example.org"
is "nobody else a second time" "$(smtpd_messages g2)" 1
is "nothing left in the spool" "$(spool_rest)" ""

# ---- 4. -Mf, -Mt and -Mrm act on a whole entry -----------------------------
smtpd_conf g2 DEFER
send_as alice x@example.org y@example.org z@example.org <"$T/msg"
is "three recipients, one entry" "$(qfiles | wc -l):$(qrcpts | wc -l)" "1:3"
id=$(qfiles)
id=${id#Q}
capture run_dma -Mf "$id"
is "-Mf: exit 0" "$rc" 0
is "-Mf: the entry keeps its three recipients" "$(qrcpts | wc -l)" 3
ok "-Mf: held" grep -qx 'Held: yes' "$SPOOL/Q$id"
smtpd_conf g2
run_dma -q -D
is "held: a run delivers none" "$(smtpd_messages g2):$(qrcpts | wc -l)" "1:3"
capture run_dma -Mt "$id"
is "-Mt: exit 0" "$rc" 0
not_ok "-Mt: released" grep -q '^Held:' "$SPOOL/Q$id"
smtpd_conf g2 DEFER
syslog_mark
capture run_dma -Mrm "$id"
is "-Mrm: exit 0" "$rc" 0
is "-Mrm: the whole entry is gone" "$(spool_rest)" ""
syslog_sync
is "-Mrm: logged for each recipient" \
    "$(tail -n +"$((SYSLOG_MARK + 1))" "$T/syslog" | grep -c 'removed from the queue by root')" 3
capture run_dma -Mrm "$id"
is "-Mrm again: no such queue id" "$rc" 67

# ---- 4b. -qR selects recipients, not entries --------------------------------
smtpd_conf g2 DEFER
send_as alice x@example.org y@example.org <"$T/msg"
smtpd_conf g2
n0=$(smtpd_messages g2)
run_dma -D -qRx@
wait_until 30 sh -c '! grep -q "^Recipient: x@" "$SPOOL"/Q*'
is "-qRx@: x delivered" "$(smtpd_rcpt_count g2 x@example.org)" 1
is "-qRx@: y not" "$(smtpd_rcpt_count g2 y@example.org)" 0
is "-qRx@: y stays queued, alone in the entry" "$(qrcpts)" "y@example.org"
run_dma -q -D
ok "then a run delivers y" wait_queue_empty 30
is "y once" "$(smtpd_rcpt_count g2 y@example.org)" 1
is "two transactions in all" "$(($(smtpd_messages g2) - n0))" 2

# ---- 5. a partial delivery killed at every write, fsync, rename, unlink ---
# Each round: the message to a, b and d at example.org and c at example.net
# is queued; a run against g1 (b refused, d deferred) is killed at one
# call; a run against g3 (b refused, everyone else accepted) finishes.
smtpd_start g3 --pipelining --rcpt-reply 'b@example.org=550 5.1.1 no such user' || exit 1
queue_one() {
	smtpd_conf g1 DEFER
	send_as alice a@example.org b@example.org c@example.net d@example.org <"$T/msg"
	smtpd_conf g1
}
calls='write,fsync,fdatasync,rename,renameat,renameat2,unlink,unlinkat'
queue_one
strace -f -qq -o "$T/ref.st" -e trace="$calls" "$DMA" -q -D
is "reference run: d left" "$(qrcpts)" "d@example.org"
grep -E '^[0-9]* *[a-z0-9_]+\(' "$T/ref.st" | sed 's/^[0-9]* *//' >"$T/ref.lines"
sed 's/(.*//' "$T/ref.lines" >"$T/ref.calls"
commit=$(grep -nE '^rename(at2?)?\(.*tmp_state_.*"/var/spool/dma/Q' "$T/ref.lines" |
    head -n 1 | cut -d: -f1)
# c's commit point: the unlink of its entry's Q file
commit_c=$(grep -nE '^unlink(at)?\(.*"/var/spool/dma/Q[0-9a-f]+\.2"' "$T/ref.lines" |
    head -n 1 | cut -d: -f1)
ok "reference trace has the entry's rewrite (its commit point)" test -n "$commit"
ok "and the removal of c's entry" test -n "$commit_c"
total=$(wc -l <"$T/ref.calls")
diag "partial delivery: $total calls of interest, the rewrite at $commit, c's removal at $commit_c"
smtpd_conf g3
run_dma -q -D
wait_queue_empty 30
find "$SPOOL" -mindepth 1 -name 'J*' -delete
seen1() { smtpd_rcpt_count g1 "$1"; }
seen3() { smtpd_rcpt_count g3 "$1"; }
bad=""
n=0
while read -r call; do
	n=$((n + 1))
	k=$(head -n "$n" "$T/ref.calls" | grep -cx "$call")
	for r in a@example.org c@example.net d@example.org; do
		eval "b1_${r%%@*}=\$(seen1 $r) b3_${r%%@*}=\$(seen3 $r)"
	done
	queue_one
	strace -f -qq -o /dev/null -e inject="$call":signal=KILL:when="$k" \
	    "$DMA" -q -D >/dev/null 2>&1
	# what the killed worker's run still does (bounces, the record of
	# the attempt) ends before the next run starts
	wait_until 30 sh -c '! pgrep -x -r R,S,D,T,t "dma|dma-mbox-create" >/dev/null 2>&1'
	age_tmp
	smtpd_conf g3
	run_dma -q -D >/dev/null 2>&1
	wait_queue_empty 30 >/dev/null
	left=$(spool_rest | grep -v '^J')
	if [ -n "$left" ]; then
		bad="$bad $call #$k: left [$(echo $left)];"
		find "$SPOOL" -mindepth 1 ! -name 'J*' -delete
		continue
	fi
	for r in a c d; do
		case $r in
		c) addr=c@example.net; cp=$commit_c ;;
		*) addr=$r@example.org; cp=$commit ;;
		esac
		eval "g1=\$((\$(seen1 $addr) - b1_$r)) g3=\$((\$(seen3 $addr) - b3_$r))"
		if [ $((g1 + g3)) -lt 1 ]; then
			bad="$bad $call #$k: $r lost;"
		elif [ "$r" = d ] && [ "$g1" -ne 0 ]; then
			bad="$bad $call #$k: d accepted by the server that defers it;"
		elif [ $((g1 + g3)) -gt 1 ] && { [ "$g1" -eq 0 ] || [ "$n" -gt "$cp" ] ||
		    [ "$r" = d ]; }; then
			bad="$bad $call #$k: $r delivered $((g1 + g3)) times;"
		fi
	done
done <"$T/ref.calls"
is "killed at each of the $total calls: nobody lost, nobody delivered twice outside the window" \
    "$bad" ""
not_ok "no entry was set aside" syslog_has 'malformed queue file'

smtpd_stop g1
smtpd_stop g2
smtpd_stop g3
