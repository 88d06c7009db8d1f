# smtplib.sh - recording SMTP servers for the integration tests (bash).
#
# Sourced by lib.sh in every test script; it only defines functions.  The
# server is test/integration/smtpd.py (aiosmtpd); see its header for the
# options (--tls, --auth, --fault STAGE=ACTION, --fault-once,
# --hostile-ehlo ...) and for the record files.
#
#   smtpd_start NAME [ARGS...]
#                     start a server in the background with its records in
#                     $T/smtpd-NAME/ (also stdout, stderr, pid there); picks
#                     a free port unless ARGS has --port; waits for READY
#                     (10 s).  Sets SMTPD_PORT.  Returns 1 (and shows its
#                     stderr) if it does not come up.
#   smtpd_stop NAME   stop it (SIGTERM, then wait)
#   smtpd_fast NAME   end its --delay waits, current and future (SIGUSR1)
#   smtpd_port NAME   its port
#   smtpd_conf NAME [LINE...]
#                     /etc/dma/dma.conf := SMARTHOST 127.0.0.1, PORT of
#                     NAME, then each LINE (e.g. DEFER, SECURETRANSFER)
#   smtpd_messages NAME    number of accepted messages
#   smtpd_rcpt_count NAME ADDR
#                          accepted messages of NAME addressed to ADDR
#   smtpd_sessions NAME    number of sessions (connections) so far
#   smtpd_last_json NAME   path of the newest msg-NNNN.json (empty if none)
#   smtpd_last_msg NAME    path of the newest msg-NNNN.eml (the message as
#                          received, dot-unstuffed, CRLF line ends)
#   smtpd_session NAME [N] path of session N's JSON (default: the newest)
#   smtpd_raw NAME [N]     path of session N's raw bytes (default: newest)
#   smtpd_json FILE EXPR   evaluate the Python expression EXPR with j = the
#                          JSON object of FILE; strings print as they are,
#                          lists one element per line, anything else as
#                          JSON (True -> true, None -> null)
#   smtpd_wait_closed NAME [SECS]
#                     until every session of NAME has ended (the server saw
#                     the client close); 1 on timeout (default 10 s)

_smtpd_dir() {
	printf '%s/smtpd-%s' "$T" "$1"
}

smtpd_start() {
	local name=$1 d i port_arg=--port=0 a
	shift
	d=$(_smtpd_dir "$name")
	mkdir -p "$d"
	for a in "$@"; do
		case $a in
		--port|--port=*) port_arg= ;;
		esac
	done
	# A restart under the same name must not find the last READY line:
	# the shell truncates stdout in the child, maybe after the first grep.
	rm -f "$d/stdout" "$d/stderr"
	/usr/bin/python3 "$SRC/test/integration/smtpd.py" --dir "$d" $port_arg "$@" \
	    >"$d/stdout" 2>"$d/stderr" </dev/null &
	echo $! >"$d/pid"
	i=0
	while ! grep -q '^READY ' "$d/stdout" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 100 ] || ! kill -0 "$(cat "$d/pid")" 2>/dev/null; then
			diag "smtpd $name did not start:"
			_diag_file "$d/stderr"
			return 1
		fi
		sleep 0.1
	done
	SMTPD_PORT=$(sed -n 's/^READY //p' "$d/stdout")
}

smtpd_stop() {
	local d pid
	d=$(_smtpd_dir "$1")
	[ -f "$d/pid" ] || return 0
	pid=$(cat "$d/pid")
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rm -f "$d/pid"
	return 0
}

smtpd_fast() {
	kill -USR1 "$(cat "$(_smtpd_dir "$1")/pid")"
}

smtpd_port() {
	cat "$(_smtpd_dir "$1")/port"
}

smtpd_conf() {
	local name=$1 l
	shift
	{
		printf 'SMARTHOST 127.0.0.1\nPORT %s\n' "$(smtpd_port "$name")"
		for l in "$@"; do
			printf '%s\n' "$l"
		done
	} | dma_conf
}

smtpd_messages() {
	local d f n=0
	d=$(_smtpd_dir "$1")
	for f in "$d"/msg-*.json; do
		[ -f "$f" ] || continue
		if [ "$(smtpd_json "$f" 'j["accepted"]')" = true ]; then
			n=$((n + 1))
		fi
	done
	echo $n
}

smtpd_rcpt_count() {
	/usr/bin/python3 - "$(_smtpd_dir "$1")" "$2" <<'PY'
import glob, json, sys
n = 0
for f in glob.glob(sys.argv[1] + "/msg-*.json"):
    j = json.load(open(f))
    if j["accepted"]:
        n += j["rcpt_tos"].count(sys.argv[2])
print(n)
PY
}

smtpd_sessions() {
	local d
	d=$(_smtpd_dir "$1")
	ls "$d" | grep -c '^session-[0-9]*\.json$'
}

_smtpd_newest() {
	# _smtpd_newest DIR PREFIX SUFFIX
	ls "$1" | grep "^$2[0-9]*$3\$" | sort | tail -n 1 | sed "s|^|$1/|"
}

smtpd_last_json() {
	_smtpd_newest "$(_smtpd_dir "$1")" msg- .json
}

smtpd_last_msg() {
	_smtpd_newest "$(_smtpd_dir "$1")" msg- .eml
}

smtpd_session() {
	local d
	d=$(_smtpd_dir "$1")
	if [ -n "${2:-}" ]; then
		printf '%s/session-%04d.json\n' "$d" "$2"
	else
		_smtpd_newest "$d" session- .json
	fi
}

smtpd_raw() {
	local f
	f=$(smtpd_session "$@")
	printf '%s.raw\n' "${f%.json}"
}

smtpd_json() {
	/usr/bin/python3 -c '
import json, sys
with open(sys.argv[1]) as f:
    j = json.load(f)
v = eval(sys.argv[2], {"j": j})
if isinstance(v, str):
    print(v)
elif isinstance(v, list):
    for x in v:
        print(x if isinstance(x, str) else json.dumps(x))
else:
    print(json.dumps(v))
' "$1" "$2"
}

_smtpd_all_closed() {
	local d f
	d=$(_smtpd_dir "$1")
	for f in "$d"/session-*.json; do
		[ -f "$f" ] || continue
		[ "$(smtpd_json "$f" 'j["closed"]')" = true ] || return 1
	done
	return 0
}

smtpd_wait_closed() {
	wait_until "${2:-10}" _smtpd_all_closed "$1"
}
