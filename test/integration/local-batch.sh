# local-batch.sh - batched local delivery: the due entries of one mailbox
# are appended under one lock with one journal sync and one mailbox
# fsync per batch, each message once and whole; a message that fails on
# its own (corrupted queue file, too large for the file size limit) does
# not fail the others; a mailbox that cannot be locked or synced fails
# the whole batch and changes nothing; an entry brought back after its
# removal is not appended again; a journal written before batches
# existed is still read; a batch killed at any write, sync, truncate,
# rename or unlink is repaired by the next run.
#
# The queue runs are `dma -q -D'; the outcomes of single entries come from
# test/unit/lfeed, which drives local_deliver_feed() as one queue-runner
# worker for one mailbox and prints what each entry got.
#
# test-timeout: 900

CHECK="/usr/bin/python3 $SRC/test/integration/mboxcheck.py"
LFEED=$SRC/test/unit/lfeed
EXPECT="$T/expect"
: >"$EXPECT"
if [ ! -x "$LFEED" ]; then
	skip "local delivery driver available" "test/unit/lfeed not built (make test/unit/lfeed)"
	exit 0
fi

# gen_msg TAG LINES: a test message mboxcheck.py can verify
gen_msg() {
	local i
	printf 'Subject: tag %s\n\nbegin %s\n' "$1" "$1"
	for ((i = 1; i <= $2; i++)); do
		printf 'line %d of %s\n' "$i" "$1"
	done
	printf 'end %s\n' "$1"
}

# queue TAG LINES: queue a message from alice to bob (DEFER is set)
queue() {
	gen_msg "$1" "$2" | send_as alice bob
	echo "$1" >>"$EXPECT"
}

# mbox_ok: bob's mbox is well formed and holds each expected tag once
mbox_ok() {
	local got
	got=$($CHECK /var/mail/bob) || return 1
	[ "$(printf '%s\n' "$got" | sort)" = "$(sort "$EXPECT")" ] && return 0
	echo "tags: want / got"
	diff <(sort "$EXPECT") <(printf '%s\n' "$got" | sort)
	return 1
}

# deliver: one worker's delivery of bob's entries; its report in $T/out
deliver() {
	"$LFEED" bob >"$T/out" 2>&1
}

echo DEFER | dma_conf

# ---- 200 messages, few syncs, few processes ------------------------------
for ((i = 1; i <= 200; i++)); do
	queue "m$i" 3
done
is "200 messages queued" "$(qfiles | grep -c .)" 200
strace -f -qq -y -o "$T/st" -e trace=fsync,fdatasync,fork,vfork,clone,clone3 \
    "$DMA" -q -D >"$T/out" 2>&1
ok "200 messages: all delivered, once and whole" mbox_ok
is "200 messages: the queue is empty" "$(qfiles)" ""
# (dma-mbox-create syncs the new mailbox once, the queue runner the spool
# directory after its removals.)
syncs=$(grep -cE '^[0-9]+ +f(data)?sync\([0-9]+</var/(mail/bob|spool/dma/Jbob)>' "$T/st")
all=$(grep -cE '^[0-9]+ +f(data)?sync\(' "$T/st")
grep -E '^[0-9]+ +f(data)?sync\(' "$T/st" | sed 's/^[0-9]* *//; s/([0-9]*</(</' |
    sort | uniq -c >"$T/syncs"
_diag_file "$T/syncs"
diag "fsync/fdatasync for 200 messages: $syncs of the mailbox and its journal, $all in all"
ok "200 messages: at most 2 syncs of the mailbox and journal per batch of 64 (<= 8)" \
    test "$syncs" -le 8
ok "200 messages: more than one batch" test "$syncs" -ge 4
ok "200 messages: fsync and fdatasync calls in all well below one per message (<= 20)" \
    test "$all" -le 20
procs=$(grep -cE '^[0-9]+ +(fork|vfork|clone|clone3)\(' "$T/st")
diag "processes started: $procs"
ok "200 messages: at most 8 processes (a worker per mailbox, dma-mbox-create)" \
    test "$procs" -le 8
is "200 messages: journal records of all appends are done" \
    "$(grep -c '^A ' "$SPOOL/Jbob")" 0

# The driver: a second delivery with the mailbox present starts no process.
queue again 3
strace -f -qq -o "$T/st" -e trace=fork,vfork,clone,clone3 "$LFEED" bob >"$T/out" 2>&1
is "mailbox present: no process started" "$(grep -cE '^[0-9]+ +(fork|vfork|clone|clone3)\(' "$T/st")" 0
ok "mailbox present: delivered" mbox_ok
is "mailbox present: reported delivered" "$(grep -c ' OK 2\.0\.0 delivered to mailbox' "$T/out")" 1

# ---- constant memory: a 100 MiB message that is one line -----------------
# The delivering run's peak resident size (GNU time: dma and the worker
# it reaps) grows by less than 4 MiB from a small message to this one.
printf 'Subject: small\n\nsmall\n' | send_as bob alice
/usr/bin/time -f %M -o "$T/rss.small" "$DMA" -q -D >/dev/null 2>&1
{ printf 'Subject: big\n\n'; head -c $((100 << 20)) /dev/zero | tr '\0' x; echo; } |
    send_as bob alice
/usr/bin/time -f %M -o "$T/rss.big" "$DMA" -q -D >/dev/null 2>&1
small=$(tail -n 1 "$T/rss.small")
big=$(tail -n 1 "$T/rss.big")
diag "peak RSS of the delivering run: $small KiB for a small message, $big KiB for 100 MiB in one line"
is "100 MiB line: delivered" "$(qfiles)" ""
is "100 MiB line: the mailbox ends with it" "$(tail -c 3 /var/mail/alice | od -An -c | tr -d ' ')" 'x\n\n'
ok "100 MiB line: peak RSS grew by less than 4 MiB" test $((big - small)) -lt 4096
rm -f /var/mail/alice

# ---- a message that fails on its own ----------------------------------------
queue c1 3
gen_msg c2 3 | send_as alice bob
queue c3 3
m=$(grep -l '^begin c2$' "$SPOOL"/M* 2>/dev/null || true)
ok "corrupted: the M file of c2 found" test -n "$m"
# The message's last newline becomes an X: a corrupted queue file.
python3 -c '
import sys
p = sys.argv[1]
d = open(p, "rb").read()
i = d.index(b"\nend c2\n") + len(b"\nend c2")
open(p, "r+b").write(d[:i] + b"X" + d[i + 1:])
' "$m"
deliver
like "corrupted: c2 fails for good" "$(cat "$T/out")" ' PERMFAIL 5\.3\.0 corrupted queue file$'
is "corrupted: the others are delivered" "$(grep -c ' OK ' "$T/out")" 2
ok "corrupted: the mailbox holds only whole messages" mbox_ok
rm -f "$SPOOL"/Q* "$SPOOL"/M*

# A message past the file size limit: only it is cut back and kept.
size=$(stat -c %s /var/mail/bob)
queue f1 3
gen_msg f2 12000 | send_as alice bob
queue f3 3
prlimit --fsize=$((size + 100000)) "$LFEED" bob >"$T/out" 2>&1
like "file size limit: the large one fails temporarily" "$(cat "$T/out")" ' TEMPFAIL 4\.2\.2 write error: File too large$'
is "file size limit: the two others are delivered" "$(grep -c ' OK ' "$T/out")" 2
ok "file size limit: the mailbox holds only whole messages" mbox_ok
is "file size limit: the large one stays queued" "$(qfiles | grep -c .)" 1
echo f2 >>"$EXPECT"
deliver
ok "file size limit: delivered by the next run" mbox_ok
is "file size limit: the queue is empty" "$(qfiles)" ""

# ---- a mailbox that fails the whole batch ------------------------------------
# The fsync of the mailbox fails: every append of the batch is cut back.
sum=$(cksum </var/mail/bob)
queue s1 3
queue s2 3
queue s3 3
syslog_mark
strace -f -qq -o /dev/null -e trace=fsync -e inject=fsync:error=EIO "$LFEED" bob >"$T/out" 2>&1
is "fsync fails: all three fail temporarily" "$(grep -c ' TEMPFAIL 4\.3\.0 can not sync' "$T/out")" 3
is "fsync fails: the mailbox is unchanged" "$(cksum </var/mail/bob)" "$sum"
is "fsync fails: all three stay queued" "$(qfiles | grep -c .)" 3
deliver
ok "fsync fails: delivered by the next run" mbox_ok

# A mailbox held by a stopped process: the batch fails at once, once.
python3 - <<'PY' &
import fcntl, os, signal
f = open('/var/mail/bob', 'r+')
fcntl.flock(f, fcntl.LOCK_EX)
fcntl.lockf(f, fcntl.LOCK_EX)
os.kill(os.getpid(), signal.SIGSTOP)
PY
hpid=$!
wait_until 10 sh -c "grep -q '^State:.*T' /proc/$hpid/status"
queue h1 3
queue h2 3
queue h3 3
syslog_mark
deliver
is "stopped holder: all three deferred" "$(grep -c ' TEMPFAIL 4\.2\.0 can not lock .*held by stopped process' "$T/out")" 3
syslog_sync
is "stopped holder: the lock was tried once for the batch" \
    "$(tail -n +"$((SYSLOG_MARK + 1))" "$T/syslog" | grep -c 'can not lock')" 1
kill -KILL "$hpid"
wait "$hpid" 2>/dev/null
deliver
ok "stopped holder gone: delivered" mbox_ok

# ---- an entry that a power loss brings back --------------------------------
# The runner does not sync the spool after each removal: an entry can
# come back after its delivery was done (its record says 'D').  Hard
# links keep its files, inode and time as they were.
queue back 3
q=$(qfiles | head -n 1)
mkdir "$SPOOL/keep"
ln "$SPOOL/$q" "$SPOOL/keep/q"
ln "$SPOOL/M${q#Q}" "$SPOOL/keep/m"
"$DMA" -q -D
ok "brought back: first delivered" mbox_ok
ln "$SPOOL/keep/q" "$SPOOL/$q"
ln "$SPOOL/keep/m" "$SPOOL/M${q#Q}"
rm -rf "$SPOOL/keep"
syslog_mark
"$DMA" -q -D
ok "brought back: known as delivered" logged 'was already delivered to ./var/mail/bob.'
ok "brought back: not appended again" mbox_ok
is "brought back: removed" "$(qfiles)" ""

# ---- a journal written before batches existed -----------------------------
# old_record STATE SEQ START END QFILE: an 11-field record (no batch
# field) for the entry whose Q file is QFILE, as the earlier format had.
old_record() {
	local qid mf line
	qid=$(sed -n 's/^ID: //p' "$5")
	mf=$SPOOL/M$(basename "$5" | sed 's/^Q//')
	line=$(printf '%s %s %s %s %s 0 %s %s %s %s' "$1" "$2" "$(date +%s)" \
	    "$(stat -c %i /var/mail/bob)" "$3" "$4" "$qid" "$(stat -c %i "$mf")" \
	    "$(stat -c %.9Y "$mf")")
	printf '%-255s\n' "$line"
}
queue old1 3
q=$(qfiles | head -n 1)
size=$(stat -c %s /var/mail/bob)
# An append of old1 that completed (its process died before the queue
# entry went): found by its record, not appended again.
sed -i '/^old1$/d' "$EXPECT"
{ old_record A 7 0 "$size" "$SPOOL/$q"; } >"$SPOOL/Jbob"
syslog_mark
deliver
like "old journal: the completed append is recognised" "$(cat "$T/out")" ' OK 2\.0\.0 '
ok "old journal: logged as already delivered" logged 'was already delivered to ./var/mail/bob.'
ok "old journal: not appended again" mbox_ok
# An append that an old-format record shows interrupted is cut back.
queue old2 3
q=$(qfiles | head -n 1)
size=$(stat -c %s /var/mail/bob)
old_record A 9 "$size" $((size + 5000)) "$SPOOL/$q" >"$SPOOL/Jbob"
printf 'From alice Thu Jan  1 00:00:00 2026\nSubject: tag half\n\nbegin half\n' >>/var/mail/bob
syslog_mark
deliver
ok "old journal: the interrupted append was cut back" \
    logged 'removed [0-9]+ bytes of the interrupted delivery of'
ok "old journal: then delivered, once and whole" mbox_ok
like "old journal: rewritten in the new format" "$(head -c 255 "$SPOOL/Jbob")" ' [0-9]+ +$'

# ---- SIGKILL at every operation of a batch of three --------------------------
# A queue run killed (strace counts the calls of each process: the worker
# of bob's mailbox dies at its N-th call), then a normal `dma -q'.
# Messages of ~230 KiB: several write(2) calls each.
for sc in write pwrite64 fdatasync fsync ftruncate openat unlinkat linkat renameat; do
	n=1
	good=1
	killed=0
	while [ "$n" -le 60 ]; do
		queue "$sc-$n-a" 12000
		queue "$sc-$n-b" 12000
		queue "$sc-$n-c" 12000
		(strace -f -qq -o "$T/strace" -e trace="$sc" \
		    -e inject="$sc":signal=KILL:when="$n" "$DMA" -q -D \
		    >/dev/null 2>&1; true) 2>/dev/null
		killed=0
		grep -q 'killed by SIGKILL' "$T/strace" && killed=1
		kill_dma
		"$DMA" -q -D >/dev/null 2>&1
		if [ -n "$(qfiles)" ] || ! mbox_ok; then
			good=0
			diag "after SIGKILL at $sc call $n:"
			$CHECK /var/mail/bob >/dev/null
			break
		fi
		[ "$killed" = 0 ] && break
		n=$((n + 1))
	done
	if [ "$good" = 1 ] && [ "$killed" = 0 ]; then
		_pass "SIGKILL at each of the $((n - 1)) $sc calls of a batch: every message once and whole, queue empty"
	elif [ "$good" = 1 ]; then
		_pass "SIGKILL at the first 60 $sc calls of a batch: every message once and whole, queue empty"
	else
		_fail "SIGKILL at $sc call $n of a batch: every message once and whole, queue empty"
		_after_fail
	fi
done
# A batch killed at write N, then the run that repairs it killed at its
# truncation or at the fsync after it: the run after that still repairs.
for rep in ftruncate fsync; do
	n=1
	good=1
	while [ "$n" -le 30 ]; do
		queue "rep-$rep-$n-a" 12000
		queue "rep-$rep-$n-b" 12000
		queue "rep-$rep-$n-c" 12000
		(strace -f -qq -o "$T/strace" -e trace=write \
		    -e inject=write:signal=KILL:when="$n" "$DMA" -q -D \
		    >/dev/null 2>&1; true) 2>/dev/null
		grep -q 'killed by SIGKILL' "$T/strace" || break
		kill_dma
		(strace -f -qq -o /dev/null -e trace="$rep" \
		    -e inject="$rep":signal=KILL:when=1 "$DMA" -q -D \
		    >/dev/null 2>&1; true) 2>/dev/null
		kill_dma
		"$DMA" -q -D >/dev/null 2>&1
		if [ -n "$(qfiles)" ] || ! mbox_ok; then
			good=0
			diag "after SIGKILL at write $n and at the repair's $rep:"
			break
		fi
		n=$((n + 1))
	done
	ok "SIGKILL at write 1..$((n - 1)) of a batch, then at the repair's first $rep: every message once and whole" \
	    test "$good" = 1
done
ok "an interrupted batch was cut back" syslog_has 'removed [0-9]+ bytes of the interrupted delivery of'
ok "completed appends of a killed batch were not repeated" syslog_has 'was already delivered to'
