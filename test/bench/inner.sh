# inner.sh - the benchmark proper (bash), run by test/ns-run.sh inside the
# test namespaces as `. lib.sh; . inner.sh` (see test/bench/bench.sh, which
# stages the install and fetches the reference).
#
# Measures the installed dma ($DMA) and a reference with the same inputs,
# one after the other, with the spool, /var/mail and /etc/dma/dma.conf
# reset in between, and prints a plain-text table of figures and ratios.
# Nothing here is a pass/fail test: slow figures are reported, not judged.
#
# Environment (from bench.sh; all optional):
#   BENCH_REF          directory of the extracted reference .deb (usr/sbin/dma,
#                      usr/lib/dma/dma-mbox-create); empty: the floor.sh
#                      stand-in is the reference
#   BENCH_REF_NAME     how to call the reference in the output
#   BENCH_FLOOR_WHY    why there is no reference package (for the output)
#   BENCH_N            number of small messages per run (default 300)
#   BENCH_BIG          number of 1 MB messages per run (default 5)
#   BENCH_ROUNDS       rounds of the throughput runs (default 3; the median
#                      is reported)
#   BENCH_FLUSH        queued 4 KiB messages per queue-run workload of the
#                      delivery engine table (default 1000)
#   BENCH_RCPTS        recipients of the one-message fan-out (default 1000)
#   BENCH_DN           sequential `dma -D` submissions (default 300)
#   BENCH_HUGE_MB      size of the one huge message in MiB (default 100)
#   BENCH_EROUNDS      rounds of the delivery engine table (default 3)
#   BENCH_QUICK=1      a smoke run: small defaults for all of the above
#
# Exit status: 0 when every figure of ours (and every figure of the delivery
# engine table, the reference's too) was measured and verified, 1 if the
# bench could not run or some delivery could not be verified.

# lib.sh's EXIT trap prints a TAP plan and judges assertions; a benchmark
# prints figures instead.
trap - EXIT

if [ "${BENCH_QUICK:-0}" = 1 ]; then
	: "${BENCH_N:=30}" "${BENCH_BIG:=2}" "${BENCH_ROUNDS:=1}" "${BENCH_FLUSH:=100}"
	: "${BENCH_RCPTS:=100}" "${BENCH_DN:=30}" "${BENCH_HUGE_MB:=10}" "${BENCH_EROUNDS:=1}"
fi
N=${BENCH_N:-300}
BIG=${BENCH_BIG:-5}
FN=${BENCH_FLUSH:-1000}
RCPTS=${BENCH_RCPTS:-1000}
DN=${BENCH_DN:-300}
HUGE_MB=${BENCH_HUGE_MB:-100}
EROUNDS=${BENCH_EROUNDS:-3}
REFBIN=/usr/lib/dma-ref/dma
OUT=$T/bench-out
mkdir -p "$OUT"
chmod 1777 "$OUT"
ROUNDS=${BENCH_ROUNDS:-3}
declare -A R		# R[metric.impl] = figure, "n/a" or "FAILED"
declare -A RUNS		# RUNS[metric.impl] = the figures of each round
notes=()
bad=0

die_bench() {
	echo "bench: $*" >&2
	exit 1
}

# ---- the reference ------------------------------------------------------
if [ -n "${BENCH_REF:-}" ]; then
	REFKIND=deb
	REFNAME=${BENCH_REF_NAME:-reference dma}
	install -d -m 0755 /usr/lib/dma-ref /usr/lib/dma
	install -m 2755 -o root -g mail "$BENCH_REF/usr/sbin/dma" "$REFBIN" ||
	    die_bench "cannot install the reference dma"
	# Its compiled-in helper path; setuid root like the package installs it.
	install -m 4754 -o root -g mail "$BENCH_REF/usr/lib/dma/dma-mbox-create" \
	    /usr/lib/dma/dma-mbox-create || die_bench "cannot install dma-mbox-create"
	[ "$("$REFBIN" -bp 2>&1)" = "Mail queue is empty" ] ||
	    die_bench "the reference dma does not run: $("$REFBIN" -bp 2>&1)"
else
	REFKIND=floor
	REFNAME="floor (sh: cat >file; sync)"
	install -d -m 0755 /usr/lib/dma-ref
	install -m 0755 "$SRC/test/bench/floor.sh" "$REFBIN"
	install -d -m 1777 /var/tmp/dma-floor
	notes+=("No reference package (${BENCH_FLOOR_WHY:-none given}): the reference is the")
	notes+=("floor stand-in test/bench/floor.sh (copy + fsync, no MTA work);")
	notes+=("remote delivery and instruction counts have no reference figure.")
fi
[ -x "$DMA" ] || die_bench "no installed dma"

# ---- inputs -------------------------------------------------------------
# make_msg FILE BODYBYTES: a plain text message of about that size; one body
# line starts with a dot (dot-stuffing on the SMTP path).
make_msg() {
	{
		printf 'From: Alice <alice@testhost>\nTo: bob\n'
		printf 'Subject: benchmark message of %d bytes\n\n' "$2"
		printf '.a line with a leading dot\n'
		yes 'The quick brown fox jumps over the lazy dog; pack my box with five dozen jugs.' |
		    head -c "$2"
		printf '\n'
	} >"$1"
	chmod 0644 "$1"
}
make_msg "$OUT/small.eml" 2000
make_msg "$OUT/big.eml" 1048576
make_msg "$OUT/med.eml" 3950		# 4 KiB with its header
make_msg "$OUT/huge.eml" $((HUGE_MB * 1048576))
LOCALRCPT=bob
REMOTERCPT=bob@remote.test

# ---- helpers ------------------------------------------------------------
bin_of() {
	if [ "$1" = ours ]; then echo "$DMA"; else echo "$REFBIN"; fi
}

reset_state() {
	kill_dma >/dev/null 2>&1
	find /var/spool/dma /var/mail -mindepth 1 -delete
	[ -d /var/tmp/dma-floor ] && find /var/tmp/dma-floor -mindepth 1 -delete
	rm -f /etc/dma/auth.conf
	: | dma_conf
}

conf_defer() { echo DEFER | dma_conf; }
conf_local() { : | dma_conf; }
conf_remote() { printf 'SMARTHOST 127.0.0.1\nPORT %s\n' "$SINK_PORT" | dma_conf; }
# implicit TLS (no STARTTLS) and AUTH; neither implementation verifies the
# sink's self-signed certificate unless told to
conf_tls() {
	printf 'SMARTHOST 127.0.0.1\nPORT %s\nSECURETRANSFER\nAUTHPATH /etc/dma/auth.conf\n' \
	    "$SINK_TLSPORT" | dma_conf
	printf '%s|127.0.0.1:%s\n' "$SINK_USER" "$SINK_PASS" | auth_conf
}

# The polls below run between the measured processes on the same two or so
# CPUs, so they are cheap (shell builtins only: no pgrep, no sleep
# process) and fine-grained (NAP seconds): a queue run of 50 ms is timed
# to within a few ms, not to the next 20 ms tick plus a pgrep.
NAP=0.002
exec {NAPFD}<> <(:)	# a pipe nobody writes to: read -t on it just waits
nap() {
	read -r -t "$1" -u "$NAPFD" _ || :
}

# dma_alive: some dma or dma-mbox-* process is alive (not a zombie)
dma_alive() {
	local f line
	for f in /proc/[0-9]*/stat; do
		read -r line 2>/dev/null <"$f" || continue
		[[ $line =~ \((dma|dma-mbox-[^\)]*)\)\ [RSDTt] ]] && return 0
	done
	return 1
}

# _idle: no Q file left and no dma process alive (the cheap test first)
_idle() {
	local f
	for f in "$SPOOL"/Q*; do
		[ -e "$f" ] && return 1
	done
	! dma_alive
}

# wait_idle SECS: 1 on timeout
wait_idle() {
	local start=$SECONDS
	until _idle; do
		[ $((SECONDS - start)) -ge "$1" ] && return 1
		nap $NAP
	done
	return 0
}

# wait_noproc SECS: until no dma process is alive (DEFER leaves Q files);
# 1 on timeout
wait_noproc() {
	local start=$SECONDS
	while dma_alive; do
		[ $((SECONDS - start)) -ge "$1" ] && return 1
		nap $NAP
	done
	return 0
}

# rate COUNT T0 T1: messages per second
rate() {
	awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { d = b - a; if (d <= 0) d = 1e-6; printf "%.1f", n / d }'
}

queued() {
	local n=0 f
	for f in "$SPOOL"/Q* /var/tmp/dma-floor/F*; do
		[ -e "$f" ] && n=$((n + 1))
	done
	echo $n
}

# ---- the SMTP sink (test/bench/sink.c) --------------------------------------
# One sink per measurement: sink_start before the queue run, sink_stop
# after it; sink_stop fills S[connections], S[handshakes], S[logins],
# S[transactions], S[recipients], S[messages], S[bytes] (see sink.c).
SINK=$SRC/test/bench/sink
SINK_USER=bench
SINK_PASS=bench-secret
SINK_PID=
declare -A S
[ -x "$SINK" ] || die_bench "$SINK is not built (make bench builds it)"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=sink.test \
    -keyout "$OUT/sink.key" -out "$OUT/sink.crt" >"$OUT/openssl.log" 2>&1 ||
    die_bench "cannot make the sink's certificate: $(tail -n 3 "$OUT/openssl.log")"

sink_start() {
	local line=
	# The old READY line must be gone before the new sink starts: the
	# shell truncates sink.out in the child, maybe after the first grep.
	rm -f "$OUT/sink.stats" "$OUT/sink.out"
	"$SINK" -o "$OUT/sink.stats" -p 0 -s 0 -c "$OUT/sink.crt" -k "$OUT/sink.key" \
	    -a "$SINK_USER:$SINK_PASS" >"$OUT/sink.out" 2>"$OUT/sink.err" </dev/null &
	SINK_PID=$!
	for _ in $(seq 500); do
		line=$(grep '^READY ' "$OUT/sink.out" 2>/dev/null) && break
		sleep 0.01
	done
	read -r _ SINK_PORT SINK_TLSPORT <<<"$line"
	[ -n "${SINK_TLSPORT:-}" ] || die_bench "the SMTP sink did not start: $(cat "$OUT/sink.err")"
}

sink_stop() {
	local k v
	S=()
	[ -n "$SINK_PID" ] || return
	kill -TERM "$SINK_PID" 2>/dev/null
	wait "$SINK_PID" 2>/dev/null
	SINK_PID=
	while read -r k v; do
		S[$k]=$v
	done <"$OUT/sink.stats"
}

# floor_round: FN sequential runs of test/bench/floor (one new file and two
# fsyncs per message, nothing else) by alice, in the same shell loop as
# submit; adds the rate to E_RUNS[floor.ours] (the floor is no MTA: its
# figure bounds what the submission ratio can reach on this machine)
FLOOR=$SRC/test/bench/floor
FLOORDIR=/var/tmp/dma-floor-sub
floor_round() {
	local t0 t1 rc n
	[ -x "$FLOOR" ] || return
	rm -rf "$FLOORDIR"
	install -d -m 1777 "$FLOORDIR"
	t0=$EPOCHREALTIME
	run_as alice /bin/bash -c 'i=0
	    while [ $i -lt "$1" ]; do "$2" "$4" <"$3" || exit 1; i=$((i + 1)); done' \
	    bash "$FN" "$FLOOR" "$OUT/med.eml" "$FLOORDIR"
	rc=$?
	t1=$EPOCHREALTIME
	n=$(find "$FLOORDIR" -type f | wc -l)
	if [ "$rc" -ne 0 ] || [ "$n" -ne "$FN" ]; then
		efail floor "floor: $n of $FN files, exit $rc"
		eadd floor.ours FAILED
	else
		eadd floor.ours "$(rate "$FN" "$t0" "$t1")"
	fi
	# the floor of dma -D: the same, then an append to an mbox, its
	# fsync and the removal of the spool file (no lock, no journal)
	install -d -m 1777 "$FLOORDIR"
	install -m 0666 /dev/null "$FLOORDIR.mbox"
	t0=$EPOCHREALTIME
	run_as alice /bin/bash -c 'i=0
	    while [ $i -lt "$1" ]; do "$2" -D "$5" "$4" <"$3" || exit 1; i=$((i + 1)); done' \
	    bash "$DN" "$FLOOR" "$OUT/med.eml" "$FLOORDIR" "$FLOORDIR.mbox"
	rc=$?
	t1=$EPOCHREALTIME
	n=$(grep -c '^From floor ' "$FLOORDIR.mbox")
	if [ "$rc" -ne 0 ] || [ "$n" -ne "$DN" ]; then
		efail floor "floor -D: $n of $DN appended, exit $rc"
		eadd dfloor.ours FAILED
	else
		eadd dfloor.ours "$(rate "$DN" "$t0" "$t1")"
	fi
	rm -rf "$FLOORDIR" "$FLOORDIR.mbox"
	# the same loop starting /bin/true: a process start, no work at all
	t0=$EPOCHREALTIME
	run_as alice /bin/bash -c 'i=0
	    while [ $i -lt "$1" ]; do "$2" <"$3" || exit 1; i=$((i + 1)); done' \
	    bash "$FN" /bin/true "$OUT/med.eml"
	t1=$EPOCHREALTIME
	eadd start.ours "$(rate "$FN" "$t0" "$t1")"
}

# submit IMPL COUNT MSG RCPT: COUNT submissions by alice (one shell loop,
# so per-message overhead is one fork+exec); sets SUB_RATE (or FAILED)
submit() {
	local bin t0 t1 rc
	bin=$(bin_of "$1")
	conf_defer
	t0=$EPOCHREALTIME
	run_as alice /bin/bash -c 'i=0
	    while [ $i -lt "$1" ]; do "$2" "$4" <"$3" || exit 1; i=$((i + 1)); done' \
	    bash "$2" "$bin" "$3" "$4"
	rc=$?
	wait_noproc 60
	t1=$EPOCHREALTIME
	if [ "$rc" -ne 0 ] || [ "$(queued)" -ne "$2" ]; then
		SUB_RATE=FAILED
		echo "bench: $1: submission of $2 x $(basename "$3"): exit $rc, $(queued) queued" >&2
	else
		SUB_RATE=$(rate "$2" "$t0" "$t1")
	fi
}

# run_queue IMPL [time ARGS...]: one queue run as root; ours waits with
# -D, the reference detaches; both are timed until the queue is idle.
run_queue() {
	local impl=$1 bin
	shift
	bin=$(bin_of "$impl")
	if [ "$impl" = ours ]; then
		"$@" "$bin" -q -D
	else
		"$@" "$bin" -q
	fi
}

# deliver IMPL COUNT local|remote: time one queue run; sets DLV_RATE
deliver() {
	local t0 t1 got ok=1
	if [ "$3" = local ]; then conf_local; else sink_start; conf_remote; fi
	t0=$EPOCHREALTIME
	run_queue "$1" </dev/null >/dev/null 2>&1
	wait_idle 120 || ok=0
	t1=$EPOCHREALTIME
	if [ "$3" = local ]; then
		got=$(count_msgs /var/mail/bob)
	else
		sink_stop
		got=${S[messages]:-0}
	fi
	if [ "$ok" = 1 ] && [ "$got" -eq "$2" ]; then
		DLV_RATE=$(rate "$2" "$t0" "$t1")
	else
		DLV_RATE=FAILED
		echo "bench: $1: $3 delivery of $2: $got delivered (idle: $ok)" >&2
	fi
}

# add KEY VALUE: one more round's figure for KEY (metric.impl)
add() {
	RUNS[$1]="${RUNS[$1]:+${RUNS[$1]} }$2"
}

# workload KEY COUNT MSG local|remote ORDER: submission then delivery, for
# each implementation in turn (ORDER: "ours ref" or "ref ours")
workload() {
	local impl rcpt=$LOCALRCPT
	[ "$4" = remote ] && rcpt=$REMOTERCPT
	for impl in $5; do
		if [ "$impl" = ref ] && [ "$REFKIND" = floor ] && [ "$4" = remote ]; then
			add "sub_$1.$impl" n/a
			add "dlv_$1.$impl" n/a
			continue
		fi
		reset_state
		submit "$impl" "$2" "$3" "$rcpt"
		add "sub_$1.$impl" "$SUB_RATE"
		deliver "$impl" "$2" "$4"
		add "dlv_$1.$impl" "$DLV_RATE"
	done
}

# median KEY: R[KEY] := the median of the rounds (FAILED or n/a if any is)
median() {
	local v=${RUNS[$1]:-n/a}
	case " $v " in
	*" FAILED "*) R[$1]=FAILED ;;
	*" n/a "*) R[$1]=n/a ;;
	*) R[$1]=$(printf '%s\n' $v | sort -g |
	    awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2];
		else printf "%.1f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }') ;;
	esac
}

have_time=0
[ -x /usr/bin/time ] && /usr/bin/time -f %M true >/dev/null 2>&1 && have_time=1
have_vg=0
command -v valgrind >/dev/null 2>&1 && have_vg=1

# peak_rss IMPL: max RSS (KB) of a 1 MB submission and of delivering it
peak_rss() {
	local impl=$1 bin v where
	bin=$(bin_of "$impl")
	for where in local remote; do
		if [ "$have_time" = 0 ] ||
		    { [ "$REFKIND" = floor ] && [ "$impl" = ref ] && [ $where = remote ]; }; then
			R[rss_sub.$impl]=${R[rss_sub.$impl]:-n/a}
			R[rss_$where.$impl]=n/a
			continue
		fi
		reset_state
		conf_defer
		rm -f "$OUT/rss"
		if [ $where = local ]; then
			run_as alice /usr/bin/time -f %M -o "$OUT/rss" "$bin" "$LOCALRCPT" \
			    <"$OUT/big.eml" >/dev/null 2>&1
		else
			run_as alice "$bin" "$REMOTERCPT" <"$OUT/big.eml" >/dev/null 2>&1
		fi
		v=$(tail -n 1 "$OUT/rss" 2>/dev/null)
		if [ $where = local ]; then
			case $v in
			''|*[!0-9]*) R[rss_sub.$impl]=FAILED ;;
			*) R[rss_sub.$impl]=$v ;;
			esac
		fi
		if [ "$(queued)" -ne 1 ]; then
			R[rss_$where.$impl]=FAILED
			continue
		fi
		if [ $where = local ]; then conf_local; else sink_start; conf_remote; fi
		rm -f "$OUT/rss"
		# -D for both: the reference then delivers its only entry itself.
		/usr/bin/time -f %M -o "$OUT/rss" "$bin" -q -D </dev/null >/dev/null 2>&1
		wait_idle 60
		[ $where = remote ] && sink_stop
		v=$(tail -n 1 "$OUT/rss" 2>/dev/null)
		case $v in
		''|*[!0-9]*) v=FAILED ;;
		esac
		[ "$(queued)" -eq 0 ] || v=FAILED
		R[rss_$where.$impl]=$v
	done
}

# instr IMPL KEY MSG: instructions of one submission (callgrind, as root)
instr() {
	local bin v
	bin=$(bin_of "$1")
	if [ "$have_vg" = 0 ] || { [ "$REFKIND" = floor ] && [ "$1" = ref ]; }; then
		R[$2.$1]=n/a
		return
	fi
	reset_state
	conf_defer
	# valgrind refuses setgid programs: a plain copy runs as alice with
	# real and effective group mail, the privileges the setgid one has.
	mkdir -p "$OUT/vg-$1"
	install -m 0755 "$bin" "$OUT/vg-$1/dma"
	rm -f "$OUT/vg.log"
	setpriv --reuid=alice --regid=mail --clear-groups \
	    env -i HOME=/nonexistent USER=alice LOGNAME=alice PATH="$PATH" TMPDIR="$OUT" \
	    valgrind --tool=callgrind --vgdb=no --callgrind-out-file=/dev/null \
	    --log-file="$OUT/vg.log" "$OUT/vg-$1/dma" "$LOCALRCPT" <"$3" >/dev/null 2>&1
	wait_noproc 30
	v=$(sed -n 's/^==[0-9]*== Collected : \([0-9]*\)$/\1/p' "$OUT/vg.log" | tail -n 1)
	if [ -z "$v" ] || [ "$(queued)" -ne 1 ]; then
		v=FAILED
		[ -f "$OUT/vg.log" ] && sed 's/^/bench: valgrind: /' "$OUT/vg.log" | tail -n 5 >&2
	fi
	R[$2.$1]=$v
}

# ---- counts that explain the figures --------------------------------------
# counts IMPL: one untimed pass of CN messages under strace -f for each of
# submission, local and remote delivery; C[metric.impl] := per message:
# fsync+fdatasync calls, processes started (fork/vfork/clone without
# CLONE_THREAD), TCP connections (connect to AF_INET/AF_INET6).
CN=20
declare -A C
have_strace=0
command -v strace >/dev/null 2>&1 && have_strace=1

# make_mbox: bob's empty mbox, as dma-mbox-create makes it.  A traced
# program gains no privileges from its setuid or setgid bit here: the
# traced passes start with the mailbox in place (dma-mbox-create would
# fail), and the traced queue runs start as root with group mail (the
# group both implementations keep when they give up root).
make_mbox() {
	install -m 0620 -o bob -g mail /dev/null /var/mail/bob
}

# tally FILE WHAT: per-message count of WHAT (sync|proc|tcp) in the trace
tally() {
	local n
	case $2 in
	sync) n=$(grep -cE '^[0-9]+ +f(data)?sync\(' "$1") ;;
	proc) n=$(grep -E '^[0-9]+ +(fork|vfork|clone3?)\(' "$1" | grep -vc 'CLONE_THREAD') ;;
	tcp) n=$(grep -E '^[0-9]+ +connect\(' "$1" | grep -cE 'AF_INET6?[,}]') ;;
	esac
	awk -v n="$n" -v m="$CN" 'BEGIN { printf "%.1f", n / m }'
}

counts() {
	local impl=$1 bin trace=$OUT/trace where rcpt cmd
	bin=$(bin_of "$impl")
	cmd="'$bin' -q"
	[ "$impl" = ours ] && cmd="'$bin' -q -D"
	for where in local remote; do
		if [ "$have_strace" = 0 ] ||
		    { [ "$REFKIND" = floor ] && [ "$impl" = ref ] && [ $where = remote ]; }; then
			C[$where.sync.$impl]=n/a C[$where.proc.$impl]=n/a C[$where.tcp.$impl]=n/a
			continue
		fi
		rcpt=$LOCALRCPT
		[ $where = remote ] && rcpt=$REMOTERCPT
		reset_state
		make_mbox
		conf_defer
		strace -f -qq -o "$trace.sub" -e trace=fsync,fdatasync,fork,vfork,clone,clone3 \
		    setpriv --reuid=alice --regid=alice --init-groups /bin/bash -c 'i=0
		    while [ $i -lt "$1" ]; do "$2" "$4" <"$3" || exit 1; i=$((i + 1)); done' \
		    bash "$CN" "$bin" "$OUT/small.eml" "$rcpt" >/dev/null 2>&1
		wait_noproc 60
		if [ $where = local ]; then
			C[sub.sync.$impl]=$(tally "$trace.sub" sync)
			# one fork per message is the shell loop's, not the MTA's
			C[sub.proc.$impl]=$(awk -v p="$(tally "$trace.sub" proc)" \
			    'BEGIN { printf "%.1f", p - 1 }')
			conf_local
		else
			sink_start
			conf_remote
		fi
		setpriv --regid=mail --clear-groups strace -f -qq -o "$trace.dlv" \
		    -e trace=fsync,fdatasync,fork,vfork,clone,clone3,connect \
		    /bin/sh -c "$cmd" </dev/null >/dev/null 2>&1
		wait_idle 120
		[ $where = remote ] && sink_stop
		C[$where.sync.$impl]=$(tally "$trace.dlv" sync)
		C[$where.proc.$impl]=$(tally "$trace.dlv" proc)
		C[$where.tcp.$impl]=$(tally "$trace.dlv" tcp)
	done
}

# ---- the delivery engine workloads (issue 9) ---------------------------------
# E_RUNS[key.impl]: the figures of each round; EC[key.impl]: counts of the
# last round read from the sink (connections, transactions, handshakes,
# logins) or from the counting pass (processes, fsyncs).
declare -A E_RUNS
declare -A EC
FANRCPTS=()
for i in $(seq "$RCPTS"); do
	FANRCPTS+=("rcpt$i@remote.test")
done

eadd() {
	E_RUNS[$1]="${E_RUNS[$1]:+${E_RUNS[$1]} }$2"
}

# efail IMPL WHAT...: a delivery that could not be verified
efail() {
	local impl=$1
	shift
	echo "bench: $impl: $*" >&2
}

# submit_loop COUNT MSG BIN ARGS...: alice runs BIN ARGS... <MSG COUNT
# times in one shell loop; 1 if one of them failed
submit_loop() {
	run_as alice /bin/bash -c 'n=$1 m=$2; shift 2; i=0
	    while [ $i -lt "$n" ]; do "$@" <"$m" || exit 1; i=$((i + 1)); done' \
	    bash "$@"
}

# flush IMPL: one `dma -q` (both implementations may detach), timed until
# no Q file and no dma process is left; sets FL_T (seconds) or FAILED
flush() {
	local t0
	t0=$EPOCHREALTIME
	"$(bin_of "$1")" -q </dev/null >/dev/null 2>&1
	if wait_idle 120; then
		FL_T=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }')
	else
		FL_T=FAILED
		efail "$1" "queue run not done after 120 s, $(queued) entries left"
	fi
}

# per_s COUNT SECONDS: msg/s, or FAILED
per_s() {
	case $2 in
	FAILED) echo FAILED ;;
	*) awk -v n="$1" -v t="$2" 'BEGIN { if (t <= 0) t = 1e-6; printf "%.1f", n / t }' ;;
	esac
}

# eround IMPL: one round of the queue-run and -D workloads for IMPL
eround() {
	local impl=$1 bin got v mode t0
	bin=$(bin_of "$impl")

	# FN submissions with DEFER, then flush them into one mbox
	reset_state
	submit "$impl" "$FN" "$OUT/med.eml" "$LOCALRCPT"
	eadd "sub.$impl" "$SUB_RATE"
	conf_local
	flush "$impl"
	got=$(count_msgs /var/mail/bob)
	v=$(per_s "$FN" "$FL_T")
	if [ "$got" -ne "$FN" ]; then
		efail "$impl" "flush into one mbox: $got of $FN delivered"
		v=FAILED
	fi
	eadd "mbox.$impl" "$v"

	# FN queued for the smarthost: over plain SMTP, then over implicit
	# TLS + AUTH from a copy of the same spool
	reset_state
	submit "$impl" "$FN" "$OUT/med.eml" "$REMOTERCPT"
	rm -rf "$OUT/spool-copy"
	cp -a "$SPOOL" "$OUT/spool-copy"
	for mode in smtp tls; do
		if [ $mode = tls ]; then
			find "$SPOOL" -mindepth 1 -delete
			cp -a "$OUT/spool-copy/." "$SPOOL/"
		fi
		sink_start
		if [ $mode = smtp ]; then conf_remote; else conf_tls; fi
		if [ "$SUB_RATE" = FAILED ]; then
			FL_T=FAILED
		else
			flush "$impl"
		fi
		sink_stop
		v=$(per_s "$FN" "$FL_T")
		if [ "${S[messages]:-0}" -ne "$FN" ]; then
			efail "$impl" "flush to the smarthost ($mode): the sink accepted ${S[messages]:-0} of $FN"
			v=FAILED
		fi
		eadd "$mode.$impl" "$v"
		EC[$mode.conn.$impl]=${S[connections]:-?}
		EC[$mode.mail.$impl]=${S[transactions]:-?}
		EC[$mode.hs.$impl]=${S[handshakes]:-?}
		EC[$mode.auth.$impl]=${S[logins]:-?}
	done
	rm -rf "$OUT/spool-copy"

	# one message to RCPTS recipients at the smarthost
	reset_state
	conf_defer
	run_as alice "$bin" "${FANRCPTS[@]}" <"$OUT/med.eml" >/dev/null 2>&1 ||
	    efail "$impl" "submission to $RCPTS recipients failed"
	sink_start
	conf_remote
	flush "$impl"
	sink_stop
	v=$FL_T
	if [ "${S[recipients]:-0}" -ne "$RCPTS" ]; then
		efail "$impl" "fan-out: the sink accepted ${S[recipients]:-0} of $RCPTS recipients"
		v=FAILED
	fi
	eadd "fan.$impl" "$v"
	EC[fan.conn.$impl]=${S[connections]:-?}
	EC[fan.mail.$impl]=${S[transactions]:-?}

	# DN sequential `dma -D bob` (submission and delivery in the foreground)
	reset_state
	conf_local
	t0=$EPOCHREALTIME
	submit_loop "$DN" "$OUT/med.eml" "$bin" -D "$LOCALRCPT" >/dev/null 2>&1 ||
	    efail "$impl" "a dma -D failed"
	wait_idle 120
	v=$(per_s "$DN" "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }')")
	got=$(count_msgs /var/mail/bob)
	if [ "$got" -ne "$DN" ]; then
		efail "$impl" "dma -D: $got of $DN delivered"
		v=FAILED
	fi
	eadd "dsub.$impl" "$v"
}

# ecount IMPL: the untimed counting pass of the mbox flush under strace -f:
# processes (the queue run's own included) and fsync + fdatasync calls
ecount() {
	local impl=$1 bin trace=$OUT/etrace got n
	bin=$(bin_of "$impl")
	EC[mbox.proc.$impl]=n/a
	EC[mbox.sync.$impl]=n/a
	[ "$have_strace" = 1 ] || return
	reset_state
	make_mbox
	conf_defer
	submit_loop "$FN" "$OUT/med.eml" "$bin" "$LOCALRCPT" >/dev/null 2>&1
	wait_noproc 60
	conf_local
	# --seccomp-bpf stops the tracee only at the traced calls
	setpriv --regid=mail --clear-groups strace -f -qq $strace_bpf -o "$trace" \
	    -e trace=fsync,fdatasync,fork,vfork,clone,clone3 \
	    "$bin" -q </dev/null >/dev/null 2>&1
	wait_idle 120
	got=$(count_msgs /var/mail/bob)
	if [ "$got" -ne "$FN" ]; then
		efail "$impl" "counting pass: $got of $FN delivered"
		eadd "mbox.$impl" FAILED
		return
	fi
	n=$(grep -E '^[0-9]+ +(fork|vfork|clone3?)\(' "$trace" | grep -vc CLONE_THREAD)
	EC[mbox.proc.$impl]=$((n + 1))
	EC[mbox.sync.$impl]=$(grep -cE '^[0-9]+ +f(data)?sync\(' "$trace")
}

# huge IMPL: one HUGE_MB message, delivered locally and to the smarthost
# with `dma -q -D` (the reference then delivers its only entry itself):
# wall time and GNU time's peak RSS of that run
huge() {
	local impl=$1 bin where t0 v rss
	bin=$(bin_of "$impl")
	for where in local smtp; do
		reset_state
		conf_defer
		if [ $where = local ]; then
			run_as alice "$bin" "$LOCALRCPT" <"$OUT/huge.eml" >/dev/null 2>&1
			conf_local
		else
			run_as alice "$bin" "$REMOTERCPT" <"$OUT/huge.eml" >/dev/null 2>&1
			sink_start
			conf_remote
		fi
		wait_noproc 60
		rm -f "$OUT/rss"
		t0=$EPOCHREALTIME
		if [ "$have_time" = 1 ]; then
			/usr/bin/time -f %M -o "$OUT/rss" "$bin" -q -D </dev/null >/dev/null 2>&1
		else
			"$bin" -q -D </dev/null >/dev/null 2>&1
		fi
		wait_idle 300
		v=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }')
		rss=$(tail -n 1 "$OUT/rss" 2>/dev/null)
		case $rss in
		''|*[!0-9]*) rss=n/a ;;
		esac
		if [ $where = local ]; then
			[ "$(count_msgs /var/mail/bob)" -eq 1 ] || v=FAILED
		else
			sink_stop
			[ "${S[messages]:-0}" -eq 1 ] &&
			    [ "${S[bytes]:-0}" -ge $((HUGE_MB * 1048576)) ] || v=FAILED
		fi
		[ "$v" = FAILED ] && efail "$impl" "the $HUGE_MB MiB message ($where) was not delivered"
		E_RUNS[huge_$where.$impl]=$v
		E_RUNS[rss_$where.$impl]=$rss
	done
}

strace_bpf=
[ "$have_strace" = 1 ] && strace -f --seccomp-bpf -qq -o /dev/null true 2>/dev/null &&
    strace_bpf=--seccomp-bpf

# ---- run ------------------------------------------------------------------
start=$SECONDS
echo "dma benchmark: ours = $DMA ($DMA_VERSION), reference = $REFNAME"
echo "inputs: $N messages of $(wc -c <"$OUT/small.eml") bytes, $BIG of $(wc -c <"$OUT/big.eml") bytes; 1 recipient each;"
echo "throughput: median of $ROUNDS rounds"
echo
# Rounds alternate which implementation goes first.
for round in $(seq "$ROUNDS"); do
	if [ $((round % 2)) = 1 ]; then order="ours ref"; else order="ref ours"; fi
	workload small "$N" "$OUT/small.eml" local "$order"
	workload big "$BIG" "$OUT/big.eml" local "$order"
	workload rsmall "$N" "$OUT/small.eml" remote "$order"
	workload rbig "$BIG" "$OUT/big.eml" remote "$order"
done
for k in "${!RUNS[@]}"; do
	median "$k"
done
peak_rss ours
peak_rss ref
instr ours ir_small "$OUT/small.eml"
instr ref ir_small "$OUT/small.eml"
instr ours ir_big "$OUT/big.eml"
instr ref ir_big "$OUT/big.eml"
counts ours
counts ref
# The delivery engine workloads, rounds alternating which goes first; the
# floor stand-in has no queue runner, SMTP or -D: no reference figures then.
for round in $(seq "$EROUNDS"); do
	if [ $((round % 2)) = 1 ]; then order="ours ref"; else order="ref ours"; fi
	for impl in $order; do
		[ "$impl" = ref ] && [ "$REFKIND" = floor ] && continue
		eround "$impl"
	done
	floor_round
done
for impl in ours ref; do
	[ "$impl" = ref ] && [ "$REFKIND" = floor ] && continue
	huge "$impl"
	ecount "$impl"
done
reset_state

# ---- report -----------------------------------------------------------------
# rows: key|label|better (higher or lower)
rows="sub_small|submission, 2 KB (msg/s)|higher
sub_big|submission, 1 MB (msg/s)|higher
dlv_small|local delivery, 2 KB (msg/s)|higher
dlv_big|local delivery, 1 MB (msg/s)|higher
sub_rsmall|submission, 2 KB, remote rcpt (msg/s)|higher
dlv_rsmall|remote delivery, 2 KB (msg/s)|higher
dlv_rbig|remote delivery, 1 MB (msg/s)|higher
rss_sub|peak RSS, submission 1 MB (KB)|lower
rss_local|peak RSS, local delivery 1 MB (KB)|lower
rss_remote|peak RSS, remote delivery 1 MB (KB)|lower
ir_small|instructions, submission 2 KB|lower
ir_big|instructions, submission 1 MB|lower"

printf '%-40s %14s %14s %8s  %s\n' metric ours reference ratio "better"
printf '%-40s %14s %14s %8s  %s\n' ------ ---- --------- ----- ------
while IFS='|' read -r key label better; do
	o=${R[$key.ours]:-n/a}
	r=${R[$key.ref]:-n/a}
	[ "$o" = FAILED ] && bad=1
	case $o$r in
	*[!0-9.]*) ratio=- ;;
	*) ratio=$(awk -v a="$o" -v b="$r" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }') ;;
	esac
	if [ "$better" = higher ]; then
		hint="ratio > 1 is better"
	else
		hint="ratio < 1 is better"
	fi
	printf '%-40s %14s %14s %8s  %s\n' "$label" "$o" "$r" "$ratio" "$hint"
done <<EOF
$rows
EOF
echo
echo "throughput per round (msg/s, ours | reference):"
while IFS='|' read -r key label better; do
	[ -n "${RUNS[$key.ours]:-}" ] || continue
	printf '  %-38s %s | %s\n' "${label% (*}" "${RUNS[$key.ours]}" "${RUNS[$key.ref]:-n/a}"
done <<EOF
$rows
EOF
echo
echo "counts per message ($CN messages of 2 KB, one untimed pass under strace -f):"
printf '  %-38s %10s %10s
' "" ours reference
while IFS='|' read -r key label; do
	printf '  %-38s %10s %10s
' "$label" "${C[$key.ours]:-n/a}" "${C[$key.ref]:-n/a}"
done <<EOF
sub.sync|submission: fsync + fdatasync
sub.proc|submission: processes (past dma's own)
local.sync|local delivery: fsync + fdatasync
local.proc|local delivery: processes
remote.sync|remote delivery: fsync + fdatasync
remote.proc|remote delivery: processes
remote.tcp|remote delivery: TCP connections
EOF
[ "$have_strace" = 1 ] || echo "strace is missing: no counts."
echo
echo "ratio = ours / reference, both measured in this run on this machine."
echo "msg/s: wall clock from the first submission (or the queue run) until the"
echo "spool has no Q file and no dma process is left; deliveries are verified"
echo "(mbox message count, messages accepted by the sink)."
echo "Peak RSS: GNU time %M (largest process incl. waited-for children)."
echo "Instructions: valgrind callgrind, one submission (DEFER, startup included)"
echo "of a copy without the setgid bit (valgrind refuses setgid programs) run by"
echo "alice with real and effective group mail."
for l in "${notes[@]}"; do
	echo "$l"
done
[ "$have_time" = 1 ] || echo "GNU time (/usr/bin/time) is missing: no RSS figures."
[ "$have_vg" = 1 ] || echo "valgrind is missing: no instruction counts."
# ---- report: the delivery engine table ------------------------------------------
# emedian KEY: the median of E_RUNS[KEY] (FAILED if a round failed, n/a if
# there is none)
emedian() {
	local v=${E_RUNS[$1]:-n/a}
	case " $v " in
	*" FAILED "*) echo FAILED ;;
	*" n/a "*) echo n/a ;;
	*) printf '%s\n' $v | sort -g |
	    awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2];
		else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }' ;;
	esac
}

# meets VALUE OP LIMIT: yes, no or - (VALUE not a number)
meets() {
	case $1 in
	''|*[!0-9.]*) echo - ;;
	*) awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
		ok = op == ">=" ? v >= l : v <= l; print ok ? "yes" : "no" }' ;;
	esac
}

echo
echo "delivery engine (issue 9): ${FN} x $(wc -c <"$OUT/med.eml") bytes queued, median of $EROUNDS rounds;"
echo "ratio = ours / reference; target as in the issue, checked on the ratio"
printf '%-44s %10s %10s %7s  %-8s %s\n' workload ours reference ratio target met
printf '%-44s %10s %10s %7s  %-8s %s\n' -------- ---- --------- ----- ------ ---
while IFS='|' read -r key label op limit; do
	o=$(emedian "$key.ours")
	r=$(emedian "$key.ref")
	[ "$o" = FAILED ] || [ "$r" = FAILED ] && bad=1
	case $o$r in
	*[!0-9.]*) ratio=- ;;
	*) ratio=$(awk -v a="$o" -v b="$r" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }') ;;
	esac
	printf '%-44s %10s %10s %7s  %-8s %s\n' "$label" "$o" "$r" "$ratio" "$op $limit" \
	    "$(meets "$ratio" "$op" "$limit")"
done <<ROWS
smtp|flush $FN to a smarthost (msg/s)|>=|6
tls|the same over implicit TLS + AUTH (msg/s)|>=|5
fan|1 message to $RCPTS recipients (s)|<=|0.05
mbox|flush $FN into one mbox (msg/s)|>=|1
dsub|$DN sequential dma -D (msg/s)|>=|2
sub|$FN sequential submissions, DEFER (msg/s)|>=|4
huge_local|one $HUGE_MB MiB message, local (s)|<=|1
huge_smtp|one $HUGE_MB MiB message, SMTP (s)|<=|1
ROWS
echo
printf '%-44s %10s %10s   %-22s %s\n' "counts (last round)" ours reference "target (ours)" met
# cnt KEY1 KEY2 IMPL: "a/b"
cnt() {
	echo "${EC[$1.$3]:-n/a}/${EC[$2.$3]:-n/a}"
}
# le VALUE LIMIT: yes, no or -
le() {
	meets "$1" "<=" "$2"
}
both() {
	case $1$2 in
	*-*) echo - ;;
	*no*) echo no ;;
	*) echo yes ;;
	esac
}
printf '%-44s %10s %10s   %-22s %s\n' "smarthost: connections/transactions" \
    "$(cnt smtp.conn smtp.mail ours)" "$(cnt smtp.conn smtp.mail ref)" "<= 4 connections" \
    "$(le "${EC[smtp.conn.ours]:-}" 4)"
printf '%-44s %10s %10s   %-22s %s\n' "TLS + AUTH: handshakes/logins" \
    "$(cnt tls.hs tls.auth ours)" "$(cnt tls.hs tls.auth ref)" "<= 4 each" \
    "$(both "$(le "${EC[tls.hs.ours]:-}" 4)" "$(le "${EC[tls.auth.ours]:-}" 4)")"
printf '%-44s %10s %10s   %-22s %s\n' "fan-out: connections/transactions" \
    "$(cnt fan.conn fan.mail ours)" "$(cnt fan.conn fan.mail ref)" "1, <= 10" \
    "$(both "$(le "${EC[fan.conn.ours]:-}" 1)" "$(le "${EC[fan.mail.ours]:-}" 10)")"
printf '%-44s %10s %10s   %-22s %s\n' "mbox flush: processes/fsyncs (strace -f)" \
    "$(cnt mbox.proc mbox.sync ours)" "$(cnt mbox.proc mbox.sync ref)" "<= 8 processes" \
    "$(le "${EC[mbox.proc.ours]:-}" 8)"
for where in local smtp; do
	printf '%-44s %10s %10s   %-22s %s\n' "$HUGE_MB MiB, $where: peak RSS (KiB)" \
	    "${E_RUNS[rss_$where.ours]:-n/a}" "${E_RUNS[rss_$where.ref]:-n/a}" "<= 4096 KiB" \
	    "$(le "${E_RUNS[rss_$where.ours]:-}" 4096)"
done
# floor_report KEY REFKEY OURSKEY TEXT...: a floor's rate against the
# reference's and ours (each a median), under the lines of TEXT
floor_report() {
	local f r o
	f=$(emedian "$1")
	r=$(emedian "$2")
	o=$(emedian "$3")
	shift 3
	case $f$r$o in
	*[!0-9.]*) return ;;
	esac
	printf '%s\n' "$1" "$2"
	printf '  %s msg/s = %s x the reference, %s x ours\n' "$f" \
	    "$(awk -v a="$f" -v b="$r" 'BEGIN { printf "%.2f", a / b }')" \
	    "$(awk -v a="$f" -v b="$o" 'BEGIN { printf "%.2f", a / b }')"
	printf '%s\n' "$3" "$4"
}
echo
floor_report floor.ours sub.ref sub.ours \
    "floor of the DEFER submission row: test/bench/floor (a process start, one new" \
    "file, its fsync and the directory's, nothing else), the same loop and message:" \
    "  (no implementation that fsyncs a message before accepting it can pass" \
    "  floor / reference on this machine)"
floor_report dfloor.ours dsub.ref dsub.ours \
    "floor of the dma -D row: test/bench/floor -D (the same, then the message" \
    "appended to an mbox, that fsync'ed, the spool file removed; no lock):" \
    "  (the reference never fsyncs a mailbox; no implementation that makes the" \
    "  message and then the delivery durable can pass floor / reference here)"
sr=$(emedian sub.ref)
dr=$(emedian dsub.ref)
st=$(emedian start.ours)
case $st$sr$dr in
*[!0-9.]*) ;;
*)
	echo "process start alone: the same loop running /bin/true (no work at all):"
	printf '  %s/s = %s x the reference'"'"'s DEFER submissions, %s x its dma -D\n' "$st" \
	    "$(awk -v a="$st" -v b="$sr" 'BEGIN { printf "%.2f", a / b }')" \
	    "$(awk -v a="$st" -v b="$dr" 'BEGIN { printf "%.2f", a / b }')"
	echo "  (the most any program started once per message can reach in those rows)"
	;;
esac
echo
echo "per round (ours | reference):"
for key in smtp tls fan mbox dsub sub floor dfloor start; do
	printf '  %-10s %s | %s\n' "$key" "${E_RUNS[$key.ours]:-n/a}" "${E_RUNS[$key.ref]:-n/a}"
done
echo "Queue runs: \`dma -q\` for both (either may detach), timed until no Q file and"
echo "no dma process is left; every delivery is verified (mbox message count,"
echo "messages and recipients accepted by test/bench/sink).  The counts are the"
echo "sink's own (connections, TLS handshakes, AUTH logins, MAIL transactions)."
echo "The $HUGE_MB MiB runs are \`dma -q -D\` (so the reference delivers its only"
echo "entry itself), wall time and GNU time's peak RSS (%M)."
echo

echo "bench time: $((SECONDS - start)) s.  Reproduce: make bench"
exit $bad
