# spool-v2.sh - the versioned queue file: a submission costs two fsyncs
# (its data, then the directory) for 1 or 10 recipients and touches nothing
# it does not need (no auth.conf, no OpenSSL configuration, no DNS, no
# network socket); entries written by upstream dma 0.13 (and by our own
# earlier versions: the same three lines) are listed and delivered, locally
# and remotely; a submission killed at any of its writes, fsyncs, renames,
# links and unlinks leaves all its recipients queued or none, delivered
# once; a Q file emptied or cut by a power loss is delivered from the
# envelope trailer of its message file; an entry with neither is set aside.
#
# test-timeout: 600

MSG='Subject: spool v2

body
'
printf '%s' "$MSG" >"$T/msg"
chmod 0644 "$T/msg"

# ---- 1. cheap submission ------------------------------------------------
smtpd_start v2 || exit 1
smtpd_conf v2 DEFER "AUTHPATH /etc/dma/auth.conf"
# An auth.conf the submission must not read (its host is not ours, so
# the queue runs below do not try to log in without TLS).
echo "alice|mail.example.org:secret" | auth_conf

# sub_trace N RCPT...: alice submits to RCPT... under strace; the trace of
# the calls that matter is in $T/sub-N.st
sub_trace() {
	local n=$1
	shift
	strace -f -qq -u alice -o "$T/sub-$n.st" \
	    -e trace=fsync,fdatasync,open,openat,socket,connect \
	    "$DMA" "$@" <"$T/msg"
}
procself='fd|loginuid'
# A sanitizer build's runtime reads its own /proc files (maps, environ ...)
grep -qa __asan_init "$DMA" && procself='[a-z_]+'
allowed='^(/etc/ld\.so\.cache|/(usr/)?lib(64|32)?/.*|/proc/self/('"$procself"')|/etc/(nsswitch\.conf|passwd|group|localtime)|/etc/dma/dma\.conf|/etc/aliases|/var/spool/dma|/var/spool/dma/tmp_[A-Za-z0-9]+|/var/spool/dma/Q[0-9a-f]+\.[0-9a-f]+)$'
for n in 1 10; do
	# entries: one per local recipient, one per remote domain
	case $n in
	1) set -- bob; ne=1 ;;
	10) set -- bob alice root r1@example.org r2@example.org r3@example.org \
	    r4@example.org r5@example.net r6@example.net r7@example.com; ne=6 ;;
	esac
	sub_trace "$n" "$@"
	is "$n recipient(s): queued" "$(qrcpts | grep -c .)" "$n"
	is "$n recipient(s): in $ne entries" "$(qfiles | grep -c .)" "$ne"
	st=$T/sub-$n.st
	is "$n recipient(s): exactly 2 fsync/fdatasync calls" \
	    "$(grep -cE '^[0-9]* *(fsync|fdatasync)\(' "$st")" 2
	sed -n 's/^[0-9]* *open\(at\)\?([^"]*"\([^"]*\)".*/\2/p' "$st" >"$T/opened-$n"
	is "$n recipient(s): nothing opened but libraries, passwd, dma.conf, aliases and the spool" \
	    "$(grep -vE "$allowed" "$T/opened-$n")" ""
	is "$n recipient(s): one Q file opened per entry" \
	    "$(grep -c '^/var/spool/dma/Q' "$T/opened-$n")" "$ne"
	is "$n recipient(s): the spool directory opened once (its fsync)" \
	    "$(grep -cx '/var/spool/dma' "$T/opened-$n")" 1
	not_ok "$n recipient(s): auth.conf not read" grep -q 'auth\.conf' "$T/opened-$n"
	not_ok "$n recipient(s): no OpenSSL initialisation (openssl.cnf not read)" \
	    grep -q 'openssl\.cnf' "$T/opened-$n"
	not_ok "$n recipient(s): no resolver configuration read" \
	    grep -qE 'resolv\.conf|/etc/hosts' "$T/opened-$n"
	not_ok "$n recipient(s): no network socket" \
	    grep -qE 'socket\(AF_INET' "$st"
	rm -f "$SPOOL"/Q* "$SPOOL"/M*
done

# ---- 2. a spool written by upstream dma 0.13 ----------------------------
# upstream_entry QID QTEXT MTEXT AGE: Q{QID} and M{QID} in upstream's exact
# format, 0660 alice:mail, the Q file dated AGE ago
upstream_entry() {
	printf '%s' "$2" >"$SPOOL/Q$1"
	printf '%s' "$3" >"$SPOOL/M$1"
	chown alice:mail "$SPOOL/Q$1" "$SPOOL/M$1"
	chmod 0660 "$SPOOL/Q$1" "$SPOOL/M$1"
	touch -d "$4 ago" "$SPOOL/Q$1"
}
up_m() {
	printf 'Received: from alice (uid 2001)\n\t(envelope-from %s)\n\tid %s\n\tby testhost (DragonFly Mail Agent v0.13)\n\tSun, 06 Dec 2026 10:00:00 +0000\nSubject: %s\nDate: Sun, 06 Dec 2026 10:00:00 +0000\nFrom: <alice@testhost>\n\nupstream body of %s\n' \
	    "$1" "$2" "$3" "$3"
}
m1=$(up_m alice@testhost a74663 one; echo x)
m1=${m1%x}
m2=$(up_m '' b81234 two; echo x)
m2=${m2%x}
m3=$(up_m alice@testhost c91234 three; echo x)
m3=${m3%x}
upstream_entry a74663.558233049040 \
    $'ID: a74663.558233049040\nSender: alice@testhost\nRecipient: bob\n' "$m1" '3 hours'
# lines in another order, an unknown key, an empty sender (a bounce)
upstream_entry b81234.55823304a0b0 \
    $'Recipient: alice\nX-Later-Key: anything: at all\nSender: \nID: b81234.55823304a0b0\n' \
    "$m2" '2 hours'
upstream_entry c91234.558233049100 \
    $'ID: c91234.558233049100\nSender: alice@testhost\nRecipient: carol@example.org\n' \
    "$m3" '1 hour'
capture run_as alice "$DMA" -bp
is "-bp of upstream entries: exit 0" "$rc" 0
is "-bp lists them exactly" "$out" "ID	: a74663.558233049040
From	: alice@testhost
To	: bob
--
ID	: b81234.55823304a0b0
From	: 
To	: alice
--
ID	: c91234.558233049100
From	: alice@testhost
To	: carol@example.org"
capture run_dma -q -D
is "queue run over upstream entries: exit 0" "$rc" 0
ok "the spool is empty afterwards" wait_queue_empty 30
is "nothing left in the spool" "$(spool_rest)" ""
{ printf 'From alice@testhost Sun Dec  6 10:00:00 2026\n%s\n' "$m1"; } >"$T/want.bob"
mask_mbox "$T/want.bob" >"$T/want.bob.m"
mask_mbox /var/mail/bob >"$T/got.bob"
is_file "bob's mbox: the upstream message exactly" "$T/got.bob" "$T/want.bob.m"
{ printf 'From MAILER-DAEMON Sun Dec  6 10:00:00 2026\n%s\n' "$m2"; } >"$T/want.alice"
mask_mbox "$T/want.alice" >"$T/want.alice.m"
mask_mbox /var/mail/alice >"$T/got.alice"
is_file "alice's mbox: the null-sender upstream message exactly" "$T/got.alice" "$T/want.alice.m"
is "the remote upstream entry reached the server" "$(smtpd_messages v2)" 1
j=$(smtpd_last_json v2)
is "remote: MAIL FROM" "$(smtpd_json "$j" 'j["mail_from"]')" "alice@$HOST"
is "remote: RCPT TO" "$(smtpd_json "$j" 'j["rcpt_tos"]')" "carol@example.org"
printf '%s' "$m3" >"$T/want.m3"
tr -d '\r' <"$(smtpd_last_msg v2)" >"$T/got.m3"
is_file "remote: the upstream message exactly" "$T/got.m3" "$T/want.m3"
rm -f /var/mail/bob /var/mail/alice

# A version 2 message is sent without its envelope trailer.
capture run_as alice sh -c "$DMA dave@example.org <$T/msg"
q=$(qfiles)
spool_msg "$SPOOL/M${q#Q}" >"$T/want.v2"
ok "a version 2 M file ends with the trailer" grep -q '^DMA-Trailer: 002 ' "$SPOOL/M${q#Q}"
run_dma -q -D
ok "delivered" wait_queue_empty 30
tr -d '\r' <"$(smtpd_last_msg v2)" >"$T/got.v2"
is_file "remote: the message as queued, without the trailer" "$T/got.v2" "$T/want.v2"

# ---- 3. a submission killed at every write, fsync, rename, link, unlink --
echo DEFER | dma_conf
strace -f -qq -u alice -o "$T/ref.st" \
    -e trace=write,fsync,fdatasync,rename,renameat,renameat2,link,linkat,unlink,unlinkat \
    "$DMA" bob alice <"$T/msg"
is "reference submission: two entries" "$(qfiles | grep -c .)" 2
run_dma -q -D
ok "reference submission delivered" wait_queue_empty 30
grep -E '^[0-9]* *[a-z0-9_]+\(' "$T/ref.st" | sed 's/^[0-9]* *//' >"$T/ref.lines"
sed 's/(.*//' "$T/ref.lines" >"$T/ref.calls"
commit=$(grep -nE '^unlink(at)?\(.*"/var/spool/dma/tmp_[0-9a-f]+"' "$T/ref.lines" |
    head -n 1 | cut -d: -f1)
ok "reference trace has the commit point (unlink of tmp_{msgid})" test -n "$commit"
total=$(wc -l <"$T/ref.calls")
diag "submission: $total calls of interest, commit point at $commit"
bad=""
nb=$(count_msgs /var/mail/bob)
na=$(count_msgs /var/mail/alice)
n=0
while read -r call; do
	n=$((n + 1))
	# Killed on entering the call: at the commit point (n = commit) the
	# unlink is not made, so none or all may be queued there.
	k=$(head -n "$n" "$T/ref.calls" | grep -cx "$call")
	src=$( (strace -f -qq -u alice -o /dev/null \
	    -e inject="$call":signal=KILL:when="$k" "$DMA" bob alice <"$T/msg" \
	    >/dev/null 2>&1; echo $?) 2>/dev/null)
	age_tmp
	run_dma -q -D >/dev/null 2>&1
	wait_queue_empty 30 >/dev/null
	gb=$(($(count_msgs /var/mail/bob) - nb))
	ga=$(($(count_msgs /var/mail/alice) - na))
	nb=$((nb + gb))
	na=$((na + ga))
	left=$(spool_rest)
	if [ "$src" -eq 0 ]; then
		bad="$bad $call #$k: the submitter was told success;"
	fi
	if [ -n "$left" ]; then
		bad="$bad $call #$k: left [$(echo $left)];"
	elif [ "$gb" -ne "$ga" ]; then
		bad="$bad $call #$k: bob got $gb, alice $ga;"
	elif [ "$n" -lt "$commit" ] && [ "$gb" -ne 0 ]; then
		bad="$bad $call #$k before the commit: delivered;"
	elif [ "$n" -gt "$commit" ] && [ "$gb" -ne 1 ]; then
		bad="$bad $call #$k after the commit: $gb delivered;"
	elif [ "$gb" -gt 1 ]; then
		bad="$bad $call #$k: $gb delivered;"
	fi
done <"$T/ref.calls"
is "killed at each of the $total calls: all recipients queued and delivered once, or none" \
    "$bad" ""
not_ok "no entry was set aside" syslog_has 'malformed queue file'

# ---- 4. power loss: a Q file emptied or cut after the commit ------------
capture run_as alice sh -c "$DMA bob alice <$T/msg"
is "submitted to bob and alice" "$rc:$(qfiles | grep -c .)" "0:2"
for q in $(qfiles); do
	r=$(sed -n 's/^Recipient: //p' "$SPOOL/$q")
	eval "q_$r=$q"
done
truncate -s 0 "$SPOOL/$q_bob"
truncate -s $(($(stat -c %s "$SPOOL/$q_alice") / 2)) "$SPOOL/$q_alice"
capture run_dma -bp
is "-bp shows both entries from the trailer" "$out" "ID	: ${q_bob#Q}
From	: alice@$HOST
To	: bob
--
ID	: ${q_alice#Q}
From	: alice@$HOST
To	: alice"
nb=$(count_msgs /var/mail/bob)
na=$(count_msgs /var/mail/alice)
syslog_mark
run_dma -q -D
ok "delivered" wait_queue_empty 30
is "bob got it once" "$(count_msgs /var/mail/bob)" $((nb + 1))
is "alice got it once" "$(count_msgs /var/mail/alice)" $((na + 1))
is "with the right sender" "$(grep '^From ' /var/mail/bob | tail -n 1 | cut -d' ' -f2) $(grep '^From ' /var/mail/alice | tail -n 1 | cut -d' ' -f2)" "alice@$HOST alice@$HOST"
ok "logged: envelope taken from the trailer" \
    logged "queue file \`/var/spool/dma/${q_bob}' unreadable \\(empty queue file\\): envelope taken from the trailer of \`/var/spool/dma/M${q_bob#Q}'"
is "nothing left" "$(spool_rest)" ""

# ---- 5. neither the Q file nor the trailer: set aside --------------------
capture run_as alice sh -c "$DMA bob <$T/msg"
q=$(qfiles)
: >"$SPOOL/$q"
truncate -s -5 "$SPOOL/M${q#Q}"
capture run_dma -bp
is "-bp: the broken entry is not listed" "$out" "Mail queue is empty"
syslog_mark
run_dma -q -D
ok "set aside as bad_{qid}" test -e "$SPOOL/bad_${q#Q}" -a -e "$SPOOL/bad_${q#Q}.msg"
ok "with a clear log line" logged \
    "malformed queue file \`/var/spool/dma/$q' \\(empty queue file\\) and no envelope in \`/var/spool/dma/M${q#Q}' \\(no envelope trailer\\); setting the entry aside"
rm -f "$SPOOL"/bad_*
