# runq.sh - the queue runner: a run holds only what its workers are
# delivering, so it copes with any queue size under a low descriptor
# limit, a stopped user run does not hold root's run up, a run that can
# not fork gives up cleanly; a worker killed by a signal does not exempt
# its entry from the 5-day bounce; MAXWORKERS=1 still serves every
# destination; a smarthost that refuses connections beyond its
# concurrency limit (421 at the greeting) gets the whole queue over the
# sessions it accepts, in the same run; bad MAXWORKERS, MAXSESSIONS and
# SESSIONMESSAGES values are configuration errors.
#
# test-timeout: 1200

printf 'postmaster: root\n' | aliases_file

# msg N: a small message whose Subject names N
msg() {
	printf 'Subject: runq %s\n\nbody of %s\n' "$1" "$1"
}

# locked_qfiles: the Q files somebody holds a lock on, one per line
locked_qfiles() {
	/usr/bin/python3 -c '
import fcntl, os, sys
for n in sorted(os.listdir(sys.argv[1])):
    if not n.startswith("Q"):
        continue
    try:
        fd = os.open(os.path.join(sys.argv[1], n), os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        continue
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(n)
    os.close(fd)
' "$SPOOL" | sort
}

# server_rcpts NAME: the recipients of every message NAME accepted, one
# per line, sorted (a recipient accepted twice is listed twice)
server_rcpts() {
	/usr/bin/python3 -c '
import glob, json, sys
for f in glob.glob(sys.argv[1] + "/msg-*.json"):
    with open(f) as fh:
        j = json.load(fh)
    if j["accepted"]:
        for r in j["rcpt_tos"]:
            print(r)
' "$T/smtpd-$1" | sort
}

# want_rcpts N: r1@example.org .. rN@example.org, sorted like server_rcpts
want_rcpts() {
	seq "$1" | sed 's/.*/r&@example.org/' | sort
}

# reset_mail: empty mailboxes and spool between cases
reset_mail() {
	kill_dma
	rm -f "$SPOOL"/[QM]* /var/mail/alice /var/mail/bob /var/mail/root
}

# ---- configuration errors -------------------------------------------------
for kv in MAXWORKERS:256 MAXSESSIONS:64 SESSIONMESSAGES:100000; do
	key=${kv%%:*} max=${kv#*:}
	for v in 0 -1 four "$((max + 1))" 99999999999999999999; do
		printf '%s %s\n' "$key" "$v" | dma_conf
		capture "$DMA" -q -D
		is "$key $v: exit 78 (EX_CONFIG)" "$rc" 78
		like "$key $v: the error names the range" "$err" \
		    "$key must be a number from 1 to $max"
	done
	printf '%s %s\n' "$key" "$max" | dma_conf
	capture "$DMA" -q -D
	is "$key $max: accepted" "$rc" 0
done

# ---- MAXWORKERS 1: every destination is served, one at a time --------------
# Three destinations (the smarthost, alice's and bob's mailboxes), five
# messages each; the run is traced to count its live children.
smtpd_start one || exit 1
smtpd_conf one DEFER 'MAXWORKERS 1'
for i in 1 2 3 4 5; do
	msg "w$i" | "$DMA" "r$i@example.org"
	msg "w$i" | "$DMA" alice
	msg "w$i" | "$DMA" bob
done
is "MAXWORKERS 1: 15 entries queued" "$(qfiles | wc -l)" 15
capture strace -f -q -e trace=process -o "$T/w1.st" "$DMA" -q -D
is "MAXWORKERS 1: the run exits 0" "$rc" 0
ok "MAXWORKERS 1: the queue is empty after the run" test -z "$(qfiles)"
is "MAXWORKERS 1: the smarthost got its 5 messages" "$(server_rcpts one)" "$(want_rcpts 5)"
is "MAXWORKERS 1: alice got her 5" "$(count_msgs /var/mail/alice)" 5
is "MAXWORKERS 1: bob got his 5" "$(count_msgs /var/mail/bob)" 5
# The most children of the runner alive at one time: a child lives from
# the line where its pid first shows (its clone's result or its own
# call) to its "+++ exited/killed" line.
maxlive=$(awk '
NR == 1 { main = $1 }
{
	pid = $1
	if (!(pid in first))
		first[pid] = NR
	if (pid == main && $0 ~ /(clone|clone3|fork|vfork)\(|resumed>/ &&
	    match($0, /= [0-9]+$/)) {
		c = substr($0, RSTART + 2) + 0
		child[c] = 1
		if (!(c in first) || first[c] > NR)
			first[c] = NR
	}
	if ($0 ~ /\+\+\+ (exited|killed)/)
		last[pid] = NR
}
END {
	n = 0
	for (c in child) {
		ev[n++] = first[c] " 1"
		ev[n++] = (c in last ? last[c] : NR) " -1"
	}
	live = 0; best = 0
	# sort events by line, an end before a start on the same line
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++) {
			split(ev[i], a, " "); split(ev[j], b, " ")
			if (b[1] + 0 < a[1] + 0 || (b[1] == a[1] && b[2] < a[2])) {
				t = ev[i]; ev[i] = ev[j]; ev[j] = t
			}
		}
	for (i = 0; i < n; i++) {
		split(ev[i], a, " ")
		live += a[2]
		if (live > best)
			best = live
	}
	print best
}' "$T/w1.st")
diag "MAXWORKERS 1: at most $maxlive children of the runner alive at once"
is "MAXWORKERS 1: never more than one worker at a time" "$maxlive" 1
smtpd_stop one
reset_mail

# ---- 421 for concurrency at the greeting ------------------------------------
# The server accepts 2 sessions at a time and refuses more with 421; the
# runner may open 4 (MAXSESSIONS 4).  All 40 messages go in this one run,
# none is deferred, whichever of the runner's sessions the server
# refuses.  Second round: another client already holds one of the two
# slots, so all but one of the runner's sessions are refused.
# conc_round NAME HOLD: one run against server NAME; with HOLD=1 an idle
# connection of the test holds a slot meanwhile
conc_round() {
	local name=$1 hold=$2 what f refused=0
	what="421 ($name)"
	smtpd_start "$name" --max-sessions 2 || exit 1
	smtpd_conf "$name" DEFER 'MAXSESSIONS 4'
	for i in $(seq 40); do
		msg "c$i" | "$DMA" "r$i@example.org"
	done
	is "$what: 40 entries queued" "$(qfiles | wc -l)" 40
	if [ "$hold" = 1 ]; then
		exec 7<>"/dev/tcp/127.0.0.1/$(smtpd_port "$name")"
		wait_until 10 test -e "$T/smtpd-$name/session-0001.json"
	fi
	syslog_mark
	capture "$DMA" -q -D
	[ "$hold" = 1 ] && exec 7>&-
	is "$what: the run exits 0" "$rc" 0
	ok "$what: the queue is empty after the one run" test -z "$(qfiles)"
	is "$what: every message delivered exactly once" "$(server_rcpts "$name")" \
	    "$(want_rcpts 40)"
	not_ok "$what: no entry deferred" logged '<[^>]*> delivery deferred'
	not_ok "$what: no delivery deferred line at all (a refused session hands its message back)" \
	    logged 'delivery deferred'
	for f in "$T/smtpd-$name"/session-*.json; do
		[ "$(smtpd_json "$f" 'j.get("refused")')" = true ] && refused=$((refused + 1))
	done
	diag "$what: $(smtpd_sessions "$name") connections, $refused refused;" \
	    "$(tail -n +"$((SYSLOG_MARK + 1))" "$T/syslog" | grep -c 'refused one more session')" \
	    "times the runner lowered its limit"
	smtpd_stop "$name"
	reset_mail
}
conc_round conc 0
conc_round conchold 1

# ---- a worker killed by a signal ------------------------------------------
# The server never greets its first session; the test kills the worker
# that waits there.
# kill_worker SERVER: run dma -q -D, SIGKILL its children once SERVER has
# a session, wait for the run; sets $rc
kill_worker() {
	local runner c
	"$DMA" -q -D &
	runner=$!
	if wait_until 30 sh -c "[ \$(ls $T/smtpd-$1 | grep -c '^session-') -gt 0 ] ||
	    ! kill -0 $runner"; then
		for c in $(pgrep -P "$runner"); do
			kill -KILL "$c"
		done
	fi
	wait "$runner"
	rc=$?
}
# An entry older than 5 days: bounced by the run.
smtpd_start hang1 --fault-once --fault greeting=stall || exit 1
smtpd_conf hang1 DEFER
msg old | send_as alice far@example.org
touch -d '6 days ago' "$SPOOL"/Q*
syslog_mark
kill_worker hang1
is "killed worker, 6 days old entry: the run exits 0" "$rc" 0
ok "killed worker, 6 days old entry: the queue is empty after the run" \
    wait_queue_empty 30
is "killed worker, 6 days old entry: alice got a bounce" \
    "$(count_msgs /var/mail/alice)" 1
b=$(cat /var/mail/alice 2>/dev/null)
like "killed worker: the bounce names the recipient" "$b" '<far@example\.org>'
like "killed worker: the bounce says why" "$b" '^Could not deliver for the last [0-9]+ seconds'
is "killed worker: the server got nothing" "$(smtpd_messages hang1)" 0
smtpd_stop hang1
reset_mail
# A fresh entry: still queued, delivered by the next run.
smtpd_start hang2 --fault-once --fault greeting=stall || exit 1
smtpd_conf hang2 DEFER
msg fresh | send_as alice r1@example.org
kill_worker hang2
is "killed worker, fresh entry: the run exits 0" "$rc" 0
is "killed worker, fresh entry: still queued" "$(qfiles | wc -l)" 1
is "killed worker, fresh entry: no bounce" "$(count_msgs /var/mail/alice)" 0
capture "$DMA" -q -D
ok "killed worker, fresh entry: the next run delivers it" test -z "$(qfiles)"
is "killed worker, fresh entry: the server got it once" "$(server_rcpts hang2)" "$(want_rcpts 1)"
smtpd_stop hang2
reset_mail

# ---- a run that can not fork ------------------------------------------------
# alice already has a process (sleep), so with RLIMIT_NPROC 1 no fork of
# her run succeeds.  timeout(1) only keeps a hanging run from eating the
# script's whole time; 120 s is far beyond the runner's backoff.
smtpd_start nofork || exit 1
smtpd_conf nofork DEFER
for i in 1 2 3 4 5; do
	msg "f$i" | send_as alice "r$i@example.org"
done
run_as alice sleep 3600 &
sleepjob=$!
wait_until 10 pgrep -u alice -x sleep
sleeper=$(pgrep -u alice -x sleep)
for mode in "-q -D" "-q"; do
	syslog_mark
	capture run_as alice timeout 120 prlimit --nproc=1 "$DMA" $mode
	diag "dma $mode under RLIMIT_NPROC 1: exit $rc, stderr: $err"
	ok "dma $mode, fork fails: it gives up by itself" test "$rc" != 124
	ok "dma $mode, fork fails: its processes are gone" \
	    wait_until 30 sh -c '! pgrep -u alice -x dma'
	ok "dma $mode, fork fails: a log line says it can not fork" \
	    logged 'can not (fork|daemonize)'
	is "dma $mode, fork fails: nothing is left locked" "$(locked_qfiles)" ""
	is "dma $mode, fork fails: the entries are still queued" "$(qfiles | wc -l)" 5
done
# A submission whose delivery can not fork: the message is queued, so the
# caller is told it was accepted (never refused, then sent again).
smtpd_conf nofork
msg f6 >"$T/msg-f6"
chmod 644 "$T/msg-f6"
syslog_mark
capture run_as alice sh -c "prlimit --nproc=1 $DMA r6@example.org <'$T/msg-f6'"
is "submission, fork fails: accepted (exit 0)" "$rc" 0
ok "submission, fork fails: a log line says it stays queued" \
    logged 'can not fork to deliver.*stays queued'
is "submission, fork fails: queued" "$(qfiles | wc -l)" 6
kill $sleeper
wait "$sleepjob"
capture "$DMA" -q -D
ok "after the failed runs root's run delivers everything" test -z "$(qfiles)"
is "the server got each message once" "$(server_rcpts nofork)" "$(want_rcpts 6)"
smtpd_stop nofork
reset_mail

# ---- a stopped user run does not block root's run ---------------------------
# 250 messages; the server holds every message's final reply until
# smtpd_fast.  alice's run is stopped (its whole process group) while its
# workers wait there; it may hold only the entries its workers are
# delivering, at most MAXSESSIONS x 100 (JOB_MAX); root's run delivers all
# the others.
N=250
smtpd_start slow --delay eod=3600 || exit 1
smtpd_conf slow DEFER 'MAXSESSIONS 2'
for i in $(seq $N); do
	msg "s$i" | send_as alice "r$i@example.org"
done
is "stopped run: $N entries queued" "$(qfiles | wc -l)" $N
run_as alice "$DMA" -q
ok "alice's run is delivering (a message waits for its final reply)" \
    wait_until 60 sh -c "grep -l '\"eod\"' $T/smtpd-slow/session-*.json"
# Its process groups; never this script's own (a run that did not detach
# into a session of its own is stopped process by process).
mypgid=$(ps -o pgid= -p $$ | tr -d ' ')
pgids=$(for p in $(pgrep -u alice -x dma); do ps -o pgid= -p "$p"; done |
    tr -d ' ' | sort -u | grep -vx "$mypgid")
stopsig() {
	local g p
	for g in $pgids; do
		kill "-$1" -- "-$g"
	done
	for p in $(pgrep -u alice -x dma); do
		kill "-$1" "$p"
	done
}
stopsig STOP
ok "alice's run is stopped" wait_until 10 sh -c \
    "for p in \$(pgrep -u alice -x dma); do grep -q '^State:.*[Tt]' /proc/\$p/status || exit 1; done"
locked=$(locked_qfiles)
nlocked=$(printf '%s' "$locked" | grep -c .)
diag "stopped run: process groups $(echo $pgids), $nlocked entries locked"
ok "stopped run: it holds at most MAXSESSIONS x JOB_MAX = 200 entries" \
    test "$nlocked" -le 200
smtpd_fast slow
capture "$DMA" -q -D
is "stopped run: root's run exits 0" "$rc" 0
is "stopped run: root's run left exactly the entries the stopped run holds" \
    "$(qfiles)" "$locked"
stopsig CONT
ok "after SIGCONT the queue drains" wait_queue_empty 120
is "stopped run: every message delivered exactly once" "$(server_rcpts slow)" "$(want_rcpts $N)"
smtpd_stop slow
reset_mail

# ---- 10,000 entries under a limit of 256 descriptors ------------------------
# 3334 messages to alice, bob and root: 10002 local entries.
echo DEFER | dma_conf
n=3334
for i in $(seq $n); do
	msg "big$i" | "$DMA" alice bob root
done
is "10002 entries queued" "$(qfiles | wc -l)" 10002
capture sh -c "ulimit -n 256 && exec \"$DMA\" -q -D"
is "10002 entries, ulimit -n 256: the run exits 0" "$rc" 0
is "10002 entries: no error output" "$err" ""
ok "10002 entries: the queue is empty after the run" test -z "$(qfiles)"
for u in alice bob root; do
	got=$(grep '^Subject: runq big' "/var/mail/$u" 2>/dev/null | sort | uniq -c |
	    awk '$1 != 1 { bad++ } END { print NR - 0 " " bad + 0 }')
	is "10002 entries: $u got $n distinct messages, none twice" "$got" "$n 0"
done
