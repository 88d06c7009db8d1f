#!/bin/sh
# run-unit.sh - run TAP unit-test binaries and count their results.
#
# Usage: sh test/run-unit.sh [BINARY...]
#   Without arguments runs every executable test/unit/t_* (not *.c, *.d).
#
# A binary's lines "ok ..." count as passed, "not ok ..." as failed (a
# "# SKIP" directive counts as passed, "# TODO" lines as passed either
# way).  A binary that exits non-zero or dies by a signal without printing
# any "not ok" line counts as one extra failure; so does a binary that
# prints no result line at all.  Output of failing binaries is shown (all
# output with VERBOSE=1).  Sanitizer messages go to stderr and make the
# binary exit non-zero.
#
# Last line of output: "N passed, N failed"; exit status 1 if any failed.

set -u
cd "$(dirname "$0")/.." || exit 1
. test/tap.sh

: "${ASAN_OPTIONS:=detect_leaks=0:abort_on_error=0}"
: "${UBSAN_OPTIONS:=print_stacktrace=1:halt_on_error=1}"
export ASAN_OPTIONS UBSAN_OPTIONS

if [ $# -eq 0 ]; then
	for f in test/unit/t_*; do
		case $f in
		*.c | *.d | *.o | *.h) continue ;;
		esac
		[ -f "$f" ] && [ -x "$f" ] && set -- "$@" "$f"
	done
fi

passed=0
failed=0
tmp=$(mktemp /tmp/dma-unit.XXXXXX) || exit 1
trap 'rm -f "$tmp"' EXIT

for bin in "$@"; do
	name=${bin##*/}
	if [ ! -x "$bin" ]; then
		echo "FAIL $name: not built"
		failed=$((failed + 1))
		continue
	fi
	case $bin in
	/*) path=$bin ;;
	*) path=./$bin ;;
	esac
	timeout 120 "$path" >"$tmp" 2>&1 </dev/null
	tap_tally "$name" $? "$tmp"
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
