#!/bin/sh
# smoke.sh - run each libFuzzer target for a short time on a copy of its
# seed corpus (fuzz/corpus/<name>/) and with fuzz/<name>.dict if there is
# one; used by `make fuzz-smoke`.
#
# usage: sh fuzz/smoke.sh seconds fuzz/fuzz_name...
# Exits 1 if any target crashed, leaked, timed out or broke a contract;
# its work directory (with the crash-* input) is then kept and named.
# The committed corpora are never modified.

secs=$1
shift
if [ -z "$secs" ] || [ $# -eq 0 ]; then
	echo "usage: $0 seconds fuzz-binary..." >&2
	exit 2
fi
top=$(mktemp -d "${TMPDIR:-/tmp}/dma-fuzz-smoke.XXXXXX") || exit 2
failed=
for bin in "$@"; do
	name=${bin##*/fuzz_}
	work=$top/$name
	mkdir -p "$work/corpus"
	if [ -d "fuzz/corpus/$name" ]; then
		cp fuzz/corpus/"$name"/* "$work/corpus/" 2>/dev/null
	fi
	dict=
	if [ -f "fuzz/$name.dict" ]; then
		dict=-dict=fuzz/$name.dict
	fi
	printf '%-10s ' "$name"
	"$bin" $dict -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=1 -artifact_prefix="$work/" \
	    "$work/corpus" >"$work/log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
	cov=$(grep -o 'cov: [0-9]*' "$work/log" | tail -1)
	if [ $rc -ne 0 ]; then
		echo "FAILED (exit $rc): see $work/log"
		grep -m 5 -E '^(==[0-9]+==ERROR|fuzz:|SUMMARY)|runtime error' "$work/log"
		failed="$failed $name"
	else
		echo "ok: ${execs:-?} runs in ${secs}s, ${cov:-cov: ?}," \
		    "corpus $(ls "$work/corpus" | wc -l)"
		rm -rf "$work"
	fi
done
if [ -n "$failed" ]; then
	echo "fuzz-smoke failed:$failed (kept in $top)"
	exit 1
fi
rmdir "$top"
echo "fuzz-smoke: all targets ok"
