# attack-hostile-smtp.sh - a hostile smarthost: overlong and endless
# multi-line replies, NUL bytes, ESC sequences, bare CR and LF inside reply
# text, 5xx replies whose lines look like header fields.  Alice's queued
# message is then either still queued, byte for byte (temporary
# failure), or bounced to her with a clean bounce: exactly the expected
# header fields, no control bytes.  The queue run ends promptly, the Q
# file keeps its four lines, and no raw control byte reaches the log.
# The server is fixtures/hostile-smtpd.py.

. "$SRC/test/integration/fixtures/attack-common.sh"

HOSTILE=$SRC/test/integration/fixtures/hostile-smtpd.py
HPID=""
ok "setup: syslog tap in front of /dev/log" syslog_tap_start

hostile_start() {
	local d=$T/hostile-$1
	mkdir -p "$d"
	/usr/bin/python3 "$HOSTILE" "$d" "$1" </dev/null >"$d/out" 2>&1 &
	HPID=$!
	if ! wait_until 10 test -s "$d/port"; then
		diag "hostile server $1 did not start:"
		_diag_file "$d/out"
		return 1
	fi
	HPORT=$(cat "$d/port")
}

hostile_stop() {
	[ -n "$HPID" ] && kill "$HPID" 2>/dev/null
	wait "$HPID" 2>/dev/null
	HPID=""
}

# The header field names a bounce has, in order (mail.c, bounce text).
BOUNCE_FIELDS="Received X-Original-To From To Auto-Submitted Subject Message-Id Date"

printf 'Subject: hostile\n\nHOSTILE-TEST-BODY\n' >"$T/msg"
chmod 0644 "$T/msg"

# bounce_clean DESC MBOX: the one message in MBOX is a bounce with exactly
# the expected header fields and no control bytes.
bounce_clean() {
	local desc=$1 mb=$2 names cont
	is "$desc: one bounce in alice's mailbox" "$(count_msgs "$mb")" 1
	like "$desc: the bounce comes from MAILER-DAEMON" "$(head -n 1 "$mb")" '^From MAILER-DAEMON '
	# header section: after the From_ line up to the first empty line
	sed -n '2,/^$/p' "$mb" | sed '$d' >"$T/bhdr"
	names=$(sed -n $'/^[^ \t]/s/:.*//p' "$T/bhdr" | tr '\n' ' ' | sed 's/ $//')
	is "$desc: bounce header fields are exactly the expected ones" "$names" "$BOUNCE_FIELDS"
	cont=$(grep -c $'^[ \t]' "$T/bhdr")
	is "$desc: only the Received: header is folded (3 continuation lines)" "$cont" 3
	unlike "$desc: no header line without a colon" \
	    "$(grep -v $'^[ \t]' "$T/bhdr")" '^[^:]*$'
	not_ok "$desc: no control bytes anywhere in the bounce" has_ctl "$mb"
	like "$desc: the original message is referred to" "$(cat "$mb")" '^Subject: hostile$'
}

# run_scenario NAME EXPECT: EXPECT is queued, bounce or either (queued,
# bounced or delivered: anything but lost).
run_scenario() {
	local scen=$1 expect=$2 q m start secs outcome
	rm -f "$SPOOL"/Q* "$SPOOL"/M* "$MAILDIR/alice"
	hostile_start "$scen" || { _fail "$scen: server started"; return; }
	printf 'SMARTHOST 127.0.0.1\nPORT %s\nDEFER\n' "$HPORT" | dma_conf
	run_as alice "$DMA" carol@example.org <"$T/msg"
	q=$(qfiles)
	m=M${q#Q}
	cp "$SPOOL/$q" "$T/$scen.q"
	cp "$SPOOL/$m" "$T/$scen.m"
	printf 'SMARTHOST 127.0.0.1\nPORT %s\n' "$HPORT" | dma_conf
	start=$(date +%s)
	capture run_as alice timeout -k 5 60 "$DMA" -q -D
	secs=$(($(date +%s) - start))
	is "$scen: dma -q -D ends by itself, exit 0, quiet" "$rc:$out$err" "0:"
	ok "$scen: ... within 20 seconds (took ${secs}s)" test "$secs" -le 20
	kill_dma 2>/dev/null
	if [ -s "$T/hostile-$scen/delivered" ]; then
		outcome=delivered
	elif [ -n "$(qfiles)" ]; then
		outcome=queued
	elif [ "$(count_msgs "$MAILDIR/alice")" -gt 0 ]; then
		outcome=bounce
	else
		outcome=lost
	fi
	diag "$scen: outcome $outcome"
	if [ "$expect" = either ] && [ "$outcome" != lost ]; then
		expect=$outcome
	fi
	is "$scen: the message is $expect" "$outcome" "$expect"
	case $outcome in
	queued)
		is "$scen: still exactly one entry" "$(qfiles)" "$q"
		ok "$scen: Q file has Version/ID/Sender/Recipient, then only printable state keys" \
		    entry_shape_ok "$q" '^carol@example\.org$'
		# the envelope is as queued; a failed attempt adds state keys
		head -n 4 "$SPOOL/$q" >"$T/$scen.q4"
		is_file "$scen: Q file's envelope unchanged" "$T/$scen.q4" "$T/$scen.q"
		is_file "$scen: M file unchanged" "$SPOOL/$m" "$T/$scen.m"
		is "$scen: no bounce" "$(count_msgs "$MAILDIR/alice")" 0
		;;
	bounce)
		bounce_clean "$scen" "$MAILDIR/alice"
		;;
	delivered)
		is "$scen: delivered once, no bounce" \
		    "$(wc -l <"$T/hostile-$scen/delivered"):$(count_msgs "$MAILDIR/alice")" "1:0"
		is "$scen: the queue is empty" "$(qfiles)" ""
		;;
	esac
	hostile_stop
	syslog_sync
	grep -v libsync "$T/syslog" >"$T/syslog.copy"
	not_ok "$scen: no raw control bytes in the log file" has_ctl "$T/syslog.copy"
	syslog_no_ctl "$scen: no raw control bytes (LF included) in any log record"
	: >"$T/syslog.ctl"
	unlike "$scen: no log line starts with injected text" \
	    "$(cat "$T/syslog.copy")" '^(Subject|X-Injected|X-Bare-LF|Bcc|From|To):'
}

run_scenario ehlo-overlong queued
run_scenario ehlo-longline queued
run_scenario endless-greeting queued
run_scenario endless-ehlo queued
run_scenario endless-rcpt queued
run_scenario ctl-greeting either
run_scenario ctl-temp queued
run_scenario bare-lf queued
run_scenario inject-5xx bounce
run_scenario inject-5xx-lf either
run_scenario inject-5xx-eod bounce

# The log records of all of this are sane.
syslog_sync
ok "log: the 5xx reasons were logged" syslog_has 'injected-subject|evil@example\.org'
