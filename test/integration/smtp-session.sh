# smtp-session.sh - queued messages to one smarthost share SMTP sessions:
# one connection (one EHLO, one TLS handshake, one AUTH) for many
# messages, PIPELINING groups (MAIL, the RCPTs and DATA in one read), all
# recipients of a message in one transaction with an outcome each (a 550
# bounces only that one, a 452 continues in a second transaction), a 421
# after some messages reconnects and delivers each message once,
# SESSIONMESSAGES caps the messages per connection, and a 50 MB message
# with a 10 MB line is delivered in bounded memory.  (A session refused
# for concurrency: test/unit/t_smtp.c; which worker of a run may yield is
# the queue runner's.)
# test-timeout: 600

printf 'Subject: session\n\nbody\n' >msg

# submit ADDR...: one message queued (DEFER) by alice
submit() {
	capture run_as alice sh -c "$DMA $* <msg"
	[ "$rc" = 0 ] || diag "submission failed: $err"
}

# conf NAME LINES...: smarthost NAME, DEFER, one session per run
conf() {
	local name=$1
	shift
	smtpd_conf "$name" DEFER "MAXSESSIONS 1" "$@"
}

# rcpt_counts NAME: "n1 n2 ..." of the accepted messages, in order
rcpt_counts() {
	/usr/bin/python3 - "$T/smtpd-$1" <<'PY'
import glob, json, sys
out = []
for f in sorted(glob.glob(sys.argv[1] + "/msg-*.json")):
    j = json.load(open(f))
    if j["accepted"]:
        out.append(str(len(j["rcpt_tos"])))
print(" ".join(out))
PY
}

# cmd_count NAME N PREFIX: commands of session N starting with PREFIX
cmd_count() {
	smtpd_json "$(smtpd_session "$1" "$2")" 'j["commands"]' | grep -c "^$3"
}

# all_quit NAME: every session of NAME ended with QUIT
all_quit() {
	local f
	for f in "$T/smtpd-$1"/session-*.json; do
		[ "$(smtpd_json "$f" 'j["quit"]')" = true ] || return 1
	done
}

clear_queue() {
	kill_dma
	rm -f "$SPOOL"/[QM]*
}

# -- 1. five messages, one session, pipelined -------------------------------
smtpd_start pipe --pipelining || exit 1
conf pipe
for i in 1 2 3 4 5; do
	submit "m$i@example.org" "n$i@example.org"
done
capture run_dma -q -D
is "pipelined: queue run exit 0" "$rc" 0
ok "pipelined: queue empty" wait_queue_empty
is "pipelined: 5 messages accepted" "$(smtpd_messages pipe)" 5
is "pipelined: each of 2 recipients" "$(rcpt_counts pipe)" "2 2 2 2 2"
is "pipelined: one connection" "$(smtpd_sessions pipe)" 1
is "pipelined: one EHLO" "$(cmd_count pipe 1 EHLO)" 1
is "pipelined: no RSET" "$(cmd_count pipe 1 RSET)" 0
ok "pipelined: QUIT at the end" all_quit pipe
is "pipelined: MAIL, 2 RCPT and DATA in one read, 5 times" \
    "$(grep -cE '^MAIL FROM:<a \| RCPT TO:<m[0-9]@ \| RCPT TO:<n[0-9]@ \| DATA$' \
        "$T/smtpd-pipe/session-0001.reads")" 5
for i in 1 2 3 4 5; do
	is "pipelined: m$i@example.org once" "$(smtpd_rcpt_count pipe "m$i@example.org")" 1
done
smtpd_stop pipe
clear_queue

# -- 2. no PIPELINING: lock-step, still one session --------------------------
smtpd_start lock || exit 1
conf lock
for i in 1 2 3; do
	submit "m$i@example.org" "n$i@example.org"
done
capture run_dma -q -D
ok "lock-step: queue empty" wait_queue_empty
is "lock-step: 3 messages accepted" "$(smtpd_messages lock)" 3
is "lock-step: one connection" "$(smtpd_sessions lock)" 1
unlike "lock-step: one command per read" "$(cat "$T/smtpd-lock/session-0001.reads")" ' \| '
smtpd_stop lock
clear_queue

# -- 3. one recipient refused: only it bounces --------------------------------
smtpd_start rcpt --pipelining --rcpt-reply 'bad@example.org=550 5.1.1 no such user here' || exit 1
conf rcpt
submit a@example.org bad@example.org c@example.org
capture run_dma -q -D
ok "550 for one: queue empty" wait_queue_empty
is "550 for one: one transaction accepted" "$(smtpd_messages rcpt)" 1
is "550 for one: it had the two others" "$(rcpt_counts rcpt)" 2
is "550 for one: a@example.org once" "$(smtpd_rcpt_count rcpt a@example.org)" 1
is "550 for one: c@example.org once" "$(smtpd_rcpt_count rcpt c@example.org)" 1
is "550 for one: one DATA" "$(cmd_count rcpt 1 DATA)" 1
ok "550 for one: logged with the server's reply" syslog_has \
    'remote delivery to 127\.0\.0\.1 \[127\.0\.0\.1\] failed after RCPT TO: 550 5\.1\.1 no such user here'
ok "550 for one: bounce to alice" wait_until 20 test -s /var/mail/alice
is "550 for one: one bounce" "$(count_msgs /var/mail/alice)" 1
like "550 for one: the bounce names it" "$(cat /var/mail/alice)" 'bad@example\.org'
unlike "550 for one: and not the others" "$(grep -E '^[^ ]*<?(a|c)@example\.org' /var/mail/alice)" '.'
smtpd_stop rcpt
clear_queue
: >/var/mail/alice

# -- 4. 452 for the third RCPT: a second transaction ---------------------------
smtpd_start many --pipelining --rcpt-max 2 || exit 1
conf many
submit r1@example.org r2@example.org r3@example.org r4@example.org r5@example.org
capture run_dma -q -D
ok "452: queue empty" wait_queue_empty
is "452: transactions of 2, 2 and 1 recipients" "$(rcpt_counts many)" "2 2 1"
is "452: on one connection" "$(smtpd_sessions many)" 1
total=0
for i in 1 2 3 4 5; do
	total=$((total + $(smtpd_rcpt_count many "r$i@example.org")))
done
is "452: five deliveries, none repeated" "$total" 5
is "452: no bounce" "$(count_msgs /var/mail/alice)" 0
smtpd_stop many
clear_queue

# -- 5. 421 after the second message: reconnect --------------------------------
smtpd_start close --pipelining --close-after 2 || exit 1
conf close
for i in 1 2 3 4 5; do
	submit "c$i@example.org"
done
capture run_dma -q -D
ok "421: queue empty" wait_queue_empty
is "421: 5 messages accepted" "$(smtpd_messages close)" 5
is "421: three connections (2 + 2 + 1)" "$(smtpd_sessions close)" 3
for i in 1 2 3 4 5; do
	is "421: c$i@example.org exactly once" "$(smtpd_rcpt_count close "c$i@example.org")" 1
done
ok "421: the refusal logged" syslog_has 'failed after MAIL FROM: 421 4\.7\.0 enough messages'
is "421: no bounce" "$(count_msgs /var/mail/alice)" 0
smtpd_stop close
clear_queue

# -- 6. SESSIONMESSAGES 2, five messages: three connections -------------------
smtpd_start cap --pipelining || exit 1
conf cap "SESSIONMESSAGES 2"
for i in 1 2 3 4 5; do
	submit "s$i@example.org"
done
capture run_dma -q -D
ok "SESSIONMESSAGES: queue empty" wait_queue_empty
is "SESSIONMESSAGES: 5 messages accepted" "$(smtpd_messages cap)" 5
is "SESSIONMESSAGES: three connections" "$(smtpd_sessions cap)" 3
ok "SESSIONMESSAGES: each ended with QUIT" all_quit cap
smtpd_stop cap
clear_queue

# -- 7. STARTTLS and AUTH once per session ---------------------------------------
tls_certs || exit 1
C=$T/certs
printf 'mailuser|127.0.0.1:pw-secret\n' | auth_conf
smtpd_start tls --pipelining --tls starttls --cert "$C/server.crt" --key "$C/server.key" \
    --auth PLAIN,LOGIN --user mailuser --password pw-secret || exit 1
conf tls SECURETRANSFER STARTTLS "AUTHPATH /etc/dma/auth.conf"
for i in 1 2 3 4; do
	submit "t$i@example.org"
done
capture run_dma -q -D
ok "TLS+AUTH: queue empty" wait_queue_empty
is "TLS+AUTH: 4 messages accepted" "$(smtpd_messages tls)" 4
is "TLS+AUTH: one connection" "$(smtpd_sessions tls)" 1
is "TLS+AUTH: one STARTTLS" "$(cmd_count tls 1 STARTTLS)" 1
is "TLS+AUTH: one AUTH" "$(cmd_count tls 1 AUTH)" 1
is "TLS+AUTH: every message authenticated over TLS" \
    "$(for f in "$T"/smtpd-tls/msg-*.json; do smtpd_json "$f" 'j["authenticated"] and j["tls"]'; done | sort -u)" true
smtpd_stop tls
clear_queue
: | auth_conf

# -- 8. 50 MB with a 10 MB line, in bounded memory -------------------------------
smtpd_start big --pipelining || exit 1
conf big
/usr/bin/python3 - >big.msg <<'PY'
import sys
w = sys.stdout.write
w("Subject: big\n\n")
w("x" * (10 << 20) + "\n")
line = "0123456789" * 7 + "\n"
for _ in range((40 << 20) // len(line)):
    w(line)
PY
capture run_as alice sh -c "$DMA big@example.org <big.msg"
is "big: queued" "$rc" 0
/usr/bin/time -v -o time.out "$DMA" -q -D >/dev/null 2>&1
ok "big: queue empty" wait_queue_empty
is "big: accepted" "$(smtpd_messages big)" 1
kb=$(sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' time.out)
diag "big: peak RSS of the queue run and its workers: $kb kB"
if grep -qa __asan_init "$DMA"; then
	skip "big: peak RSS at most 4 MiB" "a sanitizer build"
else
	ok "big: peak RSS at most 4 MiB ($kb kB)" test "${kb:-999999}" -le 4096
fi
ok "big: no line over 998 bytes on the wire" test \
    "$(awk 'length($0) > 999 { n++ } END { print n + 0 }' "$(smtpd_last_msg big)")" = 0
ok "big: the long line was re-encoded" grep -q 'quoted-printable' "$(smtpd_last_msg big)"
ok "big: the body decodes to the one submitted" /usr/bin/python3 - \
    "$(smtpd_last_msg big)" big.msg <<'PY'
import quopri, sys
got = open(sys.argv[1], "rb").read().replace(b"\r\n", b"\n")
want = open(sys.argv[2], "rb").read()
body = quopri.decodestring(got[got.index(b"\n\n") + 2:])
sys.exit(0 if body == want[want.index(b"\n\n") + 2:] else 1)
PY
smtpd_stop big
clear_queue
