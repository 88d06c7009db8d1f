# local-integrity.sh - a mailbox holds only whole messages, each once,
# whatever stops a delivery: SIGKILL at every write, fsync, truncate, link
# and unlink of a delivery; queue runs killed at random moments; a write
# past the file size limit.  Lock files that no user can use to hold
# another user's mailbox, lock files that are honoured, and a stopped
# delivery.
#
# test-timeout: 600

CHECK="/usr/bin/python3 $SRC/test/integration/mboxcheck.py"
BOOT=$(cat /proc/sys/kernel/random/boot_id)
EXPECT="$T/expect"
: >"$EXPECT"

# gen_msg TAG LINES: a test message mboxcheck.py can verify
gen_msg() {
	local i
	printf 'Subject: tag %s\n\nbegin %s\n' "$1" "$1"
	for ((i = 1; i <= $2; i++)); do
		printf 'line %d of %s\n' "$i" "$1"
	done
	printf 'end %s\n' "$1"
}

# queue TAG LINES: queue a message from alice to bob without delivering it
queue() {
	echo DEFER | dma_conf
	gen_msg "$1" "$2" | send_as alice bob
	: | dma_conf
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

# ---- SIGKILL at every operation of a delivery ----------------------------
queue a1 10
queue a2 10
"$DMA" -q -D
ok "two messages delivered first" mbox_ok

# Messages of ~230 KiB: several write(2) calls into the mbox.
for sc in write pwrite64 fdatasync fsync ftruncate unlinkat linkat renameat; do
	n=1
	good=1
	while [ "$n" -le 40 ]; do
		queue "$sc-$n" 12000
		syslog_mark
		strace -f -qq -o "$T/strace" -e trace="$sc" \
		    -e inject="$sc":signal=KILL:when="$n" "$DMA" -q -D >/dev/null 2>&1
		killed=0
		grep -q 'killed by SIGKILL' "$T/strace" && killed=1
		kill_dma
		"$DMA" -q -D
		if ! wait_queue_empty 30 || ! mbox_ok || logged 'can not lock'; then
			good=0
			diag "after SIGKILL at $sc call $n:"
			$CHECK /var/mail/bob >/dev/null
			break
		fi
		[ "$killed" = 0 ] && break
		n=$((n + 1))
	done
	if [ "$good" = 1 ] && [ "$killed" = 0 ]; then
		_pass "SIGKILL at each of the $((n - 1)) $sc calls of a delivery: every message once and whole, no lock waited for"
	elif [ "$good" = 1 ]; then
		_pass "SIGKILL at the first 40 $sc calls of a delivery: every message once and whole, no lock waited for"
	else
		_fail "SIGKILL at $sc call $n of a delivery: every message once and whole, no lock waited for"
		_after_fail
	fi
done
ok "an interrupted append was cut back" syslog_has 'removed [0-9]+ bytes of the interrupted delivery of'
ok "a completed append was not repeated" syslog_has 'was already delivered to'
ok "a dead delivery's lock file was removed at once" \
    syslog_has 'removed stale lock file /var/mail/bob.lock \(left by a dma process that is gone\)'

# ---- queue runs killed at random moments ---------------------------------
bad=0
for ((r = 1; r <= 20; r++)); do
	echo DEFER | dma_conf
	for ((i = 1; i <= 40; i++)); do
		gen_msg "r$r-$i" 20 | send_as alice bob
		echo "r$r-$i" >>"$EXPECT"
	done
	: | dma_conf
	syslog_mark
	"$DMA" -q &
	sleep "0.$((RANDOM % 6))$((RANDOM % 10))"
	kill_dma
	wait 2>/dev/null
	"$DMA" -q -D
	if ! wait_queue_empty 60 || ! mbox_ok >"$T/why" 2>&1 || logged 'can not lock'; then
		bad=$r
		_diag_file "$T/why"
		break
	fi
done
is "20 rounds of 40 messages, queue runs killed at random: every message once and whole" "$bad" 0

# ---- a write past the file size limit --------------------------------------
mbox_before=$(cksum </var/mail/bob)
size=$(stat -c %s /var/mail/bob)
queue big 12000
capture run_as alice prlimit --fsize=$((size + 100000)) "$DMA" -q -D
is "RLIMIT_FSIZE: the mbox is unchanged" "$(cksum </var/mail/bob)" "$mbox_before"
ok "RLIMIT_FSIZE: no lock file left" test ! -e /var/mail/bob.lock
ok "RLIMIT_FSIZE: the message stays queued" test -n "$(qfiles)"
ok "RLIMIT_FSIZE: logged as a write error" syslog_has 'local delivery failed: write error: File too large'
"$DMA" -q -D
ok "RLIMIT_FSIZE: delivered whole by the next run" mbox_ok

# ---- lock files no user can hold a mailbox with -------------------------
# hostage DESC OWNER CONTENT MTIME: a bob.lock made so; root's queue run
# must deliver at once and say why it removed the lock.
hostage() {
	local desc=$1 owner=$2 content=$3 mtime=$4 tag
	tag="hostage-$((++nhost))"
	printf '%s' "$content" >/var/mail/bob.lock
	chown "$owner":mail /var/mail/bob.lock
	chmod 0660 /var/mail/bob.lock
	touch -d "$mtime" /var/mail/bob.lock
	queue "$tag" 5
	syslog_mark
	"$DMA" -q -D
	ok "$desc: delivered at once" mbox_ok
	ok "$desc: lock removed" test ! -e /var/mail/bob.lock
	ok "$desc: logged" logged "removed stale lock file /var/mail/bob.lock"
}
nhost=0
hostage "alice's lock with a forged live pid, time in 2036" alice "dma 1 $BOOT
" "2036-01-01"
hostage "alice's lock rewritten to a bare pid" alice "1
" "now"
hostage "alice's empty lock" alice "" "now"
hostage "bob's own empty lock, time in the future" bob "" "2036-01-01"
hostage "root's lock from another boot" root "dma 12345 00000000-0000-0000-0000-000000000000
" "now"
hostage "bob's lock, 10 minutes old" bob "" "10 minutes ago"

# A mail reader's fresh lock is honoured: nothing is written while it exists.
: >/var/mail/bob.lock
chown bob:mail /var/mail/bob.lock
queue honoured 5
"$DMA" -q -D &
qpid=$!
sleep 2
ok "a mail reader's fresh lock: delivery waits" test -n "$(qfiles)"
ok "a mail reader's fresh lock: mbox untouched meanwhile" \
    sh -c "! grep -q '^begin honoured' /var/mail/bob"
rm -f /var/mail/bob.lock
wait "$qpid"
ok "a mail reader's fresh lock: delivered once it is gone" mbox_ok

# Something that is not a lock is never removed.
printf 'From x Thu Jan  1 00:00:00 2026\n\nkeep\n\n' >/var/mail/bob.lock
chown alice:mail /var/mail/bob.lock
sum=$(cksum </var/mail/bob.lock)
queue notalock 5
"$DMA" -q -D &
qpid=$!
sleep 2
is "a mailbox-like bob.lock is not removed" "$(cksum </var/mail/bob.lock)" "$sum"
ok "and nothing is written while it is there" test -n "$(qfiles)"
kill_dma
wait "$qpid" 2>/dev/null
ok "logged: not a lock file" syslog_has '/var/mail/bob.lock is not a lock file'
rm -f /var/mail/bob.lock
"$DMA" -q -D
ok "delivered after it is gone" mbox_ok

# Many deliveries racing for one stale lock: one removes it, all deliver.
printf 'dma 4242 00000000-0000-0000-0000-000000000000\n' >/var/mail/bob.lock
chown alice:mail /var/mail/bob.lock
echo DEFER | dma_conf
for ((i = 1; i <= 12; i++)); do
	gen_msg "race-$i" 200 | send_as alice bob
	echo "race-$i" >>"$EXPECT"
done
: | dma_conf
syslog_mark
for ((i = 1; i <= 4; i++)); do
	"$DMA" -q &
done
wait
ok "racing runs: all delivered" wait_queue_empty 60
ok "racing runs: every message once and whole" mbox_ok
syslog_sync
is "racing runs: the stale lock was removed once" \
    "$(tail -n +"$((SYSLOG_MARK + 1))" "$T/syslog" | grep -c 'removed stale lock file')" 1

# ---- a stopped delivery holds the mailbox only for itself -------------------
# A delivery stopped (SIGSTOP) while it holds bob's mailbox: the other
# deliveries to bob give up at once instead of waiting out the lock
# timeout, and other mailboxes are not concerned.
# pgrep may see a process in a syscall-stop of the tracer ('t') before
# the injected SIGSTOP; the tracer's death then lets it run on.  So try
# again (at most 5 times, with a new message) until one is left stopped.
tries=0
while [ "$tries" -lt 5 ]; do
	tries=$((tries + 1))
	queue "held-$tries" 5
	strace -f -qq -o /dev/null -e trace=fdatasync \
	    -e inject=fdatasync:signal=STOP "$DMA" -q -D >/dev/null 2>&1 &
	spid=$!
	wait_until 20 pgrep -r T,t -x dma
	# When its tracer dies, a tracee in group-stop stays stopped (ptrace(2)).
	kill -KILL "$spid"
	wait "$spid" 2>/dev/null
	wait_until 5 pgrep -r T -x dma && break
	kill_dma
done
ok "a delivery is stopped holding bob's mailbox" \
    wait_until 20 pgrep -r T -x dma
queue stopped-2 5
printf 'Subject: x\n\nfor alice\n' | send_as bob alice
syslog_mark
"$DMA" -q -D
ok "the next delivery to bob says who holds the lock" \
    logged 'can not lock ./var/mail/bob.: held by stopped process [0-9]+'
ok "and leaves its entry queued" grep -rqs '^Recipient: bob' "$SPOOL"
ok "mail to alice is not held up" wait_until 20 grep -q "^for alice$" /var/mail/alice
kill_dma
"$DMA" -q -D
ok "once the stopped delivery is gone, both arrive, once and whole" mbox_ok

# ---- names that collide with lock files ----------------------------------
useradd -M -N -g mail 'carl.lock' 2>/dev/null || useradd -M 'carl.lock'
capture run_as alice "$DMA" -D carl.lock </dev/null
ok "user carl.lock: no mailbox made" test ! -e /var/mail/carl.lock
ok "user carl.lock: refused with the reason" \
    syslog_has "no mailbox for user .carl\.lock.: the name collides with lock files"
capture "$MBOXCREATE" carl.lock
is "dma-mbox-create carl.lock: exit 65" "$rc" 65

# ---- dma-mbox-create ----------------------------------------------------
# A user lookup that fails is temporary: an /etc whose passwd is a
# directory makes getpwnam fail with EISDIR (not "no such user").
mkdir -p "$T/etc/passwd"
cp /etc/group "$T/etc/"
printf 'passwd: files\ngroup: files\n' >"$T/etc/nsswitch.conf"
capture unshare -m sh -c "mount --bind '$T/etc' /etc && exec '$MBOXCREATE' bob"
is "dma-mbox-create: failed user lookup is temporary (75)" "$rc" 75
# Temporaries of killed processes are removed once old.
: >/var/mail/.dma-mbox-create.77
: >/var/mail/.dma-stale.78
: >/var/mail/.dma-mbox-create.79
touch -d '1 hour ago' /var/mail/.dma-mbox-create.77 /var/mail/.dma-stale.78
useradd -M dave
printf 'Subject: x\n\nx\n' | send_as bob dave
ok "helper leftovers: dave's mailbox made" wait_queue_empty 30
ok "old leftovers removed" test ! -e /var/mail/.dma-mbox-create.77 -a ! -e /var/mail/.dma-stale.78
ok "a young one is left alone" test -e /var/mail/.dma-mbox-create.79
