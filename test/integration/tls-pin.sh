# tls-pin.sh - FINGERPRINT: SHA-256 pinning of the server certificate,
# with and without VERIFYCERT; CERTFILE: the client certificate.
# Servers: test/integration/smtpd.py with the certificates of gen-certs.sh.

tls_certs || exit 1
C=$T/certs
dns_start 'host-record=mail.example.org,127.0.0.1' || exit 1

MSG='Subject: pin test

pinned
'

# send RCPT: submit a small message as alice; remember where the log was.
send() {
	syslog_mark
	printf '%s' "$MSG" | send_as alice "$1"
}

# delivered NAME DESC N: the queue drains and NAME has accepted N messages.
delivered() {
	ok "$2: queue drained" wait_queue_empty 30
	is "$2: the server accepted it" "$(smtpd_messages "$1")" "$3"
}

# deferred NAME DESC ERE N: reason in the log, still queued, NAME still
# has N messages; the queue is cleared afterwards.
deferred() {
	ok "$2: deferred with the reason in the log" \
	    wait_until 20 logged "delivery deferred: $3"
	ok "$2: still queued" test -n "$(qfiles)"
	is "$2: the server accepted nothing" "$(smtpd_messages "$1")" "$4"
	kill_dma
	rm -f "$SPOOL"/*
}

# conf NAME LINE...: smarthost mail.example.org with STARTTLS, plus LINEs.
conf() {
	local name=$1 l
	shift
	{
		printf 'SMARTHOST mail.example.org\nPORT %s\nSECURETRANSFER\nSTARTTLS\n' \
		    "$(smtpd_port "$name")"
		for l in "$@"; do
			printf '%s\n' "$l"
		done
	} | dma_conf
}

fp_self=$(cat "$C/selfsigned.fp")	# "AB:CD:..." as openssl prints it
fp_server=$(cat "$C/server.fp")
lower_plain=$(printf '%s' "$fp_self" | tr -d : | tr A-F a-f)

# ---- pinning a self-signed certificate (no CA involved) ----------------
smtpd_start self --tls starttls --cert "$C/selfsigned.crt" --key "$C/selfsigned.key" || exit 1
conf self "FINGERPRINT $fp_self"
send bob@example.org
delivered self "pinned self-signed certificate, upper case with colons" 1
ok "log: certificate pinned" \
    logged 'TLS: TLSv1\.[23] [A-Z0-9_-]+, certificate pinned$'
ok "log: the fingerprint check succeeded (debug)" \
    logged '^mail\.debug .*successfully verified server certificate fingerprint$'

conf self "FINGERPRINT $lower_plain"
send bob@example.org
delivered self "pinned, lower case without colons" 2

conf self "FINGERPRINT $fp_server"
send bob@example.org
deferred self "fingerprint of another certificate" \
    'mail\.example\.org \[127\.0\.0\.1\]: .*fingerprints do not match$' 2
ok "log: mismatch is a warning" \
    logged '^mail\.warning .*fingerprints do not match$'

conf self "FINGERPRINT $fp_self" VERIFYCERT
send bob@example.org
deferred self "a pin does not replace VERIFYCERT" \
    'mail\.example\.org \[127\.0\.0\.1\]: .*self-signed certificate$' 2
smtpd_stop self

# ---- pinning plus verification --------------------------------------------
smtpd_start ca --tls starttls --cert "$C/server.crt" --key "$C/server.key" || exit 1
conf ca "FINGERPRINT $fp_server" VERIFYCERT
send bob@example.org
delivered ca "CA-signed and pinned" 1
ok "log: certificate verified and pinned" \
    logged 'TLS: TLSv1\.[23] [A-Z0-9_-]+, certificate verified and pinned$'
smtpd_stop ca

# ---- CERTFILE: the client certificate --------------------------------------
cp "$C/client.pem" /etc/dma/client.pem
chown root:mail /etc/dma/client.pem
chmod 0640 /etc/dma/client.pem

smtpd_start cc --tls starttls --cert "$C/server.crt" --key "$C/server.key" \
    --require-client-cert "$C/ca.crt" || exit 1
conf cc VERIFYCERT "CERTFILE /etc/dma/client.pem"
send bob@example.org
delivered cc "CERTFILE presented to a server requiring one" 1
like "the server saw the client certificate subject" \
    "$(smtpd_json "$(smtpd_session cc)" 'j["client_cert"]')" 'commonName=dma-test-client'

conf cc VERIFYCERT
send bob@example.org
deferred cc "no CERTFILE for a server requiring one" \
    'mail\.example\.org \[127\.0\.0\.1\]' 1

conf cc VERIFYCERT "CERTFILE /etc/dma/missing.pem"
send bob@example.org
deferred cc "CERTFILE that does not exist" \
    '.*SSL: Cannot load certificate /etc/dma/missing\.pem: .*No such file' 1

cp "$C/client.crt" /etc/dma/nokey.pem
chmod 0644 /etc/dma/nokey.pem
conf cc VERIFYCERT "CERTFILE /etc/dma/nokey.pem"
send bob@example.org
deferred cc "CERTFILE without the private key" \
    '.*SSL: Cannot load private key /etc/dma/nokey\.pem' 1

cat "$C/client.crt" "$C/server.key" >/etc/dma/mixed.pem
chmod 0640 /etc/dma/mixed.pem
chown root:mail /etc/dma/mixed.pem
conf cc VERIFYCERT "CERTFILE /etc/dma/mixed.pem"
send bob@example.org
deferred cc "CERTFILE whose key does not belong to the certificate" \
    '.*SSL: Cannot (load|check) private key.*' 1
smtpd_stop cc
