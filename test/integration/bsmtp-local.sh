# bsmtp-local.sh - "dma -bs" as an ordinary user: an SMTP dialogue on
# stdin/stdout (as Alpine and scripts use it) whose messages end up in a
# local mbox with the exact bytes of a normal submission.

# mask_replies: CRLF -> LF, queue ids masked
mask_replies() {
	tr -d '\r' | sed -E 's/^(250 2\.0\.0 Ok: queued as )[0-9a-f]+$/\1QID/'
}

# -- 1. one message from alice to bob, LF line ends (a here-document) ------
capture run_as alice "$DMA" -bs <<'EOF'
EHLO client.example
MAIL FROM:<alice>
RCPT TO:<bob>
DATA
Subject: bsmtp test
To: bob

..leading dot
body
.
QUIT
EOF
is "alice: -bs exit 0" "$rc" 0
is "alice: nothing on stderr" "$err" ""
is "alice: the replies" "$(printf '%s\n' "$out" | mask_replies)" "\
220 $HOST ESMTP DragonFly Mail Agent $DMA_VERSION
250-$HOST
250-8BITMIME
250-PIPELINING
250-SMTPUTF8
250 ENHANCEDSTATUSCODES
250 2.1.0 Ok
250 2.1.5 Ok
354 End data with <CR><LF>.<CR><LF>
250 2.0.0 Ok: queued as QID
221 2.0.0 Bye"
ok "every reply ends with CRLF" sh -c \
    '[ "$(printf "%s\n" "$1" | grep -c "$(printf "\r")\$")" = 11 ]' sh "$out"
ok "alice's message delivered" wait_queue_empty
{
	echo "From alice@$HOST DATE"
	received_masked alice 2001 "alice@$HOST"
	cat <<EOF
Subject: bsmtp test
To: bob
Date: DATE
Message-Id: <MSGID>
From: <alice@$HOST>

.leading dot
body

EOF
} >want.bob1
mask_mbox /var/mail/bob >got.bob
is_file "bob's mbox: the message, dot-unstuffed, sender qualified" got.bob want.bob1
is_owner "bob's mbox created for bob" /var/mail/bob bob:mail
ok "syslog: the session is logged" \
    syslog_has 'mail\.info dma\[[0-9]+\]: bsmtp session started by user=alice uid=2001'
ok "syslog: the submission is logged" \
    syslog_has 'mail\.info dma\[[0-9]+\]: [0-9a-f]+: new mail from user=alice uid=2001 envelope_from=<alice@testhost>'

# -- 2. pipelined CRLF session: a refused recipient, two messages --------
: >/var/mail/bob
printf '%s\r\n' \
    "HELO c" \
    "MAIL FROM:<alice@example.org>" \
    "RCPT TO:<nosuchuser>" \
    "RCPT TO:<bob@$HOST>" \
    "DATA" \
    "Subject: one" \
    "" \
    "first" \
    "." \
    "MAIL FROM:<>" \
    "RCPT TO:<bob>" \
    "DATA" \
    "Subject: two" \
    "" \
    "second" \
    "." \
    "QUIT" >session2
capture run_as alice sh -c "\"\$0\" -bs <session2" "$DMA"
is "pipelined: exit 0" "$rc" 0
is "pipelined: the replies" "$(printf '%s\n' "$out" | mask_replies)" "\
220 $HOST ESMTP DragonFly Mail Agent $DMA_VERSION
250 $HOST
250 2.1.0 Ok
550 5.1.1 invalid recipient \`nosuchuser'
250 2.1.5 Ok
354 End data with <CR><LF>.<CR><LF>
250 2.0.0 Ok: queued as QID
250 2.1.0 Ok
250 2.1.5 Ok
354 End data with <CR><LF>.<CR><LF>
250 2.0.0 Ok: queued as QID
221 2.0.0 Bye"
ok "pipelined: both delivered" wait_queue_empty
is "pipelined: bob has two messages" "$(count_msgs /var/mail/bob)" 2
like "pipelined: the chosen envelope sender is used" "$(cat /var/mail/bob)" \
    '^From alice@example\.org '
like "pipelined: the null sender reaches the mbox as MAILER-DAEMON" \
    "$(cat /var/mail/bob)" '^From MAILER-DAEMON '
ok "no CR byte in the mbox" sh -c '! grep -q "$(printf "\r")" /var/mail/bob'
is "no mail for nosuchuser" "$(ls -A /var/mail | sort | tr '\n' ' ')" "bob "

# -- 3. end of input inside DATA: nothing queued, nothing delivered ------
: >/var/mail/bob
capture run_as alice "$DMA" -bs <<'EOF'
MAIL FROM:<alice>
RCPT TO:<bob>
DATA
Subject: cut off
EOF
is "cut off: exit 0" "$rc" 0
is "cut off: no reply after 354" "$(printf '%s\n' "$out" | tr -d '\r' | tail -n 1)" \
    "354 End data with <CR><LF>.<CR><LF>"
ok "cut off: queue stays empty" wait_queue_empty
is "cut off: spool empty (but for mailbox journals)" "$(ls -A "$SPOOL" | grep -v "^J")" ""
is "cut off: nothing delivered" "$(count_msgs /var/mail/bob)" 0

# -- 4. SMTPUTF8 (RFC 6531): offered, taken on MAIL, a UTF-8 sender and
# header reach the mbox as sent ------------------------------------------
: >/var/mail/bob
capture run_as alice "$DMA" -bs <<'EOF2'
EHLO client.example
MAIL FROM:<jürgen@example.org> SMTPUTF8
RCPT TO:<bob>
DATA
Subject: grüße

körper
.
QUIT
EOF2
is "SMTPUTF8: exit 0" "$rc" 0
like "SMTPUTF8: offered in the EHLO reply" "$out" '250-SMTPUTF8'
like "SMTPUTF8: the MAIL with it is taken" "$(printf '%s\n' "$out" | tr -d '\r')" \
    $'250 2.1.0 Ok\n250 2.1.5 Ok'
ok "SMTPUTF8: delivered" wait_queue_empty
like "SMTPUTF8: the UTF-8 sender in the From_ line" "$(cat /var/mail/bob)" \
    '^From jürgen@example\.org '
like "SMTPUTF8: the UTF-8 header unchanged" "$(cat /var/mail/bob)" 'Subject: grüße'
