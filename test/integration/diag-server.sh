# diag-server.sh - dma --serverinfo (golden output, dates and ports
# masked) against plain, STARTTLS and implicit-TLS lab servers with a good,
# a wrong-name, an untrusted and a pinned certificate; AUTH with -v only;
# exit 0 / 69 / 75; no mail is ever sent.

tls_certs || exit 1
C=$T/certs
dns_start '
host-record=mail.example.org,127.0.0.1
mx-host=example.net,mx1.example.net,10
host-record=mx1.example.net,127.0.0.1
' || exit 1

# info ARGS...: run dma ARGS as root; $out masked: ports, dates
info() {
	capture run_dma "$@"
	out=$(printf '%s\n' "$out" | sed -E \
	    -e 's/(mail\.example\.org|127\.0\.0\.1\]):[0-9]+/\1:PORT/g' \
	    -e 's/port [0-9]+ pref/port PORT pref/' \
	    -e 's/valid: .* GMT until .* GMT$/valid: DATE until DATE/')
}

# conf NAME LINE...: SMARTHOST mail.example.org on NAME's port, plus LINEs
conf() {
	local name=$1 l
	shift
	{
		printf 'SMARTHOST mail.example.org\nPORT %s\n' "$(smtpd_port "$name")"
		for l in "$@"; do
			printf '%s\n' "$l"
		done
	} | dma_conf
}

TLS_SRV="--cert $C/server.crt --key $C/server.key"
fp_server=$(cat "$C/server.fp")
fp_wrong=$(cat "$C/wrongname.fp")
fp_self=$(cat "$C/selfsigned.fp")
printf 'joe|mail.example.org:pw\n' | auth_conf

# ---- plain SMTP -----------------------------------------------------------
smtpd_start plain --auth PLAIN,LOGIN --user joe --password pw || exit 1
conf plain
info --serverinfo
is "plain: exit 0" "$rc" 0
is "plain: golden" "$out" "next hop: mail.example.org:PORT
tls mode: none (plain SMTP)
trying: mail.example.org [127.0.0.1] port PORT pref 0
greeting: 220 smtpd.test smtpd.py
ehlo: 250-smtpd.test
ehlo: 250-8BITMIME
ehlo: 250-AUTH PLAIN LOGIN
ehlo: 250 HELP
result: ok, session ready (QUIT sent, no mail)"
ok "plain: the server saw QUIT" wait_until 10 test "$(smtpd_json "$(smtpd_session plain)" 'j.get("quit")')" = true
is "plain: no mail sent" "$(smtpd_messages plain)" 0

# ---- STARTTLS, a good certificate, VERIFYCERT, AUTH with -v ---------------
smtpd_start st --tls starttls $TLS_SRV --auth PLAIN,LOGIN --auth-require-tls \
    --user joe --password pw || exit 1
conf st SECURETRANSFER STARTTLS VERIFYCERT AUTHPATH\ /etc/dma/auth.conf
info -v --serverinfo
is "STARTTLS, -v: exit 0" "$rc" 0
is "STARTTLS, -v: golden" "$out" "next hop: mail.example.org:PORT
tls mode: STARTTLS (required)
trying: mail.example.org [127.0.0.1] port PORT pref 0
greeting: 220 smtpd.test smtpd.py
ehlo: 250-smtpd.test
ehlo: 250-8BITMIME
ehlo: 250-STARTTLS
ehlo: 250 HELP
tls: TLSv1.3 TLS_AES_256_GCM_SHA384
certificate: 0 subject: CN=localhost
certificate: 0 issuer: CN=dma test CA,O=dma tests
certificate: 0 valid: DATE until DATE
verification: ok
fingerprint: $fp_server
ehlo: 250-smtpd.test
ehlo: 250-8BITMIME
ehlo: 250-AUTH PLAIN LOGIN
ehlo: 250 HELP
auth: succeeded as joe with PLAIN
result: ok, session ready (QUIT sent, no mail)"
unlike "STARTTLS, -v: the password is not shown" "$out$err" 'cHc|[^a-z]pw$'
info --serverinfo
is "STARTTLS without -v: exit 0" "$rc" 0
unlike "STARTTLS without -v: no login" "$out" '^auth:'
is "STARTTLS without -v: the server saw no AUTH" \
    "$(smtpd_json "$(smtpd_session st)" 'j["auth_mechanism"]')" null
is "STARTTLS: no mail sent" "$(smtpd_messages st)" 0

smtpd_start badpw --tls starttls $TLS_SRV --auth PLAIN --user joe --password other || exit 1
conf badpw SECURETRANSFER STARTTLS AUTHPATH\ /etc/dma/auth.conf
info -v --serverinfo
is "wrong password: exit 69 (EX_UNAVAILABLE)" "$rc" 69
like "wrong password: the server's reply" "$out" '^failed: SMTP login to mail\.example\.org failed:$'
like "wrong password: result" "$out" '^result: refused \(permanent\)$'
capture run_as alice "$DMA" -v --serverinfo
is "-v with auth.conf as a user outside group mail: exit 77" "$rc" 77

# ---- implicit TLS: wrong name, untrusted, pinned ----------------------------
smtpd_start wrong --tls implicit --cert "$C/wrongname.crt" --key "$C/wrongname.key" || exit 1
conf wrong SECURETRANSFER VERIFYCERT
info --serverinfo
is "wrong name: exit 75 (EX_TEMPFAIL)" "$rc" 75
is "wrong name: golden" "$out" "next hop: mail.example.org:PORT
tls mode: implicit TLS (SECURETRANSFER)
trying: mail.example.org [127.0.0.1] port PORT pref 0
certificate: 0 subject: CN=wrong.example.com
certificate: 0 issuer: CN=dma test CA,O=dma tests
certificate: 0 valid: DATE until DATE
verification: failed: hostname mismatch
fingerprint: $fp_wrong
failed: mail.example.org [127.0.0.1]: TLS handshake failed: SSL handshake failed fatally: certificate verify failed: hostname mismatch
result: failed (temporary)"

smtpd_start self --tls implicit --cert "$C/selfsigned.crt" --key "$C/selfsigned.key" || exit 1
conf self SECURETRANSFER VERIFYCERT
info --serverinfo
is "untrusted: exit 75" "$rc" 75
like "untrusted: verification failed" "$out" '^verification: failed: self[- ]signed certificate$'
like "untrusted: its fingerprint, to pin it" "$out" "^fingerprint: $fp_self\$"

conf self SECURETRANSFER "FINGERPRINT $fp_self"
info --serverinfo
is "pinned: exit 0" "$rc" 0
is "pinned: golden" "$out" "next hop: mail.example.org:PORT
tls mode: implicit TLS (SECURETRANSFER)
trying: mail.example.org [127.0.0.1] port PORT pref 0
tls: TLSv1.3 TLS_AES_256_GCM_SHA384
certificate: 0 subject: CN=localhost
certificate: 0 issuer: CN=localhost
certificate: 0 valid: DATE until DATE
verification: not required (VERIFYCERT not set)
fingerprint: $fp_self
pinning: matches FINGERPRINT
greeting: 220 smtpd.test smtpd.py
ehlo: 250-smtpd.test
ehlo: 250-8BITMIME
ehlo: 250 HELP
result: ok, session ready (QUIT sent, no mail)"

conf self SECURETRANSFER "FINGERPRINT $fp_server"
info --serverinfo
is "wrong pin: exit 75" "$rc" 75
like "wrong pin: says so" "$out" '^pinning: does not match FINGERPRINT$'
like "wrong pin: failed" "$out" '^failed: .*fingerprints do not match$'

# ---- the MX of a mail domain, port 25, its name verified ---------------------
smtpd_start mx --port 25 --tls starttls $TLS_SRV || exit 1
printf 'SECURETRANSFER\nSTARTTLS\nVERIFYCERT\n' | dma_conf
info --serverinfo example.net
is "MX of a domain: exit 0" "$rc" 0
is "MX of a domain: golden" "$(printf '%s\n' "$out" | sed -n '1,3p;/^verification/p;$p')" \
"next hop: MX of example.net port 25
tls mode: STARTTLS (required)
trying: mx1.example.net [127.0.0.1] port PORT pref 10
verification: ok
result: ok, session ready (QUIT sent, no mail)"
is "MX of a domain: SNI is the MX host's name" \
    "$(smtpd_json "$(smtpd_session mx)" 'j.get("sni")')" mx1.example.net

# ---- refusals, unreachable hosts, names ------------------------------------------
smtpd_start no5 --fault 'greeting=554 5.3.2 no service' || exit 1
conf no5
info --serverinfo
is "5xx greeting: exit 69" "$rc" 69
like "5xx greeting: the reply" "$out" '554 5\.3\.2 no service'
info --serverinfo "127.0.0.1:1"
is "connection refused: exit 75" "$rc" 75
like "connection refused: the address tried" "$out" '^trying: 127\.0\.0\.1 \[127\.0\.0\.1\] port PORT pref 0$'
like "connection refused: why" "$out" '^failed: connect to .*Connection refused$'
info --serverinfo no-such-domain.test
is "NXDOMAIN: exit 69" "$rc" 69
is "NXDOMAIN: golden" "$out" "next hop: MX of no-such-domain.test port 25
tls mode: none (plain SMTP)
failed: DNS lookup failure: host no-such-domain.test not found"
info --serverinfo "[127.0.0.1]:$(smtpd_port plain)"
is "address literal with port: exit 0" "$rc" 0
: | dma_conf
info --serverinfo
is "no SMARTHOST and no host: exit 64" "$rc" 64
info --serverinfo a b
is "two hosts: exit 64" "$rc" 64
info --serverinfo host:0
is "bad port: exit 64" "$rc" 64
is "nothing was queued" "$(qfiles)" ""
