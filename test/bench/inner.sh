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
#   BENCH_ROUNDS       rounds of the throughput runs (default 5; the median
#                      is reported)
#
# Exit status: 0 when every figure of ours was measured and verified, 1 if
# the bench could not run or some delivery could not be verified.

# lib.sh's EXIT trap prints a TAP plan and judges assertions; a benchmark
# prints figures instead.
trap - EXIT

N=${BENCH_N:-300}
BIG=${BENCH_BIG:-5}
REFBIN=/usr/lib/dma-ref/dma
OUT=$T/bench-out
mkdir -p "$OUT"
chmod 1777 "$OUT"
ROUNDS=${BENCH_ROUNDS:-5}
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
	: | dma_conf
}

conf_defer() { echo DEFER | dma_conf; }
conf_local() { : | dma_conf; }
conf_remote() { printf 'SMARTHOST 127.0.0.1\nPORT %s\n' "$SINK_PORT" | dma_conf; }

# _idle: no Q file left and no dma process alive (the cheap test first:
# pgrep walks /proc).
_idle() {
	local f
	for f in "$SPOOL"/Q*; do
		[ -e "$f" ] && return 1
	done
	! pgrep -x -r R,S,D,T,t 'dma(-mbox-.*)?' >/dev/null
}

# wait_idle SECS: 1 on timeout
wait_idle() {
	local start=$SECONDS
	until _idle; do
		[ $((SECONDS - start)) -ge "$1" ] && return 1
		sleep 0.02
	done
	return 0
}

# wait_noproc SECS: until no dma process is alive (DEFER leaves Q files);
# 1 on timeout
wait_noproc() {
	local start=$SECONDS
	while pgrep -x -r R,S,D,T,t 'dma(-mbox-.*)?' >/dev/null; do
		[ $((SECONDS - start)) -ge "$1" ] && return 1
		sleep 0.02
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

sink_count() {
	grep -c '^MSG ' "$OUT/sink.out"
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
	local t0 t1 before got ok=1
	before=$(sink_count)
	if [ "$3" = local ]; then conf_local; else conf_remote; fi
	t0=$EPOCHREALTIME
	run_queue "$1" </dev/null >/dev/null 2>&1
	wait_idle 120 || ok=0
	t1=$EPOCHREALTIME
	if [ "$3" = local ]; then
		got=$(count_msgs /var/mail/bob)
	else
		got=$(($(sink_count) - before))
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
		if [ $where = local ]; then conf_local; else conf_remote; fi
		rm -f "$OUT/rss"
		# -D for both: the reference then delivers its only entry itself.
		/usr/bin/time -f %M -o "$OUT/rss" "$bin" -q -D </dev/null >/dev/null 2>&1
		wait_idle 60
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

# ---- the sink for remote deliveries --------------------------------------
/usr/bin/python3 "$SRC/test/bench/sink.py" >"$OUT/sink.out" 2>"$OUT/sink.err" </dev/null &
SINK_PID=$!
for _ in $(seq 100); do
	grep -q '^READY ' "$OUT/sink.out" 2>/dev/null && break
	sleep 0.1
done
SINK_PORT=$(sed -n 's/^READY //p' "$OUT/sink.out")
[ -n "$SINK_PORT" ] || die_bench "the SMTP sink did not start: $(cat "$OUT/sink.err")"

# ---- counts that explain the figures --------------------------------------
# counts IMPL: one untimed pass of CN messages under strace -f for each of
# submission, local and remote delivery; C[metric.impl] := per message:
# fsync+fdatasync calls, processes started (fork/vfork/clone without
# CLONE_THREAD), TCP connections (connect to AF_INET/AF_INET6).
CN=20
declare -A C
have_strace=0
command -v strace >/dev/null 2>&1 && have_strace=1

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
			conf_remote
		fi
		strace -f -qq -o "$trace.dlv" \
		    -e trace=fsync,fdatasync,fork,vfork,clone,clone3,connect \
		    /bin/sh -c "$cmd" </dev/null >/dev/null 2>&1
		wait_idle 120
		C[$where.sync.$impl]=$(tally "$trace.dlv" sync)
		C[$where.proc.$impl]=$(tally "$trace.dlv" proc)
		C[$where.tcp.$impl]=$(tally "$trace.dlv" tcp)
	done
}

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
reset_state
kill "$SINK_PID" 2>/dev/null

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
echo "bench time: $((SECONDS - start)) s.  Reproduce: make bench"
exit $bad
