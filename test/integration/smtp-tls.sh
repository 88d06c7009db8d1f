# smtp-tls.sh - STARTTLS and implicit TLS delivery to a smarthost (no
# certificate verification: that is tls-verify.sh): the dialogue, the one
# "TLS: ..." line per session, STARTTLS missing or refused with and
# without OPPORTUNISTIC_TLS, a handshake failure, and a reply injected
# between the STARTTLS 220 and the handshake.

tls_certs || exit 1
C=$T/certs
printf 'Subject: tls\n\nover TLS\n' >msg

submit_one() {
	capture run_as alice sh -c "$DMA $1 <msg"
	[ "$rc" = 0 ] || diag "submission failed: $err"
}

tls_lines() {
	syslog_sync
	grep -c ': TLS: ' "$T/syslog"
}

# -- 1. STARTTLS ------------------------------------------------------------
smtpd_start st --tls starttls --cert "$C/server.crt" --key "$C/server.key" || exit 1
smtpd_conf st DEFER SECURETRANSFER STARTTLS
submit_one a@example.org
capture run_dma -q -D
ok "STARTTLS: delivered" wait_queue_empty
is "STARTTLS: accepted" "$(smtpd_messages st)" 1
j=$(smtpd_last_json st)
is "STARTTLS: message came under TLS" "$(smtpd_json "$j" 'j["tls"]')" true
like "STARTTLS: TLS 1.2 or 1.3" "$(smtpd_json "$j" 'j["tls_version"]')" '^TLSv1\.[23]$'
is "STARTTLS: commands (EHLO again after TLS)" \
    "$(smtpd_json "$(smtpd_session st)" 'j["commands"]' | cut -d' ' -f1)" \
"EHLO
STARTTLS
EHLO
MAIL
RCPT
DATA
QUIT"
ok "STARTTLS: the TLS line names the protocol" syslog_has ': TLS: TLSv1\.[23] '
is "STARTTLS: one TLS line for the session" "$(tls_lines)" 1
smtpd_stop st

# -- 2. implicit TLS (SMTPS) ------------------------------------------------
smtpd_start im --tls implicit --cert "$C/server.crt" --key "$C/server.key" || exit 1
smtpd_conf im DEFER SECURETRANSFER
submit_one b@example.org
capture run_dma -q -D
ok "implicit TLS: delivered" wait_queue_empty
j=$(smtpd_last_json im)
is "implicit TLS: message came under TLS" "$(smtpd_json "$j" 'j["tls"]')" true
like "implicit TLS: no STARTTLS command" \
    "$(smtpd_json "$(smtpd_session im)" 'j["commands"]' | head -n 1)" '^EHLO '
is "implicit TLS: one more TLS line" "$(tls_lines)" 2
smtpd_stop im

# -- 3. STARTTLS not offered ------------------------------------------------
smtpd_start nost --tls starttls --cert "$C/server.crt" --key "$C/server.key" \
    --advertise-starttls no || exit 1
smtpd_conf nost DEFER SECURETRANSFER STARTTLS
submit_one c@example.org
capture run_dma -q -D
is "STARTTLS not offered: still queued" "$(qfiles | grep -c .)" 1
ok "STARTTLS not offered: logged" syslog_has \
    'remote delivery deferred: STARTTLS not available: 127\.0\.0\.1 \[127\.0\.0\.1\]: the server does not offer STARTTLS$'
is "STARTTLS not offered: never sent, QUIT sent" \
    "$(smtpd_json "$(smtpd_session nost)" 'j["commands"]' | cut -d' ' -f1)" \
"EHLO
QUIT"
is "STARTTLS not offered: nothing accepted" "$(smtpd_messages nost)" 0
smtpd_conf nost DEFER SECURETRANSFER STARTTLS OPPORTUNISTIC_TLS
capture run_dma -q -D
ok "opportunistic: delivered in plaintext" wait_queue_empty
is "opportunistic: message came without TLS" \
    "$(smtpd_json "$(smtpd_last_json nost)" 'j["tls"]')" false
ok "opportunistic: fallback logged" syslog_has \
    'in opportunistic TLS mode, STARTTLS not available: 127\.0\.0\.1 \[127\.0\.0\.1\]: the server does not offer STARTTLS$'
ok "opportunistic: TLS: none logged" syslog_has ': TLS: none$'
smtpd_stop nost

# -- 4. STARTTLS refused ----------------------------------------------------
smtpd_start ref --tls starttls --cert "$C/server.crt" --key "$C/server.key" \
    --fault 'starttls=454 4.7.0 TLS not available now' || exit 1
smtpd_conf ref DEFER SECURETRANSFER STARTTLS
submit_one d@example.org
capture run_dma -q -D
is "STARTTLS refused: still queued" "$(qfiles | grep -c .)" 1
ok "STARTTLS refused: logged with the reply" syslog_has \
    'remote delivery deferred: STARTTLS not available: 127\.0\.0\.1 \[127\.0\.0\.1\]: 454 4\.7\.0 TLS not available now$'
is "STARTTLS refused: QUIT after it" \
    "$(smtpd_json "$(smtpd_session ref)" 'j["commands"][-1]')" QUIT
smtpd_conf ref DEFER SECURETRANSFER STARTTLS OPPORTUNISTIC_TLS
capture run_dma -q -D
ok "STARTTLS refused, opportunistic: delivered" wait_queue_empty
is "STARTTLS refused, opportunistic: plaintext" \
    "$(smtpd_json "$(smtpd_last_json ref)" 'j["tls"]')" false
is "STARTTLS refused, opportunistic: EHLO, STARTTLS, then the transaction" \
    "$(smtpd_json "$(smtpd_session ref)" 'j["commands"]' | cut -d' ' -f1 | head -n 3)" \
"EHLO
STARTTLS
MAIL"
smtpd_stop ref

# -- 5. handshake failure: the server wants a client certificate -----------
smtpd_start cc --tls starttls --cert "$C/server.crt" --key "$C/server.key" \
    --require-client-cert "$C/ca.crt" || exit 1
smtpd_conf cc DEFER SECURETRANSFER STARTTLS
submit_one e@example.org
capture run_dma -q -D
is "handshake failure: still queued" "$(qfiles | grep -c .)" 1
# With TLS 1.3 the client may finish its handshake before the server
# rejects the missing certificate: the failure then shows on the next read.
ok "handshake failure: logged as deferred" syslog_has \
    'remote delivery deferred: 127\.0\.0\.1 \[127\.0\.0\.1\]'
install -m 0640 -o root -g mail "$C/client.pem" /etc/dma/client.pem
smtpd_conf cc DEFER SECURETRANSFER STARTTLS "CERTFILE /etc/dma/client.pem"
capture run_dma -q -D
ok "client certificate: delivered" wait_queue_empty
like "client certificate: the server saw it" \
    "$(smtpd_json "$(smtpd_last_json cc)" 'j["client_cert"]')" 'commonName=dma-test-client'
smtpd_stop cc

# -- 6. a reply injected before the handshake is refused ----------------------
smtpd_start inj --tls starttls --cert "$C/server.crt" --key "$C/server.key" \
    --starttls-inject || exit 1
smtpd_conf inj DEFER SECURETRANSFER STARTTLS
submit_one f@example.org
capture run_dma -q -D
is "STARTTLS injection: still queued" "$(qfiles | grep -c .)" 1
ok "STARTTLS injection: logged" syslog_has \
    'remote delivery deferred: 127\.0\.0\.1 \[127\.0\.0\.1\]: unexpected data after the STARTTLS reply$'
is "STARTTLS injection: nothing more sent" \
    "$(smtpd_json "$(smtpd_session inj)" 'j["commands"]' | cut -d' ' -f1)" \
"EHLO
STARTTLS"
smtpd_stop inj

# -- 7. OpenSSL is mapped only by the process that needs it -------------------
# A submission (kept waiting on its input) and a local delivery have no
# libssl or libcrypto among their mappings; without libssl a TLS delivery
# waits (4.7.0) and says why.
rm -f "$SPOOL"/[QM]*
mkfifo in.fifo
run_as alice sh -c "$DMA -odq alice <$T/in.fifo" &
subpid=$!
exec 7>in.fifo
maps=
for _ in $(seq 200); do
	pid=$(pgrep -n -x dma) && maps=$(cat "/proc/$pid/maps" 2>/dev/null)
	case $maps in *libc.so*) break ;; esac
	sleep 0.05
done
like "a submission runs (its mappings read)" "$maps" 'libc\.so'
unlike "a submission maps no libssl" "$maps" 'libssl'
unlike "a submission maps no libcrypto" "$maps" 'libcrypto'
printf 'Subject: x\n\nbody\n' >&7
exec 7>&-
wait $subpid
rm -f in.fifo
lib=$(ldconfig -p | awk '/libssl\.so\.3 / { print $NF; exit }')
if [ -n "$lib" ] && mount --bind /dev/null "$lib"; then
	smtpd_start nolib --tls starttls --cert "$C/server.crt" --key "$C/server.key" || exit 1
	smtpd_conf nolib DEFER SECURETRANSFER STARTTLS
	submit_one g@example.org
	capture run_dma -q -D
	is "no libssl: still queued" "$(qfiles | grep -c .)" 1
	ok "no libssl: deferred with the reason" syslog_has \
	    'remote delivery deferred: 127\.0\.0\.1 \[127\.0\.0\.1\]: TLS impossible: can not load libssl\.so\.3: '
	ok "no libssl: logged once at error level" syslog_has 'can not load libssl\.so\.3'
	umount "$lib"
	smtpd_stop nolib
else
	skip "no libssl: deferred" "libssl.so.3 not found or not maskable"
fi
