# smtp-plain.sh - remote delivery to a smarthost without TLS: the exact
# bytes on the wire (commands, CRLF, dot-stuffing), the envelope, SIZE and
# BODY=8BITMIME parameters, QUIT, the HELO fallback and the log lines.

smtpd_start plain --size 1000000 || exit 1
smtpd_conf plain DEFER

# wire_of MFILE: the DATA payload dma must send for a stored message.
wire_of() {
	/usr/bin/python3 -c '
import sys
data = open(sys.argv[1], "rb").read()
lines = data.split(b"\n")
if lines and lines[-1] == b"":
    lines.pop()
out = b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n" for l in lines)
sys.stdout.buffer.write(out)
' "$1"
}

# queue_and_keep MSGFILE RCPT: submit as alice (DEFER: queued only) and
# keep a copy of the stored message (spool_msg) in $T/m.copy.
queue_and_keep() {
	capture run_as alice sh -c "$DMA $2 <$1"
	is "submission of $1: exit 0" "$rc" 0
	spool_msg "$SPOOL/M$(qfiles | head -n 1 | cut -c2-)" >"$T/m.copy"
}

# -- 1. exact bytes of a plain session ------------------------------------
printf 'Subject: wire test\n\nline one\n.leading dot\n..two dots\n.\nlast line\n' >msg1
queue_and_keep msg1 bob@example.org
capture run_dma -q -D
is "queue run: exit 0" "$rc" 0
ok "queue empty after delivery" wait_queue_empty
ok "server saw the session end" smtpd_wait_closed plain
is "one message accepted" "$(smtpd_messages plain)" 1
j=$(smtpd_last_json plain)
is "MAIL FROM" "$(smtpd_json "$j" 'j["mail_from"]')" "alice@$HOST"
is "RCPT TO" "$(smtpd_json "$j" 'j["rcpt_tos"]')" "bob@example.org"
size=$(wire_of "$T/m.copy" | wc -c)
is "MAIL FROM parameters: exact SIZE, no BODY for 7-bit" \
    "$(smtpd_json "$j" 'j["mail_options"]')" "SIZE=$size"
{
	printf 'EHLO %s\r\n' "$HOST"
	printf 'MAIL FROM:<alice@%s> SIZE=%s\r\n' "$HOST" "$size"
	printf 'RCPT TO:<bob@example.org>\r\n'
	printf 'DATA\r\n'
	wire_of "$T/m.copy"
	printf '.\r\nQUIT\r\n'
} >"$T/want.raw"
is_file "the exact bytes sent (CRLF, dot-stuffed, QUIT)" "$(smtpd_raw plain)" "$T/want.raw"
tr -d '\r' <"$(smtpd_last_msg plain)" >"$T/got.lf"
is_file "the message as received equals the stored one" "$T/got.lf" "$T/m.copy"
like "the leading-dot line arrived unstuffed" "$(cat "$T/got.lf")" '^\.leading dot$'
ok "log: smarthost" syslog_has "using smarthost \\(127\\.0\\.0\\.1:$(smtpd_port plain)\\)"
ok "log: trying" syslog_has 'trying remote delivery to 127\.0\.0\.1 \[127\.0\.0\.1\] pref 0'
ok "log: one TLS line" syslog_has 'TLS: none$'
ok "log: accepted with the server reply" \
    syslog_has 'accepted the message: 250 2\.0\.0 OK queued as 1'
ok "log: delivery successful" syslog_has '<bob@example\.org> delivery successful'

# -- 2. CRLF input and bare CR never double the CR on the wire -------------
printf 'Subject: crlf\r\n\r\nwindows line\r\nold mac\rline\r\n.\r\nend\r\n' >msg2
queue_and_keep msg2 carol@example.org
capture run_dma -q -D
ok "CRLF message delivered" wait_queue_empty
raw=$(smtpd_raw plain)
not_ok "no CR CR LF on the wire" grep -q $'\r\r' "$raw"
ok "no bare LF on the wire" /usr/bin/python3 -c '
import sys, re
d = open(sys.argv[1], "rb").read()
sys.exit(1 if re.search(rb"(?<!\r)\n", d) or re.search(rb"\r(?!\n)", d) else 0)' "$raw"
like "CRLF lines arrive as lines" "$(tr -d '\r' <"$(smtpd_last_msg plain)")" '^windows line$'
like "a bare CR ends a line" "$(tr -d '\r' <"$(smtpd_last_msg plain)")" '^old mac$'

# -- 3. 8-bit body: BODY=8BITMIME when offered, not otherwise --------------
printf 'Subject: eight\n\ncaf\303\251\n' >msg3
queue_and_keep msg3 dave@example.org
capture run_dma -q -D
ok "8-bit message delivered" wait_queue_empty
like "BODY=8BITMIME sent" "$(smtpd_json "$(smtpd_last_json plain)" 'j["mail_options"]')" \
    '^BODY=8BITMIME$'
like "8-bit bytes arrive unchanged" "$(cat "$(smtpd_last_msg plain)")" $'^caf\303\251\r$'
smtpd_stop plain

smtpd_start no8 --8bitmime no || exit 1
smtpd_conf no8 DEFER
queue_and_keep msg3 dave@example.org
capture run_dma -q -D
ok "8-bit message delivered without 8BITMIME" wait_queue_empty
is "no MAIL FROM parameters (no SIZE, no 8BITMIME offered)" \
    "$(smtpd_json "$(smtpd_last_json no8)" 'j["mail_options"]')" ""
smtpd_stop no8

# -- 4. HELO fallback: a server answering 502 to EHLO ----------------------
smtpd_start helo --no-ehlo || exit 1
smtpd_conf helo DEFER
queue_and_keep msg1 erin@example.org
capture run_dma -q -D
ok "HELO fallback: delivered" wait_queue_empty
is "HELO fallback: one message" "$(smtpd_messages helo)" 1
s=$(smtpd_session helo)
is "HELO fallback: commands" "$(smtpd_json "$s" 'j["commands"]')" \
"EHLO $HOST
HELO $HOST
MAIL FROM:<alice@$HOST>
RCPT TO:<erin@example.org>
DATA
QUIT"
smtpd_stop helo

# -- 5. one recipient per RCPT TO, even with a comma inside ----------------
smtpd_start comma || exit 1
smtpd_conf comma DEFER
printf 'Subject: comma\n\nx\n' >msg5
capture run_as alice sh -c "$DMA '\"last, first\"@example.org' <msg5"
is "quoted local part with a comma: queued" "$rc" 0
capture run_dma -q -D
ok "quoted local part with a comma: delivered" wait_queue_empty
like "one RCPT TO with the whole address" \
    "$(smtpd_json "$(smtpd_session comma)" 'j["commands"]')" \
    '^RCPT TO:<"last, first"@example\.org>$'
is "exactly one RCPT TO" \
    "$(smtpd_json "$(smtpd_session comma)" 'j["commands"]' | grep -c '^RCPT')" 1
smtpd_stop comma

# -- 6. an IPv6 smarthost ----------------------------------------------------
smtpd_start v6 --host ::1 || exit 1
printf 'SMARTHOST ::1\nPORT %s\nDEFER\n' "$(smtpd_port v6)" | dma_conf
queue_and_keep msg1 frank@example.org
capture run_dma -q -D
ok "IPv6 smarthost: delivered" wait_queue_empty
is "IPv6 smarthost: accepted" "$(smtpd_messages v6)" 1
ok "IPv6 smarthost: logged" syslog_has 'trying remote delivery to ::1 \[::1\] pref 0$'
like "IPv6 smarthost: peer address" "$(smtpd_json "$(smtpd_session v6)" 'j["peer"][0]')" '^::1$'
smtpd_stop v6
