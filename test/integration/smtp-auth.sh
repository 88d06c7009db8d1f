# smtp-auth.sh - SMTP AUTH against a smarthost: CRAM-MD5, PLAIN and LOGIN
# (strongest offered first), both "AUTH x" and "AUTH=x" keywords; never
# credentials without TLS unless INSECURE (also not after an opportunistic
# fallback), never an unauthenticated transaction when auth.conf names the
# host; 535 bounces, 454 defers; the password never reaches the log or the
# -v trace.

tls_certs || exit 1
C=$T/certs
PW='Pa55:w0rd|x y'
USER_=mailuser
TLSARGS="--tls starttls --cert $C/server.crt --key $C/server.key"
printf 'Subject: auth\n\nauthenticated mail\n' >msg
printf '%s|127.0.0.1:%s\n' "$USER_" "$PW" | auth_conf

submit_one() {
	capture run_as alice sh -c "$DMA $1 <msg"
	[ "$rc" = 0 ] || diag "submission failed: $err"
}

# conf NAME LINES...: smarthost NAME with auth.conf, DEFER and LINES.
conf() {
	local name=$1
	shift
	smtpd_conf "$name" DEFER "AUTHPATH /etc/dma/auth.conf" "$@"
}

# authed NAME DESC MECH: delivered, authenticated with MECH as $USER_.
authed() {
	ok "$2: delivered" wait_queue_empty
	local j
	j=$(smtpd_last_json "$1")
	is "$2: mechanism" "$(smtpd_json "$j" 'j["auth_mechanism"]')" "$3"
	is "$2: login" "$(smtpd_json "$j" 'j["auth_login"]')" "$USER_"
	is "$2: authenticated" "$(smtpd_json "$j" 'j["authenticated"]')" true
}

# no_auth_sent NAME DESC: still queued, the server saw no AUTH, QUIT sent.
no_auth_sent() {
	is "$2: still queued" "$(qfiles | grep -c .)" 1
	local s
	s=$(smtpd_session "$1")
	unlike "$2: no AUTH command reached the server" "$(smtpd_json "$s" 'j["commands"]')" '^AUTH'
	unlike "$2: no transaction either" "$(smtpd_json "$s" 'j["commands"]')" '^MAIL'
	is "$2: QUIT sent" "$(smtpd_json "$s" 'j["commands"][-1]')" QUIT
}

clear_queue() {
	kill_dma
	rm -f "$SPOOL"/[QM]*
}

# -- 1. strongest mechanism first: CRAM-MD5 over STARTTLS -------------------
smtpd_start all $TLSARGS --auth PLAIN,LOGIN,CRAM-MD5 --user "$USER_" --password "$PW" || exit 1
conf all SECURETRANSFER STARTTLS
submit_one a@example.org
capture run_dma -v -q -D
authed all "CRAM-MD5 preferred" CRAM-MD5
ok "log: user and mechanism" syslog_has \
    "using SMTP authentication for user $USER_, mechanism CRAM-MD5\$"
like "-v: the CRAM-MD5 response is masked" "$err" '^>>> \[redacted\]$'
VERBOSE_ERR=$err
smtpd_stop all

# -- 2. PLAIN over STARTTLS --------------------------------------------------
smtpd_start plain $TLSARGS --auth PLAIN --user "$USER_" --password "$PW" || exit 1
conf plain SECURETRANSFER STARTTLS
submit_one b@example.org
capture run_dma -v -q -D
authed plain "PLAIN" PLAIN
like "-v: AUTH PLAIN payload masked" "$err" '^>>> AUTH PLAIN \[redacted\]$'
VERBOSE_ERR="$VERBOSE_ERR
$err"
smtpd_stop plain

# -- 3. LOGIN over implicit TLS, advertised as AUTH=LOGIN --------------------
smtpd_start login --tls implicit --cert "$C/server.crt" --key "$C/server.key" \
    --auth LOGIN --auth-equals --user "$USER_" --password "$PW" || exit 1
conf login SECURETRANSFER
submit_one c@example.org
capture run_dma -v -q -D
authed login "LOGIN via AUTH=" LOGIN
is "-v: both LOGIN payloads masked" "$(printf '%s\n' "$err" | grep -c '^>>> \[redacted\]$')" 2
VERBOSE_ERR="$VERBOSE_ERR
$err"
smtpd_stop login

# -- 4. plaintext server offering AUTH: credentials withheld ----------------
smtpd_start clear --auth PLAIN,LOGIN,CRAM-MD5 --user "$USER_" --password "$PW" || exit 1
conf clear
submit_one d@example.org
capture run_dma -q -D
no_auth_sent clear "plaintext, no INSECURE"
ok "plaintext: reason logged" syslog_has \
    'remote delivery deferred: 127\.0\.0\.1 \[127\.0\.0\.1\]: SMTP AUTH impossible: TLS is not active'
# INSECURE allows it.
conf clear INSECURE
capture run_dma -q -D
authed clear "plaintext with INSECURE" CRAM-MD5
smtpd_stop clear

# -- 5. opportunistic TLS fell back to plaintext: still no credentials ------
smtpd_start opp --auth PLAIN,LOGIN --user "$USER_" --password "$PW" || exit 1
conf opp SECURETRANSFER STARTTLS OPPORTUNISTIC_TLS
submit_one e@example.org
capture run_dma -q -D
no_auth_sent opp "opportunistic fallback"
ok "opportunistic fallback: it did fall back" syslog_has 'in opportunistic TLS mode'
clear_queue
smtpd_stop opp

# -- 6. no usable mechanism: deferred, never unauthenticated -----------------
smtpd_start nomech $TLSARGS || exit 1
conf nomech SECURETRANSFER STARTTLS
submit_one f@example.org
capture run_dma -q -D
no_auth_sent nomech "no AUTH offered"
ok "no AUTH offered: reason logged" syslog_has \
    'SMTP AUTH impossible: no supported mechanism offered \(server offers: none\)$'
clear_queue
smtpd_stop nomech

# -- 7. wrong password: 535 bounces with the server's reply -------------------
smtpd_start bad $TLSARGS --auth PLAIN --user "$USER_" --password other || exit 1
conf bad SECURETRANSFER STARTTLS
rm -f /var/mail/alice
submit_one g@example.org
capture run_dma -q -D
ok "535: entry removed" wait_queue_empty
is "535: nothing accepted" "$(smtpd_messages bad)" 0
is "535: QUIT after it" "$(smtpd_json "$(smtpd_session bad)" 'j["commands"][-1]')" QUIT
b=$(cat /var/mail/alice 2>/dev/null)
like "535: bounce reason" "$b" '^SMTP login to 127\.0\.0\.1 failed:$'
like "535: bounce has the reply" "$b" '^535 5\.7\.8 Authentication credentials invalid$'
ok "535: logged" syslog_has 'failed after AUTH: 535 5\.7\.8 Authentication credentials invalid$'
smtpd_stop bad

# -- 8. 454: deferred, then delivered ------------------------------------------
smtpd_start tmp $TLSARGS --auth LOGIN --user "$USER_" --password "$PW" \
    --fault 'auth=454 4.7.0 temporary authentication failure' --fault-once || exit 1
conf tmp SECURETRANSFER STARTTLS
rm -f /var/mail/alice
submit_one h@example.org
capture run_dma -q -D
is "454: still queued" "$(qfiles | grep -c .)" 1
ok "454: logged as deferred" syslog_has \
    'remote delivery deferred: 127\.0\.0\.1 \[127\.0\.0\.1\] failed after AUTH: 454 4\.7\.0 temporary authentication failure$'
ok "454: no bounce" test ! -e /var/mail/alice
capture run_dma -q -D
authed tmp "454 then success" LOGIN
smtpd_stop tmp

# -- 9. auth.conf names another host: no AUTH at all --------------------------
printf '%s|mail.example.org:%s\n' "$USER_" "$PW" | auth_conf
smtpd_start other $TLSARGS --auth PLAIN --user "$USER_" --password "$PW" || exit 1
conf other SECURETRANSFER STARTTLS
submit_one i@example.org
capture run_dma -q -D
ok "other host's credentials: delivered" wait_queue_empty
unlike "other host's credentials: no AUTH" \
    "$(smtpd_json "$(smtpd_session other)" 'j["commands"]')" '^AUTH'
smtpd_stop other

# -- 10. the secret never shows -------------------------------------------------
b64() { printf '%s' "$1" | base64 -w0; }
syslog_sync
for secret in "$PW" "$(b64 "$PW")" "$(printf '\0%s\0%s' "$USER_" "$PW" | base64 -w0)" \
    "$(b64 "$USER_")"; do
	not_ok "syslog free of [$secret]" grep -qF -- "$secret" "$T/syslog"
	not_ok "-v traces free of [$secret]" grep -qF -- "$secret" <<<"$VERBOSE_ERR"
done
