#!/bin/sh
# ns-run.sh - run one integration test script against a staged install,
# inside private mount, network, UTS, IPC and PID namespaces.
#
# Usage: sh test/ns-run.sh STAGE SCRIPT
#
#   STAGE   a tree made by `make install install-links DESTDIR=STAGE` (as
#           root, so owners and setuid/setgid bits are real)
#   SCRIPT  a bash test script; it is run as `. lib.sh; . SCRIPT` and
#           prints TAP (see test/integration/lib.sh)
#
# Inside the namespaces (nothing of this is visible on the host):
#   - hostname "testhost"; only the loopback interface, up, with
#     127.0.0.1, ::1 and (for getaddrinfo's AI_ADDRCONFIG) 192.0.2.1 and
#     2001:db8::1
#   - /etc, /usr and /var are overlay mounts whose upper layers live in the
#     per-test directory $T, so installing and useradd do not touch the host
#   - the STAGE tree is copied into / ; /usr/sbin/sendmail and
#     /usr/lib/sendmail point to the installed dma
#   - users alice (uid 2001) and bob (uid 2002), homes under $T/home
#   - fresh directories bind-mounted over /etc/dma (0755 root:root, empty),
#     /var/spool/dma (2770 root:mail), /var/mail (2775 root:mail) and a
#     fresh empty file over /etc/aliases
#   - /etc/resolv.conf "nameserver 127.0.0.1", /etc/hosts with testhost
#   - a private /dev (tmpfs with the usual nodes) whose /dev/log is served
#     by test/integration/syslogd.py writing to $T/syslog
#   - sanitizer reports (ASan/UBSan builds) go to /dev/shm/dma-san/
# Every process started inside dies with the PID namespace.
#
# Environment: KEEP_T=1 keeps $T after the run (its path is printed as a
# TAP comment).  DMA_FAKE_TIME="YYYY-MM-DD hh:mm:ss" starts every clock
# inside at that time (libfaketime, see below).  Exit status: that of the test script (124 style codes from
# a surrounding timeout are the caller's business).
# Needs root (unshare, mounts).

set -u

if [ "${1:-}" = "--inside" ]; then
	# ---- PID 1 of the new namespaces ---------------------------------
	set -e
	mount --make-rprivate /
	hostname testhost

	for d in etc usr var; do
		mkdir -p "$T/ovl/$d/u" "$T/ovl/$d/w"
		mount -t overlay overlay \
		    -o "lowerdir=/$d,upperdir=$T/ovl/$d/u,workdir=$T/ovl/$d/w" "/$d"
	done

	# A private /dev: the host has no /dev/log, and we must not create
	# one there.
	mount -t tmpfs -o mode=0755,nosuid tmpfs /dev
	mknod -m 0666 /dev/null c 1 3
	mknod -m 0666 /dev/zero c 1 5
	mknod -m 0666 /dev/full c 1 7
	mknod -m 0666 /dev/random c 1 8
	mknod -m 0666 /dev/urandom c 1 9
	mknod -m 0666 /dev/tty c 5 0
	ln -s /proc/self/fd /dev/fd
	ln -s /proc/self/fd/0 /dev/stdin
	ln -s /proc/self/fd/1 /dev/stdout
	ln -s /proc/self/fd/2 /dev/stderr
	mkdir -m 1777 /dev/shm
	mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
	mkdir -m 0755 /dev/pts
	mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts
	ln -s pts/ptmx /dev/ptmx

	# A fake clock, when DMA_FAKE_TIME is set ("2027-03-04 09:30:00", see
	# test/faketime.sh): libfaketime named in the overlay's
	# /etc/ld.so.preload, with the offset to that time in /etc/faketimerc,
	# so that every program started from here on runs on it, dma and
	# dma-mbox-create included.  LD_PRELOAD (the faketime command) would
	# not do: setgid and setuid programs ignore it.  A time namespace
	# would not either: it offsets the monotonic and boot clocks only,
	# never CLOCK_REALTIME.
	# libfaketime keeps state in a semaphore and a shared memory object
	# named by $FAKETIME_SHARED, made (mode 0600) by the first process
	# without that variable; a process of another user that inherits the
	# name cannot open them and exits.  So one keeper process makes them,
	# they are opened up to everyone, and everything here inherits them.
	if [ -n "${DMA_FAKE_TIME:-}" ]; then
		ftlib=$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -n 1)
		if [ -z "$ftlib" ]; then
			echo "not ok 1 - libfaketime installed (Debian package faketime)"
			exit 1
		fi
		ftoff=$(($(date -d "$DMA_FAKE_TIME" +%s) - $(date +%s)))
		if [ "$ftoff" -ge 0 ]; then
			echo "+$ftoff" > /etc/faketimerc
		else
			echo "$ftoff" > /etc/faketimerc
		fi
		echo "$ftlib" > /etc/ld.so.preload
		unset FAKETIME_SHARED
		sleep 2147483647 &
		ftkeep=$!
		i=0
		while [ ! -e "/dev/shm/sem.faketime_sem_$ftkeep" ] ||
		    [ ! -e "/dev/shm/faketime_shm_$ftkeep" ]; do
			i=$((i + 1))
			if [ $i -gt 100 ]; then
				echo "not ok 1 - libfaketime made its shared state"
				exit 1
			fi
			sleep 0.05
		done
		chmod 0666 "/dev/shm/sem.faketime_sem_$ftkeep" "/dev/shm/faketime_shm_$ftkeep"
		export FAKETIME_SHARED="/faketime_sem_$ftkeep /faketime_shm_$ftkeep"
	fi

	# The installation under test.
	# Only into the overlays: "cp -a STAGE/. /" would also copy the
	# stage's own mode onto the real, shared root directory.
	for d in "$STAGE"/*; do
		case ${d##*/} in
		etc|usr|var) cp -a "$d" / ;;
		*) echo "not ok 1 - staged install has ${d##*/} outside etc, usr, var"
		   exit 1 ;;
		esac
	done
	DMA=$(find "$STAGE" -type f -name dma -perm -2000 | head -n 1)
	DMA=${DMA#"$STAGE"}
	MBOXCREATE=$(find "$STAGE" -type f -name dma-mbox-create | head -n 1)
	MBOXCREATE=${MBOXCREATE#"$STAGE"}
	if [ -z "$DMA" ] || [ ! -x "$DMA" ]; then
		echo "not ok 1 - staged install contains a setgid dma"
		exit 1
	fi
	SBIN=$(dirname "$DMA")
	for l in /usr/sbin/sendmail /usr/lib/sendmail; do
		rm -f "$l"
		ln -s "$DMA" "$l"
	done

	# Test users.  Their uids must be free on the host, else the tests
	# would run with someone else's identity.
	for u in alice:2001 bob:2002; do
		name=${u%%:*} uid=${u#*:}
		if getent passwd "$uid" >/dev/null || getent passwd "$name" >/dev/null; then
			echo "not ok 1 - uid $uid / user $name free for the test user"
			exit 1
		fi
		mkdir -p "$T/home"
		useradd -u "$uid" -U -d "$T/home/$name" -m -s /bin/sh "$name"
	done

	# Fresh state over the system paths dma uses.
	mkdir -p "$T/fs/etc-dma" "$T/fs/spool" "$T/fs/mail" /etc/dma \
	    /var/spool/dma /var/mail
	: > "$T/fs/aliases"
	[ -e /etc/aliases ] || : > /etc/aliases
	chown root:root "$T/fs/etc-dma" "$T/fs/aliases"
	chmod 0755 "$T/fs/etc-dma"
	chmod 0644 "$T/fs/aliases"
	chown root:mail "$T/fs/spool" "$T/fs/mail"
	chmod 2770 "$T/fs/spool"
	chmod 2775 "$T/fs/mail"
	mount --bind "$T/fs/etc-dma" /etc/dma
	mount --bind "$T/fs/aliases" /etc/aliases
	mount --bind "$T/fs/spool" /var/spool/dma
	mount --bind "$T/fs/mail" /var/mail

	rm -f /etc/resolv.conf
	echo "nameserver 127.0.0.1" > /etc/resolv.conf
	rm -f /etc/hosts
	printf '127.0.0.1\tlocalhost testhost\n::1\tlocalhost ip6-localhost\n' \
	    > /etc/hosts
	ip link set lo up
	# glibc's AI_ADDRCONFIG ignores 127.0.0.1 and ::1: without another
	# address getaddrinfo() would find nothing at all.  These documentation
	# addresses live on lo too, so traffic still never leaves loopback.
	ip addr add 192.0.2.1/32 dev lo
	ip addr add 2001:db8::1/128 dev lo nodad

	# Sanitizer reports of ASan/UBSan builds (see test/san-options.c).
	mkdir -m 1777 /dev/shm/dma-san
	: > "$T/syslog"
	/usr/bin/python3 "$SRC/test/integration/syslogd.py" /dev/log "$T/syslog" \
	    </dev/null >>"$T/syslogd.err" 2>&1 &
	i=0
	while [ ! -S /dev/log ]; do
		i=$((i + 1))
		if [ $i -gt 100 ]; then
			echo "not ok 1 - syslog receiver started"
			cat "$T/syslogd.err" >&2
			exit 1
		fi
		sleep 0.05
	done

	export DMA SBIN MBOXCREATE
	export LIBEXEC="$(dirname "$MBOXCREATE")"
	export SPOOL=/var/spool/dma MAILDIR=/var/mail
	export PATH="$SBIN:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	export HOME=/root USER=root LOGNAME=root
	export ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:log_path=/dev/shm/dma-san/asan"
	export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=/dev/shm/dma-san/ubsan"
	unset EMAIL MAIL MAILRC || true
	cd "$T"
	set +e
	# The test runs in a child: this shell (PID 1) stays around to reap
	# orphaned dma daemons, so they do not linger as zombies.
	/bin/bash -c '. "$SRC/test/integration/lib.sh" && . "$1"' bash "$SCRIPT" \
	    </dev/null
	exit $?
fi

# ---- outside: prepare $T and enter the namespaces -----------------------
if [ $# -ne 2 ]; then
	echo "usage: $0 STAGE SCRIPT" >&2
	exit 64
fi
if [ "$(id -u)" != 0 ]; then
	echo "$0: must run as root (namespaces, mounts, setuid install)" >&2
	exit 77
fi
STAGE=$(cd "$1" && pwd) || exit 66
SCRIPT=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
SRC=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d /tmp/dmatest.XXXXXX) || exit 73
chmod 0755 "$T"
export STAGE SCRIPT SRC T

cleanup() {
	if [ "${KEEP_T:-0}" = 1 ]; then
		echo "# kept test directory $T"
	else
		rm -rf "$T"
	fi
}
trap 'cleanup; exit 143' TERM INT HUP

unshare --mount --net --uts --ipc --pid --fork --kill-child=SIGKILL \
    --mount-proc /bin/sh "$SRC/test/ns-run.sh" --inside
rc=$?
cleanup
exit $rc
