# smtp-seeds.sh - the three documented smarthost setups (README.md), each
# replayed against a local server whose public name resolves to loopback
# in this namespace, on the real port, with its auth.conf line: MAIL FROM,
# AUTH mechanism and login, TLS mode and the delivered bytes.

tls_certs || exit 1
C=$T/certs
dns_start '
host-record=smtp.gmail.com,127.0.0.1
host-record=smtp.fastmail.com,127.0.0.1
host-record=mail.example.org,127.0.0.1
' || exit 1

BODY='this is a test'

# seed NAME RCPT: mail -s testing-email RCPT as alice, wait for the queue.
seed() {
	printf '%s\n' "$BODY" | run_as alice mail -s testing-email "$2"
	ok "$1: queue drained" wait_queue_empty 30
	is "$1: one message accepted" "$(smtpd_messages "$1")" 1
	j=$(smtpd_last_json "$1")
	eml=$(smtpd_last_msg "$1")
}

# bytes NAME: the received message is the submitted one, CRLF on the wire.
bytes() {
	like "$1: Subject kept" "$(tr -d '\r' <"$eml")" '^Subject: testing-email$'
	like "$1: body kept" "$(tr -d '\r' <"$eml")" "^$BODY\$"
	is "$1: every line ends in CRLF" "$(grep -c $'\r$' "$eml")" "$(wc -l <"$eml")"
}

# ---- Gmail: 587, STARTTLS, AUTH, MASQUERADE ----------------------------
smtpd_start gmail --port 587 --hostname smtp.gmail.com --tls starttls \
    --cert "$C/server.crt" --key "$C/server.key" --auth LOGIN,PLAIN \
    --auth-require-tls --user username@gmail.com --password 'app pass:word' || exit 1
dma_conf <<CONF
SMARTHOST smtp.gmail.com
PORT 587
AUTHPATH /etc/dma/auth.conf
SECURETRANSFER
STARTTLS
VERIFYCERT
MASQUERADE username@gmail.com
CONF
auth_conf <<CONF
username@gmail.com|smtp.gmail.com:app pass:word
CONF
seed gmail friend@example.com
is "gmail: MAIL FROM is the masquerade address" "$(smtpd_json "$j" 'j["mail_from"]')" username@gmail.com
is "gmail: RCPT TO" "$(smtpd_json "$j" 'j["rcpt_tos"]')" friend@example.com
is "gmail: STARTTLS was used" "$(smtpd_json "$j" 'j["tls"]')" true
is "gmail: AUTH PLAIN (strongest offered)" "$(smtpd_json "$j" 'j["auth_mechanism"]')" PLAIN
is "gmail: AUTH login from auth.conf" "$(smtpd_json "$j" 'j["auth_login"]')" username@gmail.com
is "gmail: authenticated" "$(smtpd_json "$j" 'j["authenticated"]')" true
is "gmail: EHLO name is the host name" "$(smtpd_json "$j" 'j["ehlo"]')" testhost
bytes gmail
unlike "gmail: password not in the log" "$(cat "$T/syslog")" 'app pass'
smtpd_stop gmail

# ---- Fastmail: 465, implicit TLS, MAILNAME ------------------------------
smtpd_start fastmail --port 465 --hostname smtp.fastmail.com --tls implicit \
    --cert "$C/server.crt" --key "$C/server.key" --auth PLAIN,LOGIN,CRAM-MD5 \
    --user username@fastmail.com --password password || exit 1
dma_conf <<CONF
SMARTHOST smtp.fastmail.com
PORT 465
AUTHPATH /etc/dma/auth.conf
SECURETRANSFER
VERIFYCERT
MAILNAME example.server.com
CONF
auth_conf <<CONF
username@fastmail.com|smtp.fastmail.com:password
CONF
seed fastmail username@fastmail.com
is "fastmail: MAIL FROM uses MAILNAME" "$(smtpd_json "$j" 'j["mail_from"]')" alice@example.server.com
is "fastmail: implicit TLS" "$(smtpd_json "$j" 'j["tls"]')" true
is "fastmail: AUTH CRAM-MD5 (strongest offered)" "$(smtpd_json "$j" 'j["auth_mechanism"]')" CRAM-MD5
is "fastmail: AUTH login" "$(smtpd_json "$j" 'j["auth_login"]')" username@fastmail.com
is "fastmail: EHLO is the MAILNAME" "$(smtpd_json "$j" 'j["ehlo"]')" example.server.com
like "fastmail: Message-Id right side is the MAILNAME" "$(tr -d '\r' <"$eml")" '^Message-Id: <[^@]+@example\.server\.com>$'
bytes fastmail
smtpd_stop fastmail

# ---- custom relay: 587, STARTTLS, LOGIN only ----------------------------
smtpd_start custom --port 587 --hostname mail.example.org --tls starttls \
    --cert "$C/server.crt" --key "$C/server.key" --auth LOGIN \
    --auth-require-tls --user username@example.org --password password || exit 1
dma_conf <<CONF
SMARTHOST mail.example.org
PORT 587
AUTHPATH /etc/dma/auth.conf
SECURETRANSFER
STARTTLS
CONF
auth_conf <<CONF
# the seed's line, after a comment
username@example.org|mail.example.org:password
CONF
seed custom username@example.org
is "custom: MAIL FROM is the user at the host name" "$(smtpd_json "$j" 'j["mail_from"]')" alice@testhost
is "custom: STARTTLS was used" "$(smtpd_json "$j" 'j["tls"]')" true
is "custom: AUTH LOGIN" "$(smtpd_json "$j" 'j["auth_mechanism"]')" LOGIN
is "custom: AUTH login" "$(smtpd_json "$j" 'j["auth_login"]')" username@example.org
bytes custom
smtpd_stop custom
