# lib.sh - helpers for the integration tests (bash).
#
# Every test/integration/*.sh script is run by test/ns-run.sh inside its own
# namespaces as `. lib.sh; . SCRIPT` with bash, cwd $T, as root.  The
# script prints TAP; test/run-all.sh counts `ok` / `not ok` lines.  This
# file is an interface used by all test scripts: keep it stable, extend it
# compatibly, and keep this comment in sync.
#
# ENVIRONMENT (set by ns-run.sh)
#   $T        per-test temporary directory (0755, cwd; deleted afterwards)
#   $SRC      the source tree
#   $DMA      full path of the installed dma (setgid mail)
#   $SBIN     its directory (first in $PATH; sendmail, mailq, newaliases
#             links live there; /usr/sbin/sendmail points to $DMA too)
#   $LIBEXEC  directory of the installed dma-mbox-create ($MBOXCREATE)
#   $SPOOL    /var/spool/dma        $MAILDIR  /var/mail
#   $DMA_FAKE_TIME  only under test/faketime.sh: the date every clock in
#             the namespace was set to, e.g. "2027-03-04 09:30:00" (scripts
#             must pass on any date; clock.sh checks the fake clock works)
#   Hostname is "testhost"; users alice (uid 2001) and bob (uid 2002)
#   exist, with their own groups; /etc/dma, /etc/aliases, the spool and
#   /var/mail start empty.  Network: loopback only (lo has 127.0.0.1, ::1,
#   192.0.2.1 and 2001:db8::1); resolv.conf names 127.0.0.1.  Syslog goes
#   to $T/syslog, one record per line, formatted
#   "{facility}.{severity} {ident}: {message}" (see syslogd.py), e.g.
#   "mail.info dma[86]: a72311.1: <root> delivery successful" (the ident
#   is "dma" or the -L tag, with the pid; the queue id starts the text).
#   $T/syslog.raw has the datagrams as received, one per line, with
#   newlines shown as \n: "<22>Dec  6 11:08:37 dma[86]: a72311.1: ...".
#
# ASSERTIONS (each prints "ok N - DESC" or "not ok N - DESC" plus "# "
# diagnostic lines; the first failure of a script also dumps the logs)
#   ok DESC CMD...           passes if CMD exits 0 (its output is shown
#                            only on failure)
#   not_ok DESC CMD...       passes if CMD exits non-zero
#   is DESC GOT WANT         string equality (diff shown on failure)
#   like DESC GOT ERE        some line of GOT matches the extended regex
#   unlike DESC GOT ERE      no line of GOT matches
#   is_file DESC FILE EXPECTED_FILE   byte equality, unified diff on failure
#   is_mode DESC PATH MODE   octal mode as `stat -c %a` prints it, e.g. 660
#                            or 2770
#   is_owner DESC PATH USER:GROUP
#   skip DESC REASON         "ok N - DESC # SKIP REASON"
#   diag TEXT...             print "# " lines
#
# RUNNING THINGS
#   run_as USER CMD...       run CMD as USER (real+effective uid/gid, the
#                            user's groups) with a clean environment: HOME,
#                            USER, LOGNAME, PATH (+ sanitizer options); stdin
#                            and stdout/stderr inherited.  USER may be root.
#   run_dma [ARGS...]        $DMA ARGS as root, stdin inherited, output not
#                            captured (redirect as needed)
#   send_as USER ARGS... <MSG   run_as USER $DMA ARGS...
#   capture CMD...           run CMD, set $out (stdout), $err (stderr),
#                            $rc (exit status); trailing newlines stripped
#                            as by $(...).  stdin inherited.
#   kill_dma                 SIGKILL every dma process of this namespace
#                            (e.g. deliveries sleeping before a retry)
#
# CONFIGURATION
#   dma_conf   <TEXT         /etc/dma/dma.conf  := stdin, 0640 root:mail
#   auth_conf  <TEXT         /etc/dma/auth.conf := stdin, 0640 root:mail
#   aliases_file <TEXT       /etc/aliases := stdin, 0644 (rewritten in place:
#                            it is a bind mount, never rm/mv it)
#
# WAITING
#   wait_queue_empty [SECS]  until no Q* file is in $SPOOL and no dma
#                            process (dma, sendmail, mailq, newaliases) runs;
#                            default 30 s; returns 1 on timeout
#   wait_until SECS CMD...   poll CMD every 0.1 s; 1 on timeout
#   dma_running              0 if some dma process is alive (not zombie)
#
# MAIL AND QUEUE INSPECTION
#   qfiles                   names of the Q files in $SPOOL, sorted, one per
#                            line (empty output if none)
#   count_msgs FILE          number of "From " lines in an mbox (0 if none)
#   spool_msg MFILE          the message of a spool M file as delivery reads
#                            it: without the envelope trailer that ends a
#                            version 2 M file (last line "DMA-Trailer: VVV
#                            {16 hex digits: where the trailer starts}");
#                            a file without one (upstream's) as it is
#   spool_rest               the spool's file names, one per line, but for
#                            the flush file and the mailbox journals J*
#   mask_mbox FILE           print FILE with varying values masked:
#       "From {sender} {ctime}"              -> "From {sender} DATE"
#           (ctime must look like "Sat Nov 21 05:36:22 2026")
#       "Date: {rfc822 date}" header         -> "Date: DATE"
#           (clients write it: the day may have one digit or be padded
#           with a space, "Fri,  4 Dec 2026"; the weekday and seconds
#           are optional, as RFC 5322 allows)
#       "\t{rfc822 date}" (end of Received)  -> "\tDATE"
#           (rfc822 date like "Sat, 21 Nov 2026 05:35:29 +0000")
#       "\tid {hex}[.{hex}]" (Received)      -> "\tid QID"
#       "Message-Id: <{x}@{y}>"              -> "Message-Id: <MSGID>"
#       Anything not matching these exact shapes is left as is, so a wrong
#       format makes the comparison fail.
#   received_masked USER UID SENDER
#                            print the Received header dma writes for a
#                            submission by USER (uid UID) with envelope
#                            sender SENDER, as mask_mbox shows it
#   $DMA_VERSION             version string of the build (Makefile), e.g.
#                            v0.14; $HOST is testhost
#   syslog_sync              wait until every record logged so far is in
#                            $T/syslog (sends a marker with logger(1))
#   syslog_has ERE           syslog_sync, then grep -E the log; status 0/1
#   syslog_mark              remember how far the log is now
#   logged ERE               like syslog_has, only lines since syslog_mark
#   dump_logs                print syslog, spool and mail dir listings,
#                            processes and sanitizer reports as "# " lines
#
# At exit the plan line "1..N" is printed; sanitizer reports found in
# /dev/shm/dma-san (ASan/UBSan builds log there, see test/san-options.c)
# add a failing assertion, and so does a script that breaks off with an
# exit status above 1 (syntax error, missing command).  The exit status is
# 1 if any assertion failed.
#
# Scripts must not install their own EXIT trap (this file owns it): put
# cleanup at the end of the script; everything a script starts dies with
# the namespace anyway.
#
# Other helper files test/integration/*lib.sh (dnslib.sh, smtplib.sh, ...)
# are sourced after this one.

HOST=testhost
DMA_VERSION=$(sed -n 's/^DMA_VERSION[ ?:]*=[[:space:]]*//p' "$SRC/Makefile" | head -n 1)

_tap_n=0
_tap_fail=0
_tap_dumped=0
_lib_sync_n=0

diag() {
	local l
	printf '%s\n' "$*" | while IFS= read -r l; do
		printf '# %s\n' "$l"
	done
}

# _diag_file FILE [MAXLINES]: print a file as diagnostics.
_diag_file() {
	local max=${2:-200}
	[ -f "$1" ] || return 0
	head -n "$max" "$1" | sed 's/^/# /'
	if [ "$(wc -l <"$1")" -gt "$max" ]; then
		echo "# ... (truncated)"
	fi
}

_pass() {
	_tap_n=$((_tap_n + 1))
	printf 'ok %d - %s\n' "$_tap_n" "$1"
}

_fail() {
	_tap_n=$((_tap_n + 1))
	_tap_fail=$((_tap_fail + 1))
	printf 'not ok %d - %s\n' "$_tap_n" "$1"
	local caller_info="${BASH_SOURCE[2]:-?}:${BASH_LINENO[1]:-?}"
	printf '#   at %s\n' "${caller_info##*/}"
}

# Called after the diagnostics of a failure.
_after_fail() {
	if [ "$_tap_dumped" = 0 ]; then
		_tap_dumped=1
		dump_logs
	fi
}

ok() {
	local desc=$1
	shift
	if "$@" >"$T/.ok.out" 2>&1; then
		_pass "$desc"
	else
		local st=$?
		_fail "$desc"
		diag "command: $* (exit $st)"
		_diag_file "$T/.ok.out" 50
		_after_fail
		return 1
	fi
}

not_ok() {
	local desc=$1
	shift
	if "$@" >"$T/.ok.out" 2>&1; then
		_fail "$desc"
		diag "command unexpectedly succeeded: $*"
		_diag_file "$T/.ok.out" 50
		_after_fail
		return 1
	else
		_pass "$desc"
	fi
}

is() {
	if [ "$2" = "$3" ]; then
		_pass "$1"
	else
		_fail "$1"
		printf '%s\n' "$3" >"$T/.is.want"
		printf '%s\n' "$2" >"$T/.is.got"
		diag "--- want / +++ got"
		diff -u "$T/.is.want" "$T/.is.got" | tail -n +3 | sed 's/^/# /'
		_after_fail
		return 1
	fi
}

like() {
	if printf '%s\n' "$2" | grep -Eq -- "$3"; then
		_pass "$1"
	else
		_fail "$1"
		diag "no line matches: $3" "got:" "$2"
		_after_fail
		return 1
	fi
}

unlike() {
	if printf '%s\n' "$2" | grep -Eq -- "$3"; then
		_fail "$1"
		diag "a line matches: $3" "got:" "$2"
		_after_fail
		return 1
	else
		_pass "$1"
	fi
}

is_file() {
	if [ ! -f "$2" ]; then
		_fail "$1"
		diag "missing file: $2"
		_after_fail
		return 1
	fi
	if cmp -s "$3" "$2"; then
		_pass "$1"
	else
		_fail "$1"
		diag "--- want $3 / +++ got $2"
		diff -u "$3" "$2" | tail -n +3 | head -n 100 | sed 's/^/# /'
		_after_fail
		return 1
	fi
}

is_mode() {
	local m
	m=$(stat -c %a -- "$2" 2>&1)
	if [ "$m" = "$3" ]; then
		_pass "$1"
	else
		_fail "$1"
		diag "mode of $2: got $m, want $3"
		_after_fail
		return 1
	fi
}

is_owner() {
	local o
	o=$(stat -c %U:%G -- "$2" 2>&1)
	if [ "$o" = "$3" ]; then
		_pass "$1"
	else
		_fail "$1"
		diag "owner of $2: got $o, want $3"
		_after_fail
		return 1
	fi
}

skip() {
	_tap_n=$((_tap_n + 1))
	printf 'ok %d - %s # SKIP %s\n' "$_tap_n" "$1" "$2"
}

run_as() {
	local u=$1 home
	shift
	home=$(getent passwd "$u" | cut -d: -f6)
	if [ -z "$home" ]; then
		echo "run_as: no user $u" >&2
		return 127
	fi
	if [ "$u" = root ]; then
		env -i HOME="$home" USER="$u" LOGNAME="$u" PATH="$PATH" \
		    ASAN_OPTIONS="${ASAN_OPTIONS:-}" \
		    UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" "$@"
	else
		setpriv --reuid="$u" --regid="$u" --init-groups \
		    env -i HOME="$home" USER="$u" LOGNAME="$u" PATH="$PATH" \
		    ASAN_OPTIONS="${ASAN_OPTIONS:-}" \
		    UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" "$@"
	fi
}

run_dma() {
	"$DMA" "$@"
}

send_as() {
	local u=$1
	shift
	run_as "$u" "$DMA" "$@"
}

capture() {
	"$@" >"$T/.cap.out" 2>"$T/.cap.err"
	rc=$?
	out=$(cat "$T/.cap.out")
	err=$(cat "$T/.cap.err")
	return 0
}

dma_conf() {
	cat >/etc/dma/dma.conf
	chown root:mail /etc/dma/dma.conf
	chmod 0640 /etc/dma/dma.conf
}

auth_conf() {
	cat >/etc/dma/auth.conf
	chown root:mail /etc/dma/auth.conf
	chmod 0640 /etc/dma/auth.conf
}

aliases_file() {
	cat >/etc/aliases
	chmod 0644 /etc/aliases
}

# Live (non-zombie) processes of the installed programs.
_dma_pids() {
	pgrep -x -r R,S,D,T,t 'dma|sendmail|mailq|newaliases' 2>/dev/null
}

dma_running() {
	_dma_pids >/dev/null
}

kill_dma() {
	local p
	for p in $(_dma_pids); do
		kill -KILL "$p" 2>/dev/null
	done
	wait_until 5 sh -c '! pgrep -x -r R,S,D,T,t "dma|sendmail|mailq|newaliases" >/dev/null 2>&1'
}

wait_until() {
	local limit=$(($1 * 10)) i=0
	shift
	while ! "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -ge $limit ] && return 1
		sleep 0.1
	done
	return 0
}

_queue_idle() {
	[ -z "$(qfiles)" ] && ! dma_running
}

wait_queue_empty() {
	wait_until "${1:-30}" _queue_idle
}

qfiles() {
	ls -1 "$SPOOL" 2>/dev/null | grep '^Q' | sort
}

# qrcpts: the recipients queued, one line each (a Q file of version 3 holds
# several: the remote recipients of one message at one domain)
qrcpts() {
	local f
	for f in "$SPOOL"/Q*; do
		[ -f "$f" ] && sed -n 's/^Recipient: *//p' "$f"
	done
}

spool_msg() {
	local tail off
	tail=$(tail -c 34 "$1" | tr -d '\n')
	if [[ $tail =~ ^DMA-Trailer:\ [0-9]{3}\ ([0-9a-f]{16})$ ]]; then
		off=$((16#${BASH_REMATCH[1]}))
		head -c "$off" "$1"
	else
		cat "$1"
	fi
}

# age_tmp: back-date every temp file of the spool past the 60 s age rule
age_tmp() {
	local f
	for f in "$SPOOL"/tmp_*; do
		[ -e "$f" ] && touch -h -d '10 minutes ago' "$f"
	done
	return 0
}

spool_rest() {
	ls -A "$SPOOL" | grep -Ev '^(flush|J.*)$'
}

count_msgs() {
	if [ -f "$1" ]; then
		grep -c '^From ' "$1"
	else
		echo 0
	fi
}

mask_mbox() {
	sed -E \
	    -e 's/^From ([^ ]+) [A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} [0-9]{4}$/From \1 DATE/' \
	    -e 's/^Date:[ \t]+([A-Z][a-z]{2},[ \t]+)?[0-9]{1,2}[ \t]+[A-Z][a-z]{2}[ \t]+[0-9]{4}[ \t]+[0-9]{2}:[0-9]{2}(:[0-9]{2})?[ \t]+[+-][0-9]{4}$/Date: DATE/' \
	    -e 's/^\t[A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}$/\tDATE/' \
	    -e 's/^\tid [0-9a-f]+(\.[0-9a-f]+)?$/\tid QID/' \
	    -e 's/^Message-Id: <[^<> ]+@[^<> ]+>$/Message-Id: <MSGID>/' \
	    -- "$1"
}

received_masked() {
	printf 'Received: from %s (uid %s)\n\t(envelope-from %s)\n\tid QID\n' \
	    "$1" "$2" "$3"
	printf '\tby %s (DragonFly Mail Agent %s on %s);\n\tDATE\n' \
	    "$HOST" "$DMA_VERSION" "$HOST"
}

syslog_sync() {
	_lib_sync_n=$((_lib_sync_n + 1))
	local mark="libsync-$$-$_lib_sync_n"
	logger -t libsync -- "$mark" 2>/dev/null || return 0
	wait_until 5 grep -qF -- "$mark" "$T/syslog"
}

syslog_has() {
	syslog_sync
	grep -Eq -- "$1" "$T/syslog"
}
syslog_mark() {
	syslog_sync
	SYSLOG_MARK=$(wc -l <"$T/syslog")
}
logged() {
	syslog_sync
	tail -n +"$((${SYSLOG_MARK:-0} + 1))" "$T/syslog" | grep -Eq -- "$1"
}

dump_logs() {
	echo "# ---- syslog ($T/syslog)"
	grep -v 'libsync' "$T/syslog" 2>/dev/null | tail -n 60 | sed 's/^/# /'
	echo "# ---- ls -la $SPOOL"
	ls -la "$SPOOL" 2>&1 | sed 's/^/# /'
	echo "# ---- ls -la $MAILDIR"
	ls -la "$MAILDIR" 2>&1 | sed 's/^/# /'
	echo "# ---- dma processes"
	ps -o pid,user,stat,args -C dma,sendmail,mailq,newaliases 2>&1 | sed 's/^/# /'
	_lib_san_reports | head -n 80 | sed 's/^/# /'
}

_lib_san_reports() {
	local f
	for f in /dev/shm/dma-san/*; do
		[ -s "$f" ] || continue
		echo "---- sanitizer report $f"
		cat "$f"
	done
}

_lib_finish() {
	local st=$?
	local rep
	rep=$(_lib_san_reports)
	if [ -n "$rep" ]; then
		_fail "no sanitizer reports"
		diag "$rep"
	fi
	# Status 1 is what a failed last assertion returns; more means the
	# script itself broke (syntax error, command not found, killed).
	if [ "$st" -gt 1 ] && [ "$_tap_fail" = 0 ] && [ "$_tap_n" != 0 ]; then
		_fail "the script ran to its end (exit status $st)"
	fi
	if [ "$_tap_n" = 0 ]; then
		echo "not ok 1 - the script ran at least one assertion (exit $st)"
		_tap_n=1
		_tap_fail=1
	fi
	echo "1..$_tap_n"
	if [ "$_tap_fail" -gt 0 ]; then
		exit 1
	fi
	exit 0
}
trap _lib_finish EXIT

for _lib_f in "$SRC"/test/integration/*lib.sh; do
	case $_lib_f in
	*/lib.sh) ;;
	*) [ -f "$_lib_f" ] && . "$_lib_f" ;;
	esac
done
unset _lib_f
