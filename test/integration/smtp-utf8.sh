# smtp-utf8.sh - internationalised mail (RFC 6531/6532): a UTF-8 sender,
# recipient and Subject go out with MAIL FROM ... SMTPUTF8 to a server
# that offers it, byte for byte; to one that does not they bounce with the
# reason; a UTF-8 header alone needs SMTPUTF8 too, an ASCII message never
# asks for it; a U-label domain is routed by the MX of its A-label and
# keeps its U-label in RCPT TO; an invalid U-label bounces; invalid UTF-8
# and C1 controls in addresses are refused at intake (exit 65); -t takes
# a UTF-8 recipient from To:; a UTF-8 local part is delivered by alias.

U_SENDER='jörg@testhost'		# local: the bounce comes back by alias
U_RCPT='用户@例子.test'
U_SUBJ='Subject: Grüße aus Köln ☕'

# the bounces to jörg@testhost go to alice
aliases_file <<'EOF'
jörg: alice
EOF

# msg FILE SUBJECTLINE: a message with an 8-bit body
msg() {
	printf '%s\nFrom: Jörg <%s>\nTo: <%s>\n\nDie Straße ist naß.\n' \
	    "$2" "$U_SENDER" "$U_RCPT" >"$1"
}

# submit FILE SENDER RCPT: queued by alice with -f SENDER
submit() {
	capture run_as alice sh -c "$DMA -f '$2' '$3' <$1"
	[ "$rc" = 0 ] || diag "submission failed ($rc): $err"
}

# raw_line NAME PREFIX: the first line the server NAME received that
# starts with PREFIX, CRLF removed (the exact bytes)
raw_line() {
	grep -a -m 1 "^$2" "$(smtpd_raw "$1")" | tr -d '\r'
}

# -- 1. server with SMTPUTF8: envelope and header sent as they are ------------
smtpd_start u --smtputf8 || exit 1
smtpd_conf u DEFER
msg m1 "$U_SUBJ"
submit m1 "$U_SENDER" "$U_RCPT"
capture run_dma -q -D
ok "SMTPUTF8 server: delivered" wait_queue_empty
is "SMTPUTF8 server: MAIL FROM with SMTPUTF8 (and BODY=8BITMIME)" \
    "$(raw_line u 'MAIL FROM')" "MAIL FROM:<$U_SENDER> BODY=8BITMIME SMTPUTF8"
is "SMTPUTF8 server: RCPT TO in UTF-8" "$(raw_line u 'RCPT TO')" "RCPT TO:<$U_RCPT>"
eml=$(smtpd_last_msg u)
ok "SMTPUTF8 server: header and body arrived byte for byte" /usr/bin/python3 -c '
import sys
got = open(sys.argv[1], "rb").read()
want = open(sys.argv[2], "rb").read().replace(b"\n", b"\r\n")
head, body = want.split(b"\r\n\r\n", 1)
gh, gb = got.split(b"\r\n\r\n", 1)
for l in head.split(b"\r\n"):
    if l not in gh.split(b"\r\n"):
        sys.exit("header line %r missing" % l)
sys.exit(0 if gb == body else "body %r" % gb)
' "$eml" m1
is "SMTPUTF8 server: recorded options" \
    "$(smtpd_json "$(smtpd_last_json u)" 'j["mail_options"]')" "BODY=8BITMIME
SMTPUTF8"

# -- 2. an ASCII message never asks for SMTPUTF8 ------------------------------
printf 'Subject: plain\n\nascii only\n' >m2
submit m2 alice@testhost bob@example.org
capture run_dma -q -D
ok "ASCII message: delivered" wait_queue_empty
is "ASCII message: no SMTPUTF8 parameter" "$(raw_line u 'MAIL FROM:<alice')" \
    "MAIL FROM:<alice@testhost>"

# -- 3. a UTF-8 header alone: SMTPUTF8 with an ASCII envelope -----------------
printf '%s\n\nascii body\n' "$U_SUBJ" >m3
submit m3 alice@testhost carol@example.org
capture run_dma -q -D
ok "UTF-8 header: delivered" wait_queue_empty
is "UTF-8 header: SMTPUTF8 (BODY=8BITMIME: the message has 8-bit bytes)" \
    "$(raw_line u 'MAIL FROM:<alice@testhost> B')" \
    "MAIL FROM:<alice@testhost> BODY=8BITMIME SMTPUTF8"
ok "UTF-8 header: Subject arrived as it was" grep -a -q -F "$U_SUBJ" "$(smtpd_last_msg u)"

# -- 3b. -t: a UTF-8 recipient taken from the To: header ----------------------
printf 'To: Ëve <ëve@exämple.test>\nSubject: t\n\nx\n' >m3b
capture run_as alice sh -c "$DMA -t <m3b"
is "-t UTF-8 recipient: accepted" "$rc" 0
capture run_dma -q -D
ok "-t UTF-8 recipient: delivered" wait_queue_empty
is "-t UTF-8 recipient: RCPT TO" "$(raw_line u 'RCPT TO:<ëve')" 'RCPT TO:<ëve@exämple.test>'
smtpd_stop u

# -- 4. server without SMTPUTF8: a non-ASCII envelope bounces -----------------
smtpd_start a || exit 1
smtpd_conf a DEFER
rm -f /var/mail/alice
submit m1 "$U_SENDER" "$U_RCPT"
capture run_dma -q -D
ok "no SMTPUTF8: entry removed" wait_queue_empty
is "no SMTPUTF8: nothing accepted" "$(smtpd_messages a)" 0
is "no SMTPUTF8: no MAIL FROM sent" \
    "$(smtpd_json "$(smtpd_session a)" 'j["commands"]' | cut -d' ' -f1)" "EHLO
QUIT"
like "no SMTPUTF8: bounce (via the UTF-8 alias) gives the reason" "$(cat /var/mail/alice)" \
    "^127\.0\.0\.1 \[127\.0\.0\.1\] does not support SMTPUTF8, needed for the non-ASCII address <$U_SENDER>\$"
like "no SMTPUTF8: bounce names the recipient" "$(cat /var/mail/alice)" "$U_RCPT"
ok "no SMTPUTF8: logged" syslog_has \
    "remote delivery to <$U_RCPT> failed: 127\.0\.0\.1 \[127\.0\.0\.1\] does not support SMTPUTF8"

# -- 4b. mixed recipients: only the one that needs SMTPUTF8 bounces ----------
rm -f /var/mail/alice
capture run_as alice sh -c "$DMA -f alice@testhost ann@example.org '$U_RCPT' <m2"
capture run_dma -q -D
ok "mixed recipients: entries removed" wait_queue_empty
is "mixed recipients: the ASCII recipient was sent" \
    "$(smtpd_json "$(smtpd_last_json a)" 'j["rcpt_tos"]')" "ann@example.org"
like "mixed recipients: the UTF-8 recipient bounced" "$(cat /var/mail/alice)" \
    "needed for the non-ASCII address <$U_RCPT>\$"
unlike "mixed recipients: the ASCII recipient did not bounce" "$(cat /var/mail/alice)" \
    'ann@example\.org'

# -- 5. server without SMTPUTF8: a UTF-8 header bounces too -------------------
rm -f /var/mail/alice
submit m3 alice@testhost dave@example.org
capture run_dma -q -D
ok "no SMTPUTF8, UTF-8 header: entry removed" wait_queue_empty
is "no SMTPUTF8, UTF-8 header: nothing more accepted" "$(smtpd_messages a)" 1
like "no SMTPUTF8, UTF-8 header: bounce reason" "$(cat /var/mail/alice)" \
    '^127\.0\.0\.1 \[127\.0\.0\.1\] does not support SMTPUTF8, needed for the UTF-8 in the message header$'
smtpd_stop a

# -- 6. a U-label domain: MX of its A-label, U-label kept in RCPT TO ----------
dns_start '
mx-host=xn--bcher-kva.test,mx.xn--bcher-kva.test,10
host-record=mx.xn--bcher-kva.test,127.0.0.2
host-record=relais.xn--bcher-kva.test,127.0.0.3
' || exit 1
echo DEFER | dma_conf
smtpd_start mx --host 127.0.0.2 --port 25 --smtputf8 || exit 1
printf 'Subject: idn\n\nvia MX\n' >m6
submit m6 alice@testhost 'leser@bücher.test'
capture run_dma -q -D
ok "U-label domain: delivered" wait_queue_empty
is "U-label domain: the MX of the A-label accepted it" "$(smtpd_messages mx)" 1
is "U-label domain: RCPT TO keeps the U-label" "$(raw_line mx 'RCPT TO')" \
    'RCPT TO:<leser@bücher.test>'
is "U-label domain: MAIL FROM with SMTPUTF8" "$(raw_line mx 'MAIL FROM')" \
    'MAIL FROM:<alice@testhost> SMTPUTF8'
ok "U-label domain: lookup logged" syslog_has 'looking up bücher\.test as xn--bcher-kva\.test$'
ok "U-label domain: the MX was tried" syslog_has \
    'trying remote delivery to mx\.xn--bcher-kva\.test \[127\.0\.0\.2\] pref 10$'
smtpd_stop mx

# -- 6b. a SMARTHOST with U-labels is looked up as its A-labels --------------
smtpd_start sh --host 127.0.0.3 --port 25 --smtputf8 || exit 1
printf 'SMARTHOST relais.bücher.test\nDEFER\n' | dma_conf
submit m6 alice@testhost bob@example.org
capture run_dma -q -D
ok "U-label SMARTHOST: delivered" wait_queue_empty
is "U-label SMARTHOST: it accepted the message" "$(smtpd_messages sh)" 1
ok "U-label SMARTHOST: lookup logged" syslog_has \
    'looking up relais\.bücher\.test as relais\.xn--bcher-kva\.test$'
smtpd_stop sh

# an invalid one is a configuration error: the mail waits
printf 'SMARTHOST relais.☃.test\nDEFER\n' | dma_conf
submit m6 alice@testhost bob@example.org
capture run_dma -q -D
is "invalid U-label SMARTHOST: still queued" "$(qfiles | grep -c .)" 1
ok "invalid U-label SMARTHOST: deferred with the reason" syslog_has \
    'delivery deferred: invalid internationalised domain name relais\.☃\.test: string contains a disallowed character$'
kill_dma
rm -f "$SPOOL"/[QM]*
echo DEFER | dma_conf

# -- 7. an invalid U-label (IDNA2008 disallows the snowman): bounce -----------
rm -f /var/mail/alice
submit m6 alice@testhost 'frosty@☃.test'
capture run_dma -q -D
ok "invalid U-label: entry removed" wait_queue_empty
like "invalid U-label: bounce reason" "$(cat /var/mail/alice)" \
    '^invalid internationalised domain name ☃\.test: string contains a disallowed character$'

# -- 7b. without libidn2 (loaded only when needed) a U-label waits -----------
lib=$(ldconfig -p | awk '/libidn2\.so\.0 / { print $NF; exit }')
if [ -n "$lib" ] && mount --bind /dev/null "$lib"; then
	submit m6 alice@testhost 'leser@bücher.test'
	capture run_dma -q -D
	is "no libidn2: still queued" "$(qfiles | grep -c .)" 1
	ok "no libidn2: deferred with the reason" syslog_has \
	    'delivery deferred: cannot look up the internationalised domain name bücher\.test: .*libidn2'
	umount "$lib"
	kill_dma
	rm -f "$SPOOL"/[QM]*
else
	skip "no libidn2: deferred" "libidn2.so.0 not found or not maskable"
fi
dns_stop

# -- 8. intake: invalid UTF-8 and C1 controls refused, nothing queued ---------
printf 'Subject: bad\n\nx\n' >m8
capture run_as alice sh -c "$DMA \"\$(printf 'j\\366rg@example.org')\" <m8"
is "latin-1 recipient: exit 65" "$rc" 65
is "latin-1 recipient: error, the byte shown escaped" "$err" \
    "dma: invalid recipient \`j\\xf6rg@example.org': invalid UTF-8 (byte 0xf6 at offset 1)"
capture run_as alice sh -c "$DMA -f \"\$(printf 'a@b\\303')\" bob <m8"
is "truncated UTF-8 sender: exit 65" "$rc" 65
is "truncated UTF-8 sender: error" "$err" \
    "dma: invalid sender address \`a@b\\xc3': invalid UTF-8 (byte 0xc3 at offset 3)"
capture run_as alice sh -c "$DMA \"\$(printf 'a\\302\\205b@example.org')\" <m8"
is "C1 control in a recipient: exit 65" "$rc" 65
is "C1 control in a recipient: error, the control shown escaped" "$err" \
    "dma: invalid recipient \`a\\xc2\\x85b@example.org': control character U+0085"
capture run_as alice sh -c "$DMA \"\$(printf 'a\\340\\200\\274@example.org')\" <m8"
is "overlong '<' in a recipient: exit 65" "$rc" 65
is "intake: nothing queued" "$(qfiles)" ""

# -- 9. local delivery: a UTF-8 local part needs an alias ---------------------
rm -f /var/mail/alice
capture run_as bob sh -c "$DMA 'jörg' <m8"
is "UTF-8 local part with an alias: accepted" "$rc" 0
capture run_dma -q -D
ok "UTF-8 local part with an alias: delivered" wait_queue_empty
is "UTF-8 local part with an alias: alice got it" "$(count_msgs /var/mail/alice)" 1
capture run_as bob sh -c "$DMA 'jürgen' <m8"
is "UTF-8 local part without alias: exit 65 (no such user)" "$rc" 65
is "UTF-8 local part without alias: error" "$err" "dma: invalid recipient \`jürgen'"
