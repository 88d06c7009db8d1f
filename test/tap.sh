# tap.sh - count one TAP producer's results (sourced by run-unit.sh and
# run-all.sh, which keep the totals in $passed and $failed).
#
# tap_tally NAME STATUS FILE [SUFFIX]
#   FILE holds the producer's output, STATUS its exit status (124 or 137:
#   killed by timeout).  "ok" lines pass, "not ok" lines fail; a producer
#   that timed out, or exited non-zero without a "not ok" line, or printed
#   no result at all, counts one more failure.  Prints "PASS NAME: ..." or
#   "FAIL NAME: ..." (with the output, indented), SUFFIX after the counts.
tap_tally() {
	local name=$1 st=$2 file=$3 suffix=${4:-} p f extra=0 why=""

	p=$(grep -c '^ok' "$file")
	f=$(grep -c '^not ok' "$file")
	if [ "$st" -eq 124 ] || [ "$st" -eq 137 ]; then
		extra=1
		why=" (timed out)"
	elif [ "$st" -ne 0 ] && [ "$f" -eq 0 ]; then
		extra=1
		why=" (exit status $st)"
	elif [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
		extra=1
		why=" (no test results)"
	fi
	passed=$((passed + p))
	failed=$((failed + f + extra))
	if [ $((f + extra)) -gt 0 ]; then
		echo "FAIL $name: $p passed, $((f + extra)) failed$why$suffix"
		awk '{ print "    " $0 }' "$file"
	else
		echo "PASS $name: $p passed$suffix"
		[ "${VERBOSE:-0}" = 1 ] && awk '{ print "    " $0 }' "$file"
	fi
	return 0
}
