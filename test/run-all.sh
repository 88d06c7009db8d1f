#!/bin/sh
# run-all.sh - the whole test suite: unit tests, then the integration tests
# against the real installed binaries inside namespaces (test/ns-run.sh).
#
# Usage: sh test/run-all.sh [PATTERN...]
#   Without PATTERN: all unit tests and every test/integration/*.sh (except
#   the helper files *lib.sh).  With PATTERNs: unit tests are skipped and
#   only integration scripts whose file name contains one of the patterns
#   run, e.g. `sh test/run-all.sh local-` or `sh test/run-all.sh
#   local-mbox smtp-auth`.  PATTERN "unit" selects the unit tests.
#
# Expects `make all unit` to have been done (make check does it).  The
# integration part needs root: it stages `make install install-links
# DESTDIR=... TEST_STAGE=1` (inheriting the make variables of the calling
# make, e.g. the sanitizer flags of `make check-san`, which TEST_STAGE=1
# lets it stage) and runs each script with a time
# limit of $TEST_TIMEOUT seconds (default 300), or more where a script
# says "# test-timeout: SECONDS".
#
# Environment: VERBOSE=1 shows the output of passing scripts too;
# KEEP_T=1 keeps each script's temporary directory; TEST_TIMEOUT.
#
# Last line of output: "N passed, N failed" (assertions); exit status 1
# if anything failed.

set -u
cd "$(dirname "$0")/.." || exit 1
. test/tap.sh
SRC=$(pwd)
TEST_TIMEOUT=${TEST_TIMEOUT:-300}

passed=0
failed=0

want() {
	# want NAME: 0 if NAME is selected by the command-line patterns.
	[ $# -gt 0 ] || return 1
	[ -z "$PATTERNS" ] && return 0
	for p in $PATTERNS; do
		case $1 in
		*"$p"*) return 0 ;;
		esac
	done
	return 1
}
PATTERNS="$*"

# ---- unit tests -----------------------------------------------------------
if want unit; then
	echo "== unit tests"
	out=$(sh test/run-unit.sh)
	printf '%s\n' "$out" | sed '$d'
	last=$(printf '%s\n' "$out" | tail -n 1)
	p=$(printf '%s\n' "$last" | sed -n 's/^\([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed$/\1/p')
	f=$(printf '%s\n' "$last" | sed -n 's/^\([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed$/\2/p')
	if [ -z "$p" ]; then
		echo "FAIL run-unit.sh gave no summary"
		p=0 f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
fi

# ---- the manual: mandoc -Tlint clean ----------------------------------------
if want unit || want lint; then
	if out=$(mandoc -Tlint -W warning dma.8 2>&1) && [ -z "$out" ]; then
		echo "PASS mandoc -Tlint dma.8"
		passed=$((passed + 1))
	else
		echo "FAIL mandoc -Tlint dma.8"
		printf '%s\n' "$out" | sed 's/^/    /'
		failed=$((failed + 1))
	fi
fi

# ---- integration tests ----------------------------------------------------
scripts=""
for s in test/integration/*.sh; do
	[ -f "$s" ] || continue
	n=${s##*/}
	case $n in
	*lib.sh) continue ;;
	esac
	want "$n" && scripts="$scripts $s"
done

if [ -n "$scripts" ]; then
	echo "== integration tests"
	if [ "$(id -u)" != 0 ]; then
		echo "FAIL integration tests need root (namespaces, setuid install)"
		failed=$((failed + 1))
		scripts=""
	fi
fi

if [ -n "$scripts" ]; then
	STAGE=$(mktemp -d /tmp/dma-stage.XXXXXX) || exit 1
	tmp=$(mktemp /tmp/dma-out.XXXXXX) || exit 1
	trap 'rm -rf "$STAGE" "$tmp"' EXIT
	chmod 0755 "$STAGE"
	if ! make -s install install-links DESTDIR="$STAGE" TEST_STAGE=1 >"$tmp" 2>&1; then
		echo "FAIL make install DESTDIR=$STAGE"
		awk '{ print "    " $0 }' "$tmp"
		failed=$((failed + 1))
		scripts=""
	fi
fi

for s in $scripts; do
	n=${s##*/}
	start=$(date +%s)
	# A script that kills a process at each of its system calls may ask
	# for more time with a line "# test-timeout: SECONDS" (a sanitizer
	# build makes every call slower); never less than TEST_TIMEOUT.
	limit=$(sed -n 's/^# test-timeout: \([0-9][0-9]*\)$/\1/p' "$s" | head -n 1)
	[ -n "$limit" ] && [ "$limit" -gt "$TEST_TIMEOUT" ] || limit=$TEST_TIMEOUT
	timeout -k 10 "$limit" sh test/ns-run.sh "$STAGE" "$s" >"$tmp" 2>&1
	st=$?
	tap_tally "$n" "$st" "$tmp" " [$(($(date +%s) - start))s]"
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
