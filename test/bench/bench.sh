#!/bin/sh
# bench.sh - `make bench`: speed and memory of the installed dma as ratios
# against a reference measured in the same run (see test/bench/README).
#
# Usage: sh test/bench/bench.sh          (root; after `make all test/bench/sink`)
#
#   1. fetches the reference, Debian 12's dma package, with
#      `apt-get download dma` into a temporary directory and unpacks it
#      with dpkg-deb -x (nothing is installed on the host; `apt-get update`
#      is tried once if the download fails).  DMA_REF_DEB=FILE uses a .deb
#      at hand instead; DMA_REF=floor skips the download and compares with
#      the floor stand-in test/bench/floor.sh (also the fallback when no
#      package can be had).
#   2. stages `make install install-links DESTDIR=...` like test/run-all.sh
#   3. runs test/bench/inner.sh through test/ns-run.sh: everything, the
#      reference's installation included, happens inside the private
#      namespaces and overlays of the test suite.
#
# Environment: BENCH_* (see inner.sh and README), BENCH_TIMEOUT (seconds,
# default 900), KEEP_T=1 (keep the namespace's directory, see ns-run.sh).
# Output: plain text, a table of figures and ratios.  Exit status: 0 when
# the figures were measured, non-zero only when the benchmark could not run
# (or could not verify one of its own deliveries); slow figures never fail.

set -u
cd "$(dirname "$0")/../.." || exit 1

if [ "$(id -u)" != 0 ]; then
	echo "bench: must run as root (namespaces, setuid install)" >&2
	exit 1
fi
for f in dma dma-mbox-create test/bench/sink; do
	if [ ! -x "$f" ]; then
		echo "bench: $f is not built (make bench builds it)" >&2
		exit 1
	fi
done

WORK=$(mktemp -d /tmp/dma-bench.XXXXXX) || exit 1
chmod 0755 "$WORK"
trap 'rm -rf "$WORK"' EXIT
trap 'exit 143' INT TERM HUP

# ---- the reference --------------------------------------------------------
BENCH_REF=""
BENCH_REF_NAME=""
BENCH_FLOOR_WHY=""
deb=""
if [ "${DMA_REF:-}" = floor ]; then
	BENCH_FLOOR_WHY="DMA_REF=floor"
elif [ -n "${DMA_REF_DEB:-}" ]; then
	deb=$DMA_REF_DEB
else
	mkdir "$WORK/deb"
	# _apt (apt's download user) must be able to write there.
	if getent passwd _apt >/dev/null; then
		chown _apt "$WORK/deb"
	fi
	# The version an archive has, not the installed one: a dma built
	# from this tree and installed as a package is its own candidate.
	refpkg() {
		v=$(apt-cache madison dma 2>/dev/null | awk -F'|' 'NR == 1 { gsub(/ /, "", $2); print $2 }')
		echo "dma${v:+=$v}"
	}
	if ! (cd "$WORK/deb" && apt-get -q download "$(refpkg)") >"$WORK/apt.log" 2>&1; then
		apt-get -q update >>"$WORK/apt.log" 2>&1
		(cd "$WORK/deb" && apt-get -q download "$(refpkg)") >>"$WORK/apt.log" 2>&1
	fi
	deb=$(ls "$WORK"/deb/dma_*.deb 2>/dev/null | head -n 1)
	if [ -z "$deb" ]; then
		echo "bench: could not download the dma package; using the floor reference" >&2
		BENCH_FLOOR_WHY="the download failed"
		sed 's/^/bench:   apt: /' "$WORK/apt.log" | tail -n 5 >&2
	fi
fi
if [ -n "$deb" ]; then
	if dpkg-deb -x "$deb" "$WORK/ref" &&
	    [ -f "$WORK/ref/usr/sbin/dma" ] &&
	    [ -f "$WORK/ref/usr/lib/dma/dma-mbox-create" ]; then
		BENCH_REF=$WORK/ref
		BENCH_REF_NAME="Debian dma $(dpkg-deb -f "$deb" Version)"
	else
		echo "bench: $deb does not hold usr/sbin/dma and usr/lib/dma/dma-mbox-create" >&2
		exit 1
	fi
fi
export BENCH_REF BENCH_REF_NAME BENCH_FLOOR_WHY

# ---- the installation under test -----------------------------------------
mkdir "$WORK/stage"
if ! make -s install install-links DESTDIR="$WORK/stage" >"$WORK/install.log" 2>&1; then
	echo "bench: make install DESTDIR=$WORK/stage failed:" >&2
	cat "$WORK/install.log" >&2
	exit 1
fi

timeout -k 10 "${BENCH_TIMEOUT:-900}" sh test/ns-run.sh "$WORK/stage" test/bench/inner.sh
st=$?
if [ "$st" -ne 0 ]; then
	echo "bench: the benchmark did not complete (exit status $st)" >&2
fi
exit "$st"
