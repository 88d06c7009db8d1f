# clients-verbose.sh - "sendmail -v": a user watches the delivery of the
# message she submits.  The foreground delivery traces the SMTP dialogue
# on stderr ("<<< reply", ">>> command" lines, in order), the message
# itself only as a size, and the AUTH payloads of every mechanism
# (LOGIN, PLAIN, CRAM-MD5) as [redacted]: the password, its base64 forms
# and the CRAM-MD5 response never appear on stderr, in the log, in a
# bounce.  Over STARTTLS, implicit TLS, and plaintext with INSECURE.

tls_certs || exit 1
C=$T/certs
PW='Pw-Sekrit-7731'
LOGIN=vuser
TLSARGS="--cert $C/server.crt --key $C/server.key"
printf '%s|127.0.0.1:%s\n' "$LOGIN" "$PW" | auth_conf
printf 'Subject: verbose\n\nverbose body\n' >"$T/msg"
chmod 0644 "$T/msg"

# Every form of the secret that must never be shown.
b64() { printf '%s' "$1" | base64 -w0; }
SECRETS="$PW
$(b64 "$PW")
$(printf '\0%s\0%s' "$LOGIN" "$PW" | base64 -w0)
$(printf '%s\0%s\0%s' "$LOGIN" "$LOGIN" "$PW" | base64 -w0)"

# no_secret DESC TEXT: none of the secret forms is in TEXT.
no_secret() {
	local s found=""
	while IFS= read -r s; do
		[ -n "$s" ] || continue
		case $2 in
		*"$s"*) found="$found $s" ;;
		esac
	done <<<"$SECRETS"
	is "$1" "$found" ""
}

# trace NAME MECH DESC CONF_LINES...: alice sends with -v through smtpd
# NAME; sets $err (the trace) and checks delivery and masking.
trace() {
	local name=$1 mech=$2 desc=$3 j
	shift 3
	smtpd_conf "$name" "AUTHPATH /etc/dma/auth.conf" "$@"
	capture run_as alice sh -c "$DMA -v carol@example.org <$T/msg"
	is "$desc: exit 0, nothing on stdout" "$rc:$out" "0:"
	ok "$desc: delivered" wait_queue_empty
	j=$(smtpd_last_json "$name")
	is "$desc: authenticated with $mech as $LOGIN" \
	    "$(smtpd_json "$j" 'str(j["authenticated"]) + " " + str(j["auth_mechanism"]) + " " + str(j["auth_login"])')" \
	    "True $mech $LOGIN"
	no_secret "$desc: no secret on stderr" "$err"
	like "$desc: the trace shows a masked AUTH" "$err" '^>>> (AUTH [A-Z0-9-]+ )?\[redacted\]$'
	# Every line sent after AUTH and before its final reply is masked.
	printf '%s\n' "$err" | sed -n '/^>>> AUTH /,/^<<< 2[0-9][0-9] /p' >"$T/authpart"
	is "$desc: AUTH exchange: only the command and [redacted] lines are sent" \
	    "$(grep '^>>> ' "$T/authpart" | grep -v -E '^>>> (AUTH [A-Z0-9-]+( \[redacted\])?|\[redacted\])$')" ""
	unlike "$desc: the message text is not traced" "$err" 'verbose body|^>>> Subject:'
}

# -- a plain delivery: the whole dialogue, in order (continuation lines of a
# reply squeezed into one) ------------------------------------------------
smtpd_start plain
smtpd_conf plain
capture run_as alice sh -c "$DMA -v carol@example.org <$T/msg"
is "plain: exit 0, nothing on stdout" "$rc:$out" "0:"
ok "plain: delivered when sendmail -v returns" test -z "$(qfiles)"
is "plain: the relay has it" "$(smtpd_messages plain)" 1
printf '%s\n' "$err" | grep -E '^(>>>|<<<) ' |
    sed -E 's/^(>>> MAIL FROM:<[^>]*>).*/\1/; s/^>>> \[message, [0-9]+ bytes\]$/>>> [message]/; s/^(<<< [0-9]{3}[ -]).*/\1/' |
    uniq >"$T/dialogue"
cat >"$T/dialogue.want" <<'EOF'
<<< 220 
>>> EHLO testhost
<<< 250-
<<< 250 
>>> MAIL FROM:<alice@testhost>
<<< 250 
>>> RCPT TO:<carol@example.org>
<<< 250 
>>> DATA
<<< 354 
>>> [message]
>>> .
<<< 250 
>>> QUIT
<<< 221 
EOF
is_file "plain: the dialogue, in order" "$T/dialogue" "$T/dialogue.want"
like "plain: the message is shown as its size" "$err" '^>>> \[message, [0-9]+ bytes\]$'
smtpd_stop plain

# -- AUTH over STARTTLS, each mechanism ----------------------------------------
for mech in LOGIN PLAIN CRAM-MD5; do
	smtpd_start "st-$mech" --tls starttls $TLSARGS --auth "$mech" --auth-require-tls \
	    --user "$LOGIN" --password "$PW"
	trace "st-$mech" "$mech" "STARTTLS + $mech" SECURETRANSFER STARTTLS
	like "STARTTLS + $mech: STARTTLS is traced" "$err" '^>>> STARTTLS$'
	smtpd_stop "st-$mech"
done

# -- implicit TLS -----------------------------------------------------------------
smtpd_start tls --tls implicit $TLSARGS --auth LOGIN,PLAIN,CRAM-MD5 --user "$LOGIN" --password "$PW"
trace tls CRAM-MD5 "implicit TLS, strongest mechanism" SECURETRANSFER
smtpd_stop tls

# -- plaintext with INSECURE -----------------------------------------------------
smtpd_start ins --auth LOGIN,PLAIN --user "$LOGIN" --password "$PW"
trace ins PLAIN "plaintext + INSECURE" INSECURE
smtpd_stop ins

# -- a refused password: bounced, and still no secret anywhere --------------------
rm -f "$MAILDIR/alice"
smtpd_start bad --tls starttls $TLSARGS --auth LOGIN --user "$LOGIN" --password "other-password"
smtpd_conf bad SECURETRANSFER STARTTLS "AUTHPATH /etc/dma/auth.conf"
capture run_as alice sh -c "$DMA -v carol@example.org <$T/msg"
is "wrong password: exit 0 (the message was accepted)" "$rc" 0
like "wrong password: the 535 is traced" "$err" '^<<< 535'
no_secret "wrong password: no secret on stderr" "$err"
ok "wrong password: bounced, queue empty" wait_queue_empty
is "wrong password: alice got the bounce" "$(count_msgs "$MAILDIR/alice")" 1
no_secret "wrong password: no secret in the bounce" "$(cat "$MAILDIR/alice" 2>/dev/null)"
is "wrong password: the relay got no message" "$(smtpd_messages bad)" 0
smtpd_stop bad

syslog_sync
no_secret "no secret in the log" "$(cat "$T/syslog")"
no_secret "no secret in the smtpd session records" "$(cat "$T"/smtpd-*/session-*.json)"
