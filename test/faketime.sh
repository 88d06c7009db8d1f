#!/bin/sh
# faketime.sh - the date-sensitive tests on other dates: a one-digit day
# (2027-03-04) and a leap day (2028-02-29, in the time zone UTC-03:30), so
# a test that only passes on some days of the month (or of the year, or in
# some zones) fails here every day.
#
# Usage: sh test/faketime.sh [DATE[|TZ]...]   (root; after `make all unit`)
#   DATE is "YYYY-MM-DD hh:mm:ss" (local time), TZ a value for $TZ; without
#   arguments "2027-03-04 09:30:00" and "2028-02-29 12:00:00|XST+3:30".
#
# How the clock is faked (Debian package faketime, libfaketime):
#   - unit tests: `faketime -f "@DATE"` (LD_PRELOAD; the clock starts at
#     DATE and runs), all but t_spool: it sets and compares file times,
#     which libfaketime cannot keep consistent (the kernel stamps files
#     with the real clock; libfaketime shifts what stat() returns but
#     not what utimes() writes), and it formats no dates;
#   - integration tests: DMA_FAKE_TIME=DATE for test/ns-run.sh, which
#     names libfaketime in /etc/ld.so.preload inside the test namespace,
#     because dma is setgid and dma-mbox-create setuid: both ignore
#     LD_PRELOAD, so `faketime` around the test script would fake the
#     clients' clock but not dma's.  A time namespace (unshare --time)
#     cannot help: it offsets CLOCK_MONOTONIC and CLOCK_BOOTTIME only,
#     never CLOCK_REALTIME.  clock.sh checks that dma really ran on DATE.
#
# Last line of output: "N passed, N failed" over every date; exit status 1
# if anything failed.

set -u
cd "$(dirname "$0")/.." || exit 1

SCRIPTS="clock clients-git clients-mua local-mbox local-bounce log-shape"
[ $# -gt 0 ] || set -- "2027-03-04 09:30:00" "2028-02-29 12:00:00|XST+3:30"

UNITS=""
for f in test/unit/t_*; do
	case $f in
	*.c | *.d | *.o | *.h | */t_spool) continue ;;
	esac
	[ -f "$f" ] && [ -x "$f" ] && UNITS="$UNITS $f"
done

passed=0
failed=0

# add OUTPUT: count its last "N passed, N failed" line
add() {
	line=$(printf '%s\n' "$1" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
	if [ -z "$line" ]; then
		echo "FAIL no test summary"
		failed=$((failed + 1))
		return
	fi
	passed=$((passed + ${line%% passed*}))
	q=${line#*passed, }
	failed=$((failed + ${q%% failed*}))
}

if ! command -v faketime >/dev/null 2>&1; then
	echo "FAIL faketime not installed (Debian package faketime)"
	echo "0 passed, 1 failed"
	exit 1
fi

tz0=${TZ-}
tz0set=${TZ+set}
for arg in "$@"; do
	d=${arg%%|*}
	if [ "$arg" != "$d" ]; then
		export TZ="${arg#*|}"
		echo "== time zone TZ=$TZ"
	elif [ -n "$tz0set" ]; then
		export TZ="$tz0"
	else
		unset TZ
	fi
	echo "== unit tests on $d"
	# shellcheck disable=SC2086
	out=$(faketime -f "@$d" sh test/run-unit.sh $UNITS 2>&1)
	printf '%s\n' "$out" | sed '$d'
	add "$out"
	# The fake clock reaches the unit tests: a binary that prints the date.
	day=$(faketime -f "@$d" date +%F)
	if [ "$day" = "${d%% *}" ]; then
		echo "PASS faketime: the clock of the unit tests says ${d%% *}"
		passed=$((passed + 1))
	else
		echo "FAIL faketime: the clock says $day, not ${d%% *}"
		failed=$((failed + 1))
	fi
	echo "== integration tests on $d"
	# shellcheck disable=SC2086
	out=$(DMA_FAKE_TIME=$d sh test/run-all.sh $SCRIPTS 2>&1)
	printf '%s\n' "$out" | sed '$d'
	add "$out"
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
