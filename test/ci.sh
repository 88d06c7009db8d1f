#!/bin/sh
# test/ci.sh - install the test dependencies (Debian 12) and run the whole
# suite: a normal -Werror build, the date-sensitive tests again on other
# dates under faketime (test/faketime.sh), and an ASan+UBSan build.  Needs
# root.  Ends with one line "N passed, N failed" over all runs, and leaves
# the tree clean (make clean), so that no test build is installed by
# mistake afterwards.
set -u
cd "$(dirname "$0")/.." || exit 1
if [ "$(id -u)" != 0 ]; then
	echo "test/ci.sh: the integration tests need root (and it installs the test dependencies with apt-get)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || exit 1
apt-get install -y -qq \
    build-essential bison flex libssl-dev libidn2-dev mandoc dnsmasq-base \
    python3-aiosmtpd openssl ca-certificates bsd-mailx s-nail mutt git-email \
    php-cli iproute2 util-linux passwd procps git strace faketime systemd \
    debhelper dpkg-dev fakeroot </dev/null >/dev/null || exit 1
# Debian 12's dma 0.13 and bsd-mailx for test/integration/install-deb.sh,
# which has no network: fetched, not installed.
debs=${DMA_TEST_DEBS:-/var/cache/dma-test/debs}
v013=$(apt-cache madison dma |
    awk -F'|' '{ gsub(/ /, "", $2) } $2 ~ /^0\.13/ { print $2; exit }')
mkdir -p "$debs" && (cd "$debs" && rm -f ./*.deb &&
    apt-get download -qq "dma=$v013" bsd-mailx </dev/null >/dev/null 2>&1) || {
	echo "test/ci.sh: apt-get download dma=$v013 bsd-mailx into $debs failed" >&2
	exit 1
}

log=$(mktemp -d /tmp/dma-ci.XXXXXX)
status=0
make clean >/dev/null
make -j"$(nproc)" all unit WERROR=-Werror </dev/null >/dev/null 2>&1
make check WERROR=-Werror </dev/null 2>&1 | tee "$log/plain"
WERROR=-Werror sh test/faketime.sh </dev/null 2>&1 | tee "$log/faketime"
make check-san </dev/null 2>&1 | tee "$log/san"
make clean >/dev/null
pass=0
fail=0
for f in "$log/plain" "$log/faketime" "$log/san"; do
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$f" | tail -n 1)
	if [ -z "$line" ]; then
		echo "no test summary in $(basename "$f") run"
		fail=$((fail + 1))
		continue
	fi
	p=${line%% passed*}
	q=${line#*passed, }
	q=${q%% failed*}
	pass=$((pass + p))
	fail=$((fail + q))
done
[ "$fail" -eq 0 ] || status=1
rm -rf "$log"
echo "$pass passed, $fail failed"
exit $status
