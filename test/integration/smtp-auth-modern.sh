# smtp-auth-modern.sh - SCRAM-SHA-256 / SCRAM-SHA-1 and OAuth 2.0 tokens
# (OAUTHBEARER, XOAUTH2) against a smarthost whose SCRAM is a real server
# implementation: SCRAM preferred, login escaping, a wrong password bounces,
# a wrong or missing server signature ends the session without mail; tokens
# static or printed by a command (absolute path, no group mail, clean
# environment, stdin /dev/null, killed at TOKENTIMEOUT, 4 KiB limit), the error
# challenge answered as each RFC says (5xx bounces, 4xx defers), OAuth only
# over TLS; neither password nor token ever reaches the log or -v output.

tls_certs || exit 1
C=$T/certs
PW='Pa55:w0rd|x y'
USER_='mail,us=er'
TOKEN=ya29.a0AfB_byC-Test_Token.1234567890abcdef
TLSARGS="--tls starttls --cert $C/server.crt --key $C/server.key"
printf 'Subject: auth\n\nauthenticated mail\n' >msg
export LEAKME=this-must-not-reach-the-token-command

submit_one() {
	capture run_as alice sh -c "$DMA $1 <msg"
	[ "$rc" = 0 ] || diag "submission failed: $err"
}

conf() {
	local name=$1
	shift
	smtpd_conf "$name" DEFER "AUTHPATH /etc/dma/auth.conf" SECURETRANSFER STARTTLS "$@"
}

authed() {
	ok "$2: delivered" wait_queue_empty
	local j
	j=$(smtpd_last_json "$1")
	is "$2: mechanism" "$(smtpd_json "$j" 'j["auth_mechanism"]')" "$3"
	is "$2: login" "$(smtpd_json "$j" 'j["auth_login"]')" "$USER_"
	is "$2: authenticated" "$(smtpd_json "$j" 'j["authenticated"]')" true
}

# held NAME DESC: still queued, no transaction, QUIT sent.
held() {
	is "$2: still queued" "$(qfiles | grep -c .)" 1
	local s
	s=$(smtpd_session "$1")
	unlike "$2: no transaction" "$(smtpd_json "$s" 'j["commands"]')" '^MAIL'
	is "$2: QUIT sent" "$(smtpd_json "$s" 'j["commands"][-1]')" QUIT
}

# bounced NAME DESC REPLY-ERE: the entry is gone, alice got the reply.
bounced() {
	ok "$2: entry removed" wait_queue_empty
	is "$2: nothing accepted" "$(smtpd_messages "$1")" 0
	like "$2: bounce reason" "$(cat /var/mail/alice 2>/dev/null)" \
	    '^SMTP login to 127\.0\.0\.1 failed:$'
	like "$2: bounce has the reply" "$(cat /var/mail/alice 2>/dev/null)" "$3"
	rm -f /var/mail/alice
}

clear_queue() {
	kill_dma
	rm -f "$SPOOL"/[QM]*
}

VERBOSE_ERR=
keep_v() {
	VERBOSE_ERR="$VERBOSE_ERR
$err"
}

printf '%s|127.0.0.1:%s\n' "$USER_" "$PW" | auth_conf

# -- 1. SCRAM-SHA-256 preferred over everything else -------------------------
smtpd_start all $TLSARGS --auth PLAIN,LOGIN,CRAM-MD5,SCRAM-SHA-1,SCRAM-SHA-256 \
    --user "$USER_" --password "$PW" || exit 1
conf all
submit_one a@example.org
capture run_dma -v -q -D
keep_v
authed all "SCRAM-SHA-256 preferred" SCRAM-SHA-256
ok "log: user and mechanism" syslog_has \
    "using SMTP authentication for user $USER_, mechanism SCRAM-SHA-256\$"
like "-v: the client-first-message is masked" "$err" '^>>> AUTH SCRAM-SHA-256 \[redacted\]$'
like "-v: the proof is masked" "$err" '^>>> \[redacted\]$'
is "login escaped as RFC 5802 says" \
    "$(smtpd_json "$(smtpd_session all)" 'j["scram_client_first"].split(",r=")[0]')" \
    'n,,n=mail=2Cus=3Der'
smtpd_stop all

# -- 2. SCRAM-SHA-1 before CRAM-MD5 and PLAIN --------------------------------
smtpd_start sha1 $TLSARGS --auth PLAIN,CRAM-MD5,SCRAM-SHA-1 \
    --user "$USER_" --password "$PW" || exit 1
conf sha1
submit_one b@example.org
capture run_dma -q -D
authed sha1 "SCRAM-SHA-1 over CRAM-MD5" SCRAM-SHA-1
smtpd_stop sha1

# -- 3. wrong password: the server's 535 bounces ----------------------------
smtpd_start badpw $TLSARGS --auth SCRAM-SHA-256 --user "$USER_" --password other || exit 1
conf badpw
rm -f /var/mail/alice
submit_one c@example.org
capture run_dma -q -D
bounced badpw "SCRAM, wrong password" '^535 5\.7\.8 Authentication credentials invalid$'

# -- 4. wrong server signature: no mail, deferred, logged --------------------
smtpd_start badsig $TLSARGS --auth SCRAM-SHA-256,PLAIN --scram-bad-signature \
    --user "$USER_" --password "$PW" || exit 1
conf badsig
submit_one d@example.org
capture run_dma -q -D
held badsig "wrong server signature"
s=$(smtpd_session badsig)
is "wrong server signature: exchange abandoned with *" "$(smtpd_json "$s" 'j.get("scram_aborted")')" true
is "wrong server signature: never authenticated" "$(smtpd_json "$s" 'j["authenticated"]')" false
unlike "wrong server signature: no fallback to PLAIN" "$(smtpd_json "$s" 'j["commands"]')" '^AUTH PLAIN'
ok "wrong server signature: error logged" syslog_has \
    'SMTP AUTH SCRAM-SHA-256 with 127\.0\.0\.1 \[127\.0\.0\.1\] abandoned: SCRAM server signature mismatch: the server did not prove that it knows the password$'
ok "wrong server signature: deferred" syslog_has \
    'remote delivery deferred: 127\.0\.0\.1 \[127\.0\.0\.1\] failed after AUTH: SCRAM server signature mismatch'
clear_queue
smtpd_stop badsig

# -- 4b. no server signature at all: no mail either --------------------------
smtpd_start nosig $TLSARGS --auth SCRAM-SHA-256 --scram-no-final \
    --user "$USER_" --password "$PW" || exit 1
conf nosig
submit_one d2@example.org
capture run_dma -q -D
held nosig "no server signature"
ok "no server signature: logged" syslog_has \
    'SMTP AUTH SCRAM-SHA-256 with 127\.0\.0\.1 \[127\.0\.0\.1\] abandoned: the server accepted the login without sending its SCRAM signature$'
clear_queue
smtpd_stop nosig

# -- 5. XOAUTH2 with a static token -----------------------------------------
printf 'token:%s|127.0.0.1:%s\n' "$USER_" "$TOKEN" | auth_conf
smtpd_start xo $TLSARGS --auth PLAIN,XOAUTH2 --user "$USER_" --token "$TOKEN" || exit 1
conf xo
submit_one e@example.org
capture run_dma -v -q -D
keep_v
authed xo "XOAUTH2, static token" XOAUTH2
like "-v: AUTH XOAUTH2 masked" "$err" '^>>> AUTH XOAUTH2 \[redacted\]$'
is "XOAUTH2: well-formed initial response" \
    "$(smtpd_json "$(smtpd_session xo)" 'j["oauth_wellformed"]')" true
smtpd_stop xo

# -- 6. OAUTHBEARER preferred, token from a command --------------------------
mkdir -m 1777 out
cat >tok.sh <<EOS
#!/bin/sh
{ id -u; id -G; readlink /proc/\$\$/fd/0; ls -l /proc/\$\$/fd/ | grep -c socket; env; } >$T/out/tok.env
echo "$TOKEN"
EOS
chmod 755 tok.sh
printf 'tokencmd:%s|127.0.0.1:%s/tok.sh --some-arg\n' "$USER_" "$T" | auth_conf
smtpd_start ob $TLSARGS --auth XOAUTH2,OAUTHBEARER --user "$USER_" --token "$TOKEN" || exit 1
conf ob
submit_one f@example.org
# A queue run by alice: deliveries run as alice with the group mail.
capture run_as alice "$DMA" -v -q -D
keep_v
authed ob "OAUTHBEARER, token command" OAUTHBEARER
like "-v: AUTH OAUTHBEARER masked" "$err" '^>>> AUTH OAUTHBEARER \[redacted\]$'
s=$(smtpd_session ob)
is "OAUTHBEARER: host sent" "$(smtpd_json "$s" 'j["oauth_host"]')" 127.0.0.1
is "OAUTHBEARER: port sent" "$(smtpd_json "$s" 'j["oauth_port"]')" "$(smtpd_port ob)"
env_=$(cat out/tok.env 2>/dev/null)
is "token command: uid of the queue runner" "$(sed -n 1p out/tok.env)" "$(id -u alice)"
is "token command: group mail dropped" "$(sed -n 2p out/tok.env)" "$(id -g alice)"
is "token command: stdin is /dev/null" "$(sed -n 3p out/tok.env)" /dev/null
is "token command: no socket inherited" "$(sed -n 4p out/tok.env)" 0
like "token command: PATH" "$env_" '^PATH=/usr/bin:/bin$'
like "token command: HOME" "$env_" "^HOME=$(getent passwd alice | cut -d: -f6)\$"
like "token command: USER" "$env_" '^USER=alice$'
unlike "token command: the caller's environment is not passed" "$env_" LEAKME
# A queue run by root: dma runs as the user mail (real group nogroup), and
# the command as the user mail without the group mail.
rm -f out/tok.env
submit_one f2@example.org
capture run_dma -q -D
authed ob "OAUTHBEARER, token command run by root's queue run" OAUTHBEARER
is "token command under root's queue run: user mail" "$(sed -n 1p out/tok.env)" \
    "$(id -u mail)"
is "token command under root's queue run: group mail dropped (nogroup only)" \
    "$(sed -n 2p out/tok.env)" "$(getent group nogroup | cut -d: -f3)"
smtpd_stop ob

# -- 7. the error challenge: OAUTHBEARER 5xx bounces --------------------------
printf 'token:%s|127.0.0.1:wrong-token\n' "$USER_" | auth_conf
smtpd_start oberr $TLSARGS --auth OAUTHBEARER --user "$USER_" --token "$TOKEN" || exit 1
conf oberr
rm -f /var/mail/alice
submit_one g@example.org
capture run_dma -q -D
is "OAUTHBEARER error challenge answered with 0x01" \
    "$(smtpd_json "$(smtpd_session oberr)" 'j.get("oauth_error_answer")')" 01
bounced oberr "OAUTHBEARER, 535 after the error challenge" \
    '^535 5\.7\.8 Authentication credentials invalid$'
ok "OAUTHBEARER: the server's error logged" syslog_has \
    'SMTP AUTH OAUTHBEARER refused by 127\.0\.0\.1 \[127\.0\.0\.1\]: \{"status": "invalid_token"'
smtpd_stop oberr

# -- 8. XOAUTH2 error challenge with 454: deferred ---------------------------
smtpd_start xoerr $TLSARGS --auth XOAUTH2 --user "$USER_" --token "$TOKEN" --oauth-error \
    --oauth-fail-reply '454 4.7.0 try again later' || exit 1
printf 'token:%s|127.0.0.1:%s\n' "$USER_" "$TOKEN" | auth_conf
conf xoerr
submit_one h@example.org
capture run_dma -q -D
held xoerr "XOAUTH2, 454 after the error challenge"
is "XOAUTH2 error challenge answered with an empty line" \
    "$(smtpd_json "$(smtpd_session xoerr)" 'j.get("oauth_error_answer")')" ""
ok "XOAUTH2 454: logged as deferred" syslog_has \
    'remote delivery deferred: 127\.0\.0\.1 \[127\.0\.0\.1\] failed after AUTH: 454 4\.7\.0 try again later$'
clear_queue
smtpd_stop xoerr

# -- 9. OAuth never without TLS, not even with INSECURE -----------------------
smtpd_start clear --auth XOAUTH2,OAUTHBEARER --user "$USER_" --token "$TOKEN" || exit 1
smtpd_conf clear DEFER "AUTHPATH /etc/dma/auth.conf" INSECURE
submit_one i@example.org
capture run_dma -q -D
held clear "OAuth over plaintext"
unlike "OAuth over plaintext: no AUTH" "$(smtpd_json "$(smtpd_session clear)" 'j["commands"]')" '^AUTH'
ok "OAuth over plaintext: reason logged" syslog_has \
    'SMTP AUTH impossible: TLS is not active; OAuth tokens are only sent over TLS$'
clear_queue
smtpd_stop clear

# -- 10. a token but no OAuth mechanism: deferred, the command not run --------
printf 'tokencmd:%s|127.0.0.1:%s/tok.sh\n' "$USER_" "$T" | auth_conf
rm -f tok.env
smtpd_start pwonly $TLSARGS --auth PLAIN,SCRAM-SHA-256 --user "$USER_" --password "$PW" || exit 1
conf pwonly
submit_one j@example.org
capture run_dma -q -D
held pwonly "token, no OAuth offered"
ok "token, no OAuth offered: reason logged" syslog_has \
    'server offers neither OAUTHBEARER nor XOAUTH2 \(server offers: PLAIN SCRAM-SHA-256\)$'
ok "token, no OAuth offered: command not run" test ! -e tok.env
clear_queue
smtpd_stop pwonly

# -- 11. token commands that fail --------------------------------------------
smtpd_start cmd $TLSARGS --auth XOAUTH2 --user "$USER_" --token "$TOKEN" || exit 1
# tokcase DESC CMDLINE LOG-ERE: deferred, no AUTH sent, LOG-ERE logged.
tokcase() {
	printf 'tokencmd:%s|127.0.0.1:%s\n' "$USER_" "$2" | auth_conf
	conf cmd "TOKENTIMEOUT 2"
	submit_one k@example.org
	capture run_dma -q -D
	is "$1: still queued" "$(qfiles | grep -c .)" 1
	unlike "$1: no AUTH" "$(smtpd_json "$(smtpd_session cmd)" 'j["commands"]')" '^AUTH'
	ok "$1: logged" syslog_has "$3"
	clear_queue
}
printf '#!/bin/sh\nsleep 999 &\nsleep 998\n' >hang.sh
printf '#!/bin/sh\nhead -c 5000 /dev/zero | tr "\\000" a\n' >much.sh
printf '#!/bin/sh\necho "%s"\n' "$TOKEN" >noexec.sh
printf '#!/bin/sh\nexit 3\n' >fail.sh
printf '#!/bin/sh\n' >empty.sh
chmod 755 hang.sh much.sh fail.sh empty.sh
chmod 644 noexec.sh
tokcase "token command hangs" "$T/hang.sh" \
    "remote delivery deferred: 127\\.0\\.0\\.1 \\[127\\.0\\.0\\.1\\]: SMTP AUTH impossible: no OAuth token: token command $T/hang\\.sh did not finish within 2 s \\(killed\\)\$"
ok "hanging token command: its whole process group is gone" \
    wait_until 5 sh -c '! pgrep -f "sleep 99[89]" >/dev/null'
tokcase "token command prints too much" "$T/much.sh" \
    "token command $T/much\\.sh printed more than 4096 bytes\$"
tokcase "token command relative" "tok.sh" \
    'remote delivery deferred: the token command is not an absolute path in authfile /etc/dma/auth\.conf:1$'
tokcase "token command not executable" "$T/noexec.sh" \
    "can not execute token command $T/noexec\\.sh: Permission denied\$"
tokcase "token command fails" "$T/fail.sh" "token command $T/fail\\.sh exited with status 3\$"
tokcase "token command prints nothing" "$T/empty.sh" "token command $T/empty\\.sh printed no token\$"
smtpd_stop cmd

# -- 12. a long token goes after an empty 334 ---------------------------------
# (600 bytes: over the initial response limit, within the server's line limit)
LONG=$(head -c 600 /dev/zero | tr '\0' t)
printf '#!/bin/sh\necho %s\n' "$LONG" >long.sh
chmod 755 long.sh
printf 'tokencmd:%s|127.0.0.1:%s/long.sh\n' "$USER_" "$T" | auth_conf
smtpd_start long $TLSARGS --auth XOAUTH2 --user "$USER_" --token "$LONG" || exit 1
conf long
submit_one l@example.org
capture run_dma -v -q -D
keep_v
authed long "XOAUTH2, 600-byte token" XOAUTH2
like "-v: the bare AUTH command, then the masked response" "$err" '^>>> AUTH XOAUTH2$'
smtpd_stop long

# -- 13. the secrets never show -------------------------------------------------
b64() { printf '%s' "$1" | base64 -w0; }
syslog_sync
for secret in "$PW" "$(b64 "$PW")" "$TOKEN" "$(b64 "$TOKEN")" wrong-token \
    "$(printf 'user=%s\001auth=Bearer %s\001\001' "$USER_" "$TOKEN" | base64 -w0)" \
    ttttttttttttttttttttttttttttttttttttttttttt; do
	not_ok "syslog free of [$secret]" grep -qF -- "$secret" "$T/syslog"
	not_ok "-v traces free of [$secret]" grep -qF -- "$secret" <<<"$VERBOSE_ERR"
done
