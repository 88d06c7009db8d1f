# smtp-data.sh - what dma does to a message on the wire: SIZE refusal
# before MAIL FROM, lines over 998 bytes re-encoded (quoted-printable for a
# single part, per part in a multipart, base64 re-wrapped) so that the
# recipient decodes the original content, overlong header lines folded,
# NUL bytes passed through.

smtpd_start d --size 100000 || exit 1

submit_file() {
	capture run_as alice sh -c "$DMA $2 <$1"
	[ "$rc" = 0 ] || diag "submission failed: $err"
}

# max_wire_line RAWFILE: longest line on the wire, CRLF excluded.
max_wire_line() {
	/usr/bin/python3 -c '
import sys
d = open(sys.argv[1], "rb").read()
print(max(len(l) for l in d.split(b"\r\n")))' "$1"
}

# -- 1. SIZE: refused before MAIL FROM, bounced -----------------------------
smtpd_start small --size 300 || exit 1
smtpd_conf small DEFER
{
	printf 'Subject: big\n\n'
	for i in $(seq 1 20); do echo "line $i of a message too big for the server"; done
} >big
submit_file big big@example.org
capture run_dma -q -D
ok "SIZE: entry removed" wait_queue_empty
is "SIZE: no MAIL FROM sent, QUIT sent" \
    "$(smtpd_json "$(smtpd_session small)" 'j["commands"]' | cut -d' ' -f1)" \
"EHLO
QUIT"
like "SIZE: bounce reason" "$(cat /var/mail/alice)" \
    '^message size [0-9]+ exceeds the limit of 300 bytes of 127\.0\.0\.1$'
ok "SIZE: logged" syslog_has \
    'remote delivery to 127\.0\.0\.1 \[127\.0\.0\.1\] failed: message size [0-9]+ exceeds the limit of 300 bytes$'
smtpd_stop small
rm -f /var/mail/alice
smtpd_conf d DEFER

# -- 2. a long body line: quoted-printable on the wire, same content ----------
/usr/bin/python3 -c '
import sys
line = ("x=y " * 500 + "caf\u00e9 tail  ").encode()
sys.stdout.buffer.write(b"Subject: long\nContent-Type: text/plain; charset=utf-8\n"
    b"Content-Transfer-Encoding: 8bit\n\nshort first\n" + line + b"\n.dot\nend\n")' >long1
submit_file long1 long@example.org
capture run_dma -q -D
ok "long line: delivered" wait_queue_empty
raw=$(smtpd_raw d)
got=$(max_wire_line "$raw")
ok "long line: no line over 998 bytes on the wire (longest $got)" test "$got" -le 998
eml=$(smtpd_last_msg d)
ok "long line: declared quoted-printable, MIME-Version added, old CTE gone" \
    /usr/bin/python3 -c '
import sys, email
m = email.message_from_binary_file(open(sys.argv[1], "rb"))
assert m.get_all("Content-Transfer-Encoding") == ["quoted-printable"], m.get_all("Content-Transfer-Encoding")
assert m["MIME-Version"] == "1.0"
' "$eml"
ok "long line: decodes to the original body, byte for byte" /usr/bin/python3 -c '
import sys, quopri
body = open(sys.argv[1], "rb").read().split(b"\r\n\r\n", 1)[1]
want = open(sys.argv[2], "rb").read().split(b"\n\n", 1)[1].replace(b"\n", b"\r\n")
got = quopri.decodestring(body)
sys.exit(0 if got == want else "got %r" % got[:200])
' "$eml" long1

# -- 3. multipart: only the part with the long line is re-encoded -------------
/usr/bin/python3 -c '
import sys, base64
att = base64.b64encode(bytes(range(256)) * 12).decode()     # one 4096-char line
txt = "word " * 400
sys.stdout.write("Subject: mp\nMIME-Version: 1.0\n"
    "Content-Type: multipart/mixed; boundary=\"=-sep-=\"\n\n"
    "This is a multi-part message.\n"
    "--=-sep-=\nContent-Type: text/plain\n\nfirst part, short\n"
    "--=-sep-=\nContent-Type: text/plain\n\n" + txt + "\n"
    "--=-sep-=\nContent-Type: application/octet-stream\n"
    "Content-Transfer-Encoding: base64\n\n" + att + "\n"
    "--=-sep-=--\n")' >mp
submit_file mp mp@example.org
capture run_dma -q -D
ok "multipart: delivered" wait_queue_empty
got=$(max_wire_line "$(smtpd_raw d)")
ok "multipart: no line over 998 bytes (longest $got)" test "$got" -le 998
ok "multipart: every part decodes to the original" /usr/bin/python3 -c '
import sys, email, base64
m = email.message_from_binary_file(open(sys.argv[1], "rb"))
parts = m.get_payload()
assert len(parts) == 3, len(parts)
assert parts[0].get_payload(decode=True) == b"first part, short", parts[0].get_payload()
assert parts[0]["Content-Transfer-Encoding"] is None
assert parts[1]["Content-Transfer-Encoding"] == "quoted-printable"
assert parts[1].get_payload(decode=True) == ("word " * 400).encode()
assert parts[2]["Content-Transfer-Encoding"] == "base64"
assert parts[2].get_payload(decode=True) == bytes(range(256)) * 12
assert m["MIME-Version"] == "1.0" and len(m.get_all("MIME-Version")) == 1
' "$(smtpd_last_msg d)"

# -- 4. an overlong header line is folded, not cut ------------------------------
/usr/bin/python3 -c '
import sys
sys.stdout.write("Subject: " + " ".join("w%d" % i for i in range(600)) + "\n\nbody\n")' >hdr
submit_file hdr hdr@example.org
capture run_dma -q -D
ok "long header: delivered" wait_queue_empty
got=$(max_wire_line "$(smtpd_raw d)")
ok "long header: no line over 998 bytes (longest $got)" test "$got" -le 998
ok "long header: unfolds to the original" /usr/bin/python3 -c '
import sys, re
d = open(sys.argv[1], "rb").read()
hdr = d.split(b"\r\n\r\n", 1)[0]
unfolded = re.sub(rb"\r\n(?=[ \t])", b"", hdr)
want = b"Subject: " + b" ".join(b"w%d" % i for i in range(600))
sys.exit(0 if want in unfolded.split(b"\r\n") else 1)
' "$(smtpd_last_msg d)"

# -- 5. NUL bytes in a normal line pass through --------------------------------
printf 'Subject: nul\n\na\000b\nend\n' >nul
submit_file nul nul@example.org
capture run_dma -q -D
ok "NUL: delivered" wait_queue_empty
ok "NUL: the byte arrived" /usr/bin/python3 -c '
import sys
sys.exit(0 if b"\r\na\x00b\r\nend\r\n" in open(sys.argv[1], "rb").read() else 1)' \
    "$(smtpd_last_msg d)"
