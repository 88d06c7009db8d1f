# tls-verify.sh - VERIFYCERT: the chain against the system CA store and
# the name (or address) the session was opened for; STARTTLS and implicit
# TLS; the one "TLS: ..." log line per session.
# Servers: test/integration/smtpd.py; names from a private dnsmasq; the
# test CA is added to the namespace's CA store.

tls_certs || exit 1
C=$T/certs
dns_start '
host-record=mail.example.org,127.0.0.1
host-record=wrong.example.com,127.0.0.1
mx-host=example.net,mx1.example.net,10
host-record=mx1.example.net,127.0.0.1
mx-host=badmx.test,mx.badmx.test,10
host-record=mx.badmx.test,127.0.0.1
' || exit 1

MSG='Subject: tls test

hello over TLS
'

# send RCPT: submit a small message as alice; remember where the log was.
send() {
	syslog_mark
	printf '%s' "$MSG" | send_as alice "$1"
}

# delivered NAME DESC: the queue drains and NAME accepted one more message.
delivered() {
	ok "$2: queue drained" wait_queue_empty 30
	is "$2: the server accepted it" "$(smtpd_messages "$1")" 1
}

# deferred NAME DESC ERE [N]: the log says why (ERE, after "deferred: "),
# the message stays queued and the server accepted nothing new (still N
# messages, default 0); then the queue is cleared for the next case.
deferred() {
	ok "$2: deferred with the reason in the log" \
	    wait_until 20 logged "delivery deferred: $3"
	ok "$2: still queued" test -n "$(qfiles)"
	is "$2: the server accepted nothing" "$(smtpd_messages "$1")" "${4:-0}"
	kill_dma
	rm -f "$SPOOL"/*
}

# tls_lines: number of "TLS: " session lines logged so far.
tls_lines() {
	syslog_sync
	grep -c ' dma\[[0-9]*\]: [0-9a-f.]*: TLS: ' "$T/syslog"
}

# ---- STARTTLS, CA-signed certificate for the smarthost name -------------
smtpd_start ok1 --tls starttls --cert "$C/server.crt" --key "$C/server.key" || exit 1
dma_conf <<EOF
SMARTHOST mail.example.org
PORT $(smtpd_port ok1)
SECURETRANSFER
STARTTLS
VERIFYCERT
EOF
n0=$(tls_lines)
send bob@example.org
delivered ok1 "STARTTLS + VERIFYCERT, valid certificate"
s=$(smtpd_session ok1)
is "the session was encrypted" "$(smtpd_json "$s" 'j["tls"]')" true
like "at least TLS 1.2" "$(smtpd_json "$s" 'j["tls_version"]')" '^TLSv1\.[23]$'
is "SNI is the smarthost name" "$(smtpd_json "$s" 'j["sni"]')" mail.example.org
ok "log: TLS version, cipher, certificate verified" \
    logged 'TLS: TLSv1\.[23] [A-Z0-9_-]+, certificate verified$'
is "exactly one TLS line for the session" "$(tls_lines)" $((n0 + 1))
smtpd_stop ok1

# ---- implicit TLS to an address: the IP SAN is checked, no SNI ----------
smtpd_start ok2 --tls implicit --cert "$C/server.crt" --key "$C/server.key" || exit 1
dma_conf <<EOF
SMARTHOST 127.0.0.1
PORT $(smtpd_port ok2)
SECURETRANSFER
VERIFYCERT
EOF
send bob@example.org
delivered ok2 "implicit TLS + VERIFYCERT to 127.0.0.1"
s=$(smtpd_session ok2)
is "implicit TLS: encrypted from the start" "$(smtpd_json "$s" 'j["tls"]')" true
is "no SNI for an address literal" "$(smtpd_json "$s" 'j["sni"]')" null
smtpd_stop ok2

# ---- wrong name: refused with VERIFYCERT --------------------------------
smtpd_start wrong --tls starttls --cert "$C/wrongname.crt" --key "$C/wrongname.key" || exit 1
dma_conf <<EOF
SMARTHOST mail.example.org
PORT $(smtpd_port wrong)
SECURETRANSFER
STARTTLS
VERIFYCERT
EOF
send bob@example.org
deferred wrong "certificate for another name" \
    'mail\.example\.org \[127\.0\.0\.1\]: .*SSL handshake failed fatally: certificate verify failed: hostname mismatch$'
unlike "no message data reached the wrong-name server" \
    "$(cat "$(smtpd_raw wrong)")" '^(MAIL|RCPT|DATA)'

# The same server is fine for the name it has a certificate for.
dma_conf <<EOF
SMARTHOST wrong.example.com
PORT $(smtpd_port wrong)
SECURETRANSFER
STARTTLS
VERIFYCERT
EOF
send bob@example.org
delivered wrong "the wrong-name certificate under its own name"
smtpd_stop wrong

# ---- self-signed: refused with VERIFYCERT, accepted without -------------
smtpd_start self --tls starttls --cert "$C/selfsigned.crt" --key "$C/selfsigned.key" || exit 1
dma_conf <<EOF
SMARTHOST 127.0.0.1
PORT $(smtpd_port self)
SECURETRANSFER
STARTTLS
VERIFYCERT
EOF
send bob@example.org
deferred self "self-signed certificate" \
    '127\.0\.0\.1 \[127\.0\.0\.1\]: .*certificate verify failed: self-signed certificate$'

dma_conf <<EOF
SMARTHOST 127.0.0.1
PORT $(smtpd_port self)
SECURETRANSFER
STARTTLS
EOF
send bob@example.org
delivered self "self-signed certificate without VERIFYCERT"
ok "log: certificate not checked" \
    logged 'TLS: TLSv1\.[23] [A-Z0-9_-]+, certificate not checked$'
smtpd_stop self

# ---- MX delivery: the MX host name is what the certificate must match ---
smtpd_start mx --port 25 --tls starttls --cert "$C/server.crt" --key "$C/server.key" || exit 1
dma_conf <<EOF
SECURETRANSFER
STARTTLS
VERIFYCERT
EOF
send carol@example.net
delivered mx "MX host named in the certificate"
is "SNI is the MX host name" "$(smtpd_json "$(smtpd_session mx)" 'j["sni"]')" \
    mx1.example.net
send dave@badmx.test
deferred mx "MX host not named in the certificate" \
    'mx\.badmx\.test \[127\.0\.0\.1\]: .*hostname mismatch$' 1
smtpd_stop mx
