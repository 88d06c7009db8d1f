# local-spool.sh - the spool keeps exactly the committed entries: a
# submission killed at any of its system calls leaves, after a queue run
# past the age rule, nothing but what it committed; leftover temp files
# are removed by name even when the runner cannot open them; a queue run
# never sets aside a Q file of a submission still being written; a
# failing directory fsync after the commit point keeps the entries; the
# flush file is 0640; a queued bounce logs its "new mail" line.
#
# test-timeout: 900

MSG='Subject: spool test

body
'
printf '%s' "$MSG" >"$T/msg"
chmod 0644 "$T/msg"

echo DEFER | dma_conf

# ---- a submission killed at every system call ---------------------------
# A reference run numbers the system calls; run N is killed (strace
# injects SIGKILL) at the N-th one.  strace runs as root and starts dma as
# alice with its setgid bit honoured (-u).
strace -f -qq -u alice -o "$T/ref.st" "$DMA" bob <"$T/msg"
is "reference submission under strace: queued" "$(qfiles | grep -c .)" 1
"$DMA" -q -D
ok "reference submission delivered" wait_queue_empty 30
sed 's/^[0-9]* *//' "$T/ref.st" | grep -E '^[a-z_0-9]+\(' |
    sed 's/(.*//' >"$T/ref.calls"
total=$(wc -l <"$T/ref.calls")
commit=$(grep -nE '^[0-9]* *unlink\("/var/spool/dma/tmp_[0-9a-f]+"\)' \
    "$T/ref.st" | head -n 1 | cut -d: -f1)
ok "reference trace has the commit point (unlink of tmp_{msgid})" test -n "$commit"
# line number in the trace -> ordinal among the numbered calls
commit=$(sed -n "1,${commit}p" "$T/ref.st" | sed 's/^[0-9]* *//' |
    grep -cE '^[a-z_0-9]+\(')
diag "submission: $total system calls, commit point at call $commit"

bad=""
delivered=$(count_msgs /var/mail/bob)
n=0
while read -r call; do
	n=$((n + 1))
	# The exec itself belongs to strace's child, not yet to dma.
	[ "$call" = execve ] && continue
	k=$(head -n "$n" "$T/ref.calls" | grep -cx "$call")
	(strace -f -qq -u alice -o /dev/null \
	    -e inject="$call":signal=KILL:when="$k" "$DMA" bob <"$T/msg" \
	    >/dev/null 2>&1; true) 2>/dev/null
	age_tmp
	"$DMA" -q -D >/dev/null 2>&1
	wait_queue_empty 30 >/dev/null
	left=$(spool_rest)
	now=$(count_msgs /var/mail/bob)
	got=$((now - delivered))
	delivered=$now
	if [ -n "$left" ]; then
		bad="$bad call $n ($call #$k): left [$(echo $left)];"
	elif [ "$n" -lt "$commit" ] && [ "$got" -ne 0 ]; then
		bad="$bad call $n ($call #$k) before the commit: $got delivered;"
	elif [ "$n" -gt "$commit" ] && [ "$got" -ne 1 ]; then
		bad="$bad call $n ($call #$k) after the commit: $got delivered;"
	elif [ "$got" -gt 1 ]; then
		bad="$bad call $n ($call #$k): $got delivered;"
	fi
done <"$T/ref.calls"
is "killed at each of the $total calls: after a queue run the spool holds only committed entries" \
    "$bad" ""
not_ok "no entry was ever set aside" syslog_has 'malformed queue file'

# ---- leftovers the runner cannot open are removed by name ---------------
for f in tmp_AbCdEfGhIj tmp_KlMnOpQrSt tmp_UvWxYzAbCd; do
	: >"$SPOOL/$f"
	chown alice:alice "$SPOOL/$f"
	chmod 0600 "$SPOOL/$f"
done
is_mode "a 0600 temp file of alice" "$SPOOL/tmp_AbCdEfGhIj" 600
touch -d '10 minutes ago' "$SPOOL/tmp_AbCdEfGhIj"
touch -d '2036-01-01' "$SPOOL/tmp_KlMnOpQrSt"
capture "$DMA" -q -D
is "queue run with unreadable leftovers: exit 0" "$rc" 0
ok "an old unreadable temp file is removed" test ! -e "$SPOOL/tmp_AbCdEfGhIj"
ok "a temp file dated in the future is removed" test ! -e "$SPOOL/tmp_KlMnOpQrSt"
ok "a young temp file is left alone" test -e "$SPOOL/tmp_UvWxYzAbCd"
ok "the removal is logged" syslog_has "removed stale temp file \`/var/spool/dma/tmp_AbCdEfGhIj'"
rm -f "$SPOOL/tmp_UvWxYzAbCd"

# ---- files of other modules are left alone ------------------------------
printf 'journal\n' >"$SPOOL/Jbob"
touch -d '10 minutes ago' "$SPOOL/Jbob"
"$DMA" -q -D
ok "a J file (local delivery's journal) is left alone" test -e "$SPOOL/Jbob"
rm -f "$SPOOL/Jbob"

# ---- a Q file being written is never set aside --------------------------
# The runner is stopped right after it found no tmp_{msgid} for the Q file
# it listed, before it opens that Q file (strace: SIGSTOP injected at the
# lstat of tmp_{msgid}; the call completes, then the process stops).
# Meanwhile the entry is delivered and a new submission reuses its queue
# id: tmp_{msgid} and a partial Q file.  The runner must not rename the
# partial file bad_.
# A reference queue run over one entry numbers its newfstatat calls.
printf '%s' "$MSG" | run_as alice "$DMA" bob
q=$(qfiles)
msgid=${q#Q}
msgid=${msgid%%.*}
strace -qq -o "$T/runref.st" -e trace=newfstatat "$DMA" -q -D
ok "reference run delivered" wait_queue_empty 30
k=$(grep -n "\"/var/spool/dma/tmp_$msgid\"" "$T/runref.st" | head -n 1 | cut -d: -f1)
ok "reference run looked for tmp_{msgid} (newfstatat #$k)" test -n "$k"
printf '%s' "$MSG" | run_as alice "$DMA" bob
q=$(qfiles)
msgid=${q#Q}
msgid=${msgid%%.*}
# Stopped means strace says so: a process state of 't' is also any
# syscall-stop of the tracer, before the injected signal.
strace -qq -o "$T/stop.st" -e trace=newfstatat \
    -e inject=newfstatat:signal=STOP:when="$k" "$DMA" -q -D &
stracepid=$!
ok "the runner stops between its tmp_ check and the open of the Q file" \
    wait_until 30 grep -q 'stopped by SIGSTOP' "$T/stop.st"
runner=$(pgrep -x dma | head -n 1)
m="M${q#Q}"
rm "$SPOOL/$q" "$SPOOL/$m"
: >"$SPOOL/tmp_$msgid"
printf 'ID: %s\nSend' "${q#Q}" >"$SPOOL/$q"
ln "$SPOOL/tmp_$msgid" "$SPOOL/$m"
chown alice:mail "$SPOOL/tmp_$msgid" "$SPOOL/$q"
chmod 0660 "$SPOOL/tmp_$msgid" "$SPOOL/$q"
kill -CONT "$runner"
wait "$stracepid"
ok "the partial Q file is still there" test -e "$SPOOL/$q"
is "nothing set aside" "$(ls "$SPOOL" | grep '^bad_')" ""
not_ok "no malformed queue file logged" syslog_has 'malformed queue file'
# The new submission commits: the Q file completes, tmp_ goes.
printf 'ID: %s\nSender: alice@%s\nRecipient: bob\n' "${q#Q}" "$HOST" >"$SPOOL/$q"
printf '%s' "$MSG" >"$SPOOL/$m"
rm "$SPOOL/tmp_$msgid"
before=$(count_msgs /var/mail/bob)
"$DMA" -q -D
ok "the committed entry is delivered" wait_queue_empty 30
is "bob got it" "$(count_msgs /var/mail/bob)" $((before + 1))

# A committed entry whose Q file and message trailer are both malformed
# is still set aside.
printf '%s' "$MSG" | run_as alice "$DMA" bob
q=$(qfiles)
printf 'garbage\n' >"$SPOOL/$q"
truncate -s -3 "$SPOOL/M${q#Q}"
"$DMA" -q -D
ok "a committed malformed Q file is set aside" test -e "$SPOOL/bad_${q#Q}"
ok "with its message file" test -e "$SPOOL/bad_${q#Q}.msg"
rm -f "$SPOOL"/bad_*

# ---- directory fsync failure after the commit point ---------------------
# Two fsyncs: of the temp file (message and envelope trailer), then of
# the directory after the commit point: the 2nd fails.
capture strace -f -qq -u alice -o /dev/null -e inject=fsync:error=EIO:when=2 \
    "$DMA" bob <"$T/msg"
is "fsync after the commit fails: exit 75" "$rc" 75
like "the error says the message is queued" "$err" \
    "message queued as [0-9a-f]+\\.\\*, but can not sync spool directory \`/var/spool/dma': Input/output error; it may not survive a crash\$"
ok "it is logged" syslog_has 'message queued as [0-9a-f]+\.\*, but can not sync spool directory'
is "the entry stays queued" "$(qfiles | grep -c .)" 1
ok "no temp file" test -z "$(ls "$SPOOL" | grep '^tmp_')"
before=$(count_msgs /var/mail/bob)
"$DMA" -q -D
ok "a queue run delivers it" wait_queue_empty 30
is "once" "$(count_msgs /var/mail/bob)" $((before + 1))
# The same with -bs: the last fsync of the session is the one after the
# commit point; the client gets a 451 that says the message is queued.
BS='HELO x\r\nMAIL FROM:<alice@testhost>\r\nRCPT TO:<bob>\r\nDATA\r\nSubject: bs\r\n\r\nbody\r\n.\r\nQUIT\r\n'
printf "$BS" >"$T/bs.in"
strace -f -qq -u alice -o "$T/bs.st" -e trace=fsync "$DMA" -bs <"$T/bs.in" >/dev/null
nf=$(grep -c '^[0-9]* *fsync(' "$T/bs.st")
"$DMA" -q -D
ok "reference -bs session delivered" wait_queue_empty 30
capture strace -f -qq -u alice -o /dev/null -e inject=fsync:error=EIO:when="$nf" \
    "$DMA" -bs <"$T/bs.in"
like "-bs, fsync after the commit fails: 451, queued" "$out" \
    '^451 4\.3\.0 Queued as [0-9a-f]+, but not synced to disk'
is "-bs: the entry stays queued" "$(qfiles | grep -c .)" 1
"$DMA" -q -D
ok "-bs: a queue run delivers it" wait_queue_empty 30
# Before the commit point a failing fsync still rolls everything back.
capture strace -f -qq -u alice -o /dev/null -e inject=fsync:error=EIO:when=1 \
    "$DMA" bob <"$T/msg"
is "fsync before the commit fails: exit 73" "$rc" 73
is "nothing left" "$(spool_rest)" ""

# ---- flush file mode ----------------------------------------------------
rm -f "$SPOOL/flush"
run_as alice "$DMA" -q
is_mode "the flush file is created 0640" "$SPOOL/flush" 640
is_owner "owned by the runner" "$SPOOL/flush" alice:mail

# ---- a queued bounce logs its "new mail" line ---------------------------
printf '%s' "$MSG" | run_as alice "$DMA" bob
q=$(qfiles)
sed 's/^Recipient: .*/Recipient: nosuchuser/' "$SPOOL/$q" >"$T/q.new"
cat "$T/q.new" >"$SPOOL/$q"
syslog_mark
"$DMA" -q -D
ok "bounced" wait_queue_empty 30
ok "the bounce is logged as new mail from the runner with the null sender" \
    logged '^mail\.info dma\[[0-9]+\]: [0-9a-f.]+: new mail from user=root uid=0 envelope_from=<>$'
