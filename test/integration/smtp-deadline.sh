# smtp-deadline.sh - one delivery attempt is bounded as a whole
# (ATTEMPTTIMEOUT, MAXADDRESSES in dma.conf): a domain with many MX hosts
# that accept and never greet, an implicit-TLS server that never shakes
# hands and a server that answers each step just before its timeout are
# all cut at the deadline of the attempt; the address limit stops after
# that many addresses, whether they refuse connections or time out.  Each
# ends in a temporary failure with a log line saying which bound was
# reached, and the entry stays queued.  The servers are fixtures/tarpit.py on
# loopback addresses, found through dnsmasq MX records.

# mx_records DOMAIN NET N: N MX hosts mxI.DOMAIN = NET.I, preference I.
mx_records() {
	local i
	for i in $(seq 1 "$3"); do
		printf 'mx-host=%s,mx%d.%s,%d\nhost-record=mx%d.%s,%s.%d\n' \
		    "$1" "$i" "$1" "$i" "$i" "$1" "$2" "$i"
	done
}

# tarpit_start NAME MODE DELAY ADDR:PORT...: tarpit.py in the background,
# its records in $T/tarpit-NAME; waits for READY (10 s).
tarpit_start() {
	local d=$T/tarpit-$1 mode=$2 delay=$3 a args="" i=0
	shift 3
	mkdir -p "$d"
	for a in "$@"; do
		args="$args --listen $a"
	done
	rm -f "$d/stdout" "$d/stderr"	# no READY of an earlier start
	/usr/bin/python3 "$SRC/test/integration/fixtures/tarpit.py" --dir "$d" \
	    --mode "$mode" --delay "$delay" $args >"$d/stdout" 2>"$d/stderr" </dev/null &
	echo $! >"$d/pid"
	while ! grep -q '^READY' "$d/stdout" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 100 ]; then
			diag "tarpit $1 did not start:"
			_diag_file "$d/stderr"
			return 1
		fi
		sleep 0.1
	done
}

tarpit_stop() {
	kill "$(cat "$T/tarpit-$1/pid")" 2>/dev/null
	wait "$(cat "$T/tarpit-$1/pid")" 2>/dev/null
	return 0
}

# tarpit_conns NAME: connections accepted so far.
tarpit_conns() {
	grep -c . "$T/tarpit-$1/connections"
}

# addrs NET N PORT: NET.1:PORT ... NET.N:PORT
addrs() {
	local i
	for i in $(seq 1 "$2"); do
		printf '%s.%d:%s\n' "$1" "$i" "$3"
	done
}

# since_mark: the log lines since syslog_mark.
since_mark() {
	syslog_sync
	tail -n +"$((${SYSLOG_MARK:-0} + 1))" "$T/syslog"
}

# tried_count: "trying remote delivery" lines since syslog_mark.
tried_count() {
	since_mark | grep -c 'trying remote delivery to'
}

# run_queue: one queue run (one attempt per entry); sets $secs.
run_queue() {
	local start
	start=$(date +%s)
	capture run_dma -q -D
	secs=$(($(date +%s) - start))
}

dns_start "$(mx_records tarpit.test 127.0.1 32; mx_records refuse.test 127.0.2 10;
    mx_records cap.test 127.0.3 10)" || exit 1
printf 'Subject: deadline\n\nbody line\n' >msg
submit() {
	capture run_as alice sh -c "$DMA $1 <msg"
	[ "$rc" = 0 ] || diag "submission failed: $err"
}

# -- 1. 32 silent MX hosts, RFC timeouts (5 minutes for the greeting) -------
tarpit_start silent silent 0 $(addrs 127.0.1 32 25) || exit 1
printf 'DEFER\nMAXADDRESSES 64\nATTEMPTTIMEOUT 3\n' | dma_conf
submit a1@tarpit.test
syslog_mark
run_queue
is "no TIMEOUT: queue run exit 0" "$rc" 0
ok "no TIMEOUT: the attempt ended long before the greeting timeout (${secs}s)" \
    test "$secs" -lt 120
ok "no TIMEOUT: the first host's greeting wait was cut" logged \
    'remote delivery deferred: mx1\.tarpit\.test \[127\.0\.1\.1\] failed after connect: delivery attempt deadline reached waiting for the server.s reply$'
ok "no TIMEOUT: deadline logged after 1 of 32 addresses" logged \
    'remote delivery deferred: delivery attempt deadline \(3 s\) reached after trying 1 of 32 addresses$'
ok "no TIMEOUT: deferral names the deadline" logged \
    '<a1@tarpit\.test> delivery deferred: delivery attempt deadline \(3 s\) reached after trying 1 of 32 addresses; last error: mx1\.tarpit\.test'
is "no TIMEOUT: one address tried" "$(tried_count)" 1
is "no TIMEOUT: one connection at the tarpit" "$(tarpit_conns silent)" 1
is "no TIMEOUT: entry still queued" "$(qfiles | grep -c .)" 1
kill_dma
rm -f "$SPOOL"/[QM]*

# -- 2. the same with TIMEOUT 1: several hosts, not all 32 ------------------
printf 'DEFER\nTIMEOUT 1\nMAXADDRESSES 64\nATTEMPTTIMEOUT 4\n' | dma_conf
: >"$T/tarpit-silent/connections"
submit a2@tarpit.test
syslog_mark
run_queue
is "TIMEOUT 1: queue run exit 0" "$rc" 0
ok "TIMEOUT 1: ended within a generous limit (${secs}s)" test "$secs" -lt 30
ok "TIMEOUT 1: deadline logged" logged \
    'remote delivery deferred: delivery attempt deadline \(4 s\) reached after trying [0-9]+ of 32 addresses$'
n=$(since_mark | sed -n 's/.*deadline (4 s) reached after trying \([0-9]*\) of 32 addresses$/\1/p')
ok "TIMEOUT 1: fewer hosts than exist were tried (${n:-none})" \
    test "${n:-99}" -ge 2 -a "${n:-99}" -lt 32
is "TIMEOUT 1: the log line counts the addresses tried" "$(tried_count)" "$n"
is "TIMEOUT 1: as many connections at the tarpit" "$(tarpit_conns silent)" "$n"
is "TIMEOUT 1: entry still queued" "$(qfiles | grep -c .)" 1
kill_dma
rm -f "$SPOOL"/[QM]*

# -- 3. address limit: 10 MX hosts refusing connections ---------------------
printf 'DEFER\nMAXADDRESSES 3\n' | dma_conf
submit b1@refuse.test
syslog_mark
run_queue
is "refusing MX: queue run exit 0" "$rc" 0
is "refusing MX: exactly 3 addresses tried" "$(tried_count)" 3
ok "refusing MX: the third is mx3" logged \
    'connect to mx3\.refuse\.test \[127\.0\.2\.3\] failed: Connection refused$'
not_ok "refusing MX: mx4 never tried" logged 'mx4\.refuse\.test'
ok "refusing MX: address limit logged" logged \
    'remote delivery deferred: address limit \(3\) reached after trying 3 of 10 addresses$'
ok "refusing MX: deferral keeps the last error" logged \
    '<b1@refuse\.test> delivery deferred: address limit \(3\) reached after trying 3 of 10 addresses; last error: connect to mx3\.refuse\.test \[127\.0\.2\.3\] failed: Connection refused$'
is "refusing MX: entry still queued" "$(qfiles | grep -c .)" 1
kill_dma
rm -f "$SPOOL"/[QM]*

# -- 4. address limit: 10 MX hosts that time out, counted at the servers ----
tarpit_start cap silent 0 $(addrs 127.0.3 10 25) || exit 1
printf 'DEFER\nTIMEOUT 1\nMAXADDRESSES 3\n' | dma_conf
submit b2@cap.test
syslog_mark
run_queue
is "silent MX: queue run exit 0" "$rc" 0
is "silent MX: 3 connections at the servers" "$(tarpit_conns cap)" 3
is "silent MX: to the 3 most preferred" "$(sort "$T/tarpit-cap/connections")" \
    "$(addrs 127.0.3 3 25)"
ok "silent MX: address limit logged" logged \
    'remote delivery deferred: address limit \(3\) reached after trying 3 of 10 addresses$'
is "silent MX: entry still queued" "$(qfiles | grep -c .)" 1
kill_dma
rm -f "$SPOOL"/[QM]*
tarpit_stop cap

# -- 5. implicit TLS to a server that never shakes hands --------------------
port=10465
tarpit_start tls silent 0 "127.0.0.1:$port" || exit 1
printf 'SMARTHOST 127.0.0.1\nPORT %s\nSECURETRANSFER\nDEFER\nATTEMPTTIMEOUT 3\n' \
    "$port" | dma_conf
submit c1@example.org
syslog_mark
run_queue
is "TLS stall: queue run exit 0" "$rc" 0
ok "TLS stall: ended long before the handshake timeout (${secs}s)" test "$secs" -lt 120
ok "TLS stall: the handshake failed" logged \
    'remote delivery deferred: 127\.0\.0\.1 \[127\.0\.0\.1\]: TLS handshake failed'
ok "TLS stall: deadline logged" logged \
    'remote delivery deferred: delivery attempt deadline \(3 s\) reached after trying 1 of 1 addresses$'
is "TLS stall: entry still queued" "$(qfiles | grep -c .)" 1
kill_dma
rm -f "$SPOOL"/[QM]*
tarpit_stop tls

# -- 6. a server answering each step 2 s late, well inside TIMEOUT 4 --------
port=10025
tarpit_start slow trickle 2 "127.0.0.1:$port" || exit 1
printf 'SMARTHOST 127.0.0.1\nPORT %s\nTIMEOUT 4\nDEFER\nATTEMPTTIMEOUT 7\n' \
    "$port" | dma_conf
submit d1@example.org
syslog_mark
run_queue
is "trickle: queue run exit 0" "$rc" 0
not_ok "trickle: no step waited the whole TIMEOUT" logged 'timeout after 4 seconds'
ok "trickle: a step was cut at the deadline" logged \
    'remote delivery deferred: 127\.0\.0\.1 \[127\.0\.0\.1\] failed after [A-Z ]+: delivery attempt deadline reached waiting for the server.s reply$'
ok "trickle: deadline logged" logged \
    'remote delivery deferred: delivery attempt deadline \(7 s\) reached after trying 1 of 1 addresses$'
not_ok "trickle: the message was never sent" grep -q ' DATA$' "$T/tarpit-slow/lines"
is "trickle: entry still queued" "$(qfiles | grep -c .)" 1
kill_dma
rm -f "$SPOOL"/[QM]*

# Without the bound the same server takes the message (about 14 s).
printf 'SMARTHOST 127.0.0.1\nPORT %s\nTIMEOUT 4\nDEFER\n' "$port" | dma_conf
submit d2@example.org
run_queue
ok "trickle, default deadline: delivered" wait_queue_empty
ok "trickle, default deadline: the message reached the server" \
    grep -q '^127\.0\.0\.1:[0-9]* \.$' "$T/tarpit-slow/lines"
tarpit_stop slow
tarpit_stop silent
