# attack-envelope.sh - an ordinary user tries to smuggle ESMTP parameters
# into MAIL FROM:<...> / RCPT TO:<...> through every envelope input: -f,
# -r, $EMAIL, command-line recipients, -t headers and -bs.  Every attempt
# is refused before the spool (exit 65 or an SMTP error reply) and a
# recording SMTP server sees only well-formed MAIL/RCPT commands.  A queue
# entry whose address was planted in the spool (as an older version could
# have queued it) is never sent: it bounces at once.  Then: Bcc and
# Resent-Bcc, also in the obsolete "Bcc : x" form, never reach a
# recipient, local or remote; and "dma -bs" reads its session without the
# group mail.

. "$SRC/test/integration/fixtures/attack-common.sh"

ok "setup: recording SMTP server" smtpd_start cap
smtpd_conf cap DEFER
printf 'Subject: envelope\n\nENVELOPE-BODY\n' >"$T/msg"
chmod 0644 "$T/msg"

# refused DESC CMD...: exit 65, one error line naming an invalid address,
# nothing queued.
refused() {
	local desc=$1
	shift
	capture "$@"
	is "$desc: exit 65" "$rc" 65
	like "$desc: the error names the invalid address" "$err" \
	    '^(dma|sendmail): invalid (sender address|recipient) `'
	is "$desc: the error is one line" "$(printf '%s\n' "$err" | wc -l)" 1
	# Whatever was queued stays: the queue run of part 4 would send it.
	is "$desc: nothing queued" "$(qfiles)" ""
}

# -- 1. the command line and the environment -------------------------------
refused "-f with '> AUTH=<'" \
    run_as alice "$DMA" -f 'alice@host> AUTH=<' x@example.org <"$T/msg"
like "-f: the reason is given" "$err" "\`>' not allowed"
refused "-r with '> AUTH=<'" \
    run_as alice "$DMA" -r 'alice@host> AUTH=<' x@example.org <"$T/msg"
refused "EMAIL with '> SMTPUTF8 RET=FULL X=<'" \
    run_as alice env 'EMAIL=x@y> SMTPUTF8 RET=FULL X=<' "$DMA" x@example.org <"$T/msg"
refused "-f with '>' inside a quoted local part" \
    run_as alice "$DMA" -f '"a> AUTH=<"@example.org' x@example.org <"$T/msg"
refused "-f with a second @" \
    run_as alice "$DMA" -f 'a@b@example.org' x@example.org <"$T/msg"
refused "recipient 'bob@x> NOTIFY=NEVER'" \
    run_as alice "$DMA" 'bob@x> NOTIFY=NEVER' <"$T/msg"
refused "recipient with '>' inside a quoted local part" \
    run_as alice "$DMA" '"bob> NOTIFY=NEVER"@example.org' <"$T/msg"
refused "recipient with a trailing dot" \
    run_as alice "$DMA" 'bob@example.org.' <"$T/msg"

# -- 2. -t headers ------------------------------------------------------------
printf 'To: "bob@x> NOTIFY=NEVER"@example.org\nSubject: t\n\nb\n' >"$T/t1.msg"
printf 'Subject: t\nBcc : <"x> RET=HDRS"@example.org>\n\nb\n' >"$T/t2.msg"
printf 'Cc: ok@example.org,\n "y> ORCPT=rfc822;z"@example.org\n\nb\n' >"$T/t3.msg"
chmod 0644 "$T"/t?.msg
refused "-t To: with '>' in a quoted local part" run_as alice "$DMA" -t <"$T/t1.msg"
refused "-t 'Bcc :' (blank before the colon) with '>'" \
    run_as alice "$DMA" -t <"$T/t2.msg"
refused "-t Cc: continuation line with '>'" run_as alice "$DMA" -t <"$T/t3.msg"

# -- 3. -bs ------------------------------------------------------------------
printf '%s\r\n' \
    'EHLO c' \
    'MAIL FROM:<alice@host> AUTH=<>' \
    'MAIL FROM:<x@y> SMTPUTF8 RET=FULL X=<>' \
    'MAIL FROM:<"a> AUTH=<"@example.org>' \
    'MAIL FROM:<a@b@example.org>' \
    'MAIL FROM:<alice@example.org>' \
    'RCPT TO:<bob@x> NOTIFY=NEVER' \
    'RCPT TO:<"bob> NOTIFY=NEVER"@example.org>' \
    'RCPT TO:<a@b@example.org>' \
    'RCPT TO:<good@example.org>' \
    'DATA' \
    'Subject: bs' \
    '' \
    'BS-BODY' \
    '.' \
    'QUIT' >"$T/bs.in"
chmod 0644 "$T/bs.in"
capture run_as alice "$DMA" -bs <"$T/bs.in"
is "-bs: exit 0" "$rc" 0
is "-bs: the replies" "$(printf '%s\n' "$out" | tr -d '\r' | sed 1,6d |
    sed -E 's/(queued as )[0-9a-f]+$/\1QID/')" "\
555 5.5.4 Unsupported parameter
555 5.5.4 Unsupported parameter
555 5.5.4 Unsupported parameter
501 5.1.7 Bad sender address <a@b@example.org>: domain: unexpected \`@'
250 2.1.0 Ok
555 5.5.4 Unsupported parameter
555 5.5.4 Unsupported parameter
553 5.1.3 invalid recipient \`a@b@example.org'
250 2.1.5 Ok
354 End data with <CR><LF>.<CR><LF>
250 2.0.0 Ok: queued as QID
221 2.0.0 Bye"
is "-bs: one entry queued" "$(qfiles | wc -l)" 1

# -- 4. what the server sees ----------------------------------------------
run_as alice "$DMA" -f alice@example.org x@example.org <"$T/msg"
run_as alice "$DMA" '"quoted local"@example.org' <"$T/msg"
run_as alice env 'EMAIL=Alice Example <alice.e@example.org>' "$DMA" z@example.org <"$T/msg"
is "four good entries queued" "$(qfiles | wc -l)" 4
run_dma -q -D
ok "the good entries were delivered" wait_queue_empty
is "the server accepted four messages" "$(smtpd_messages cap)" 4
cat "$T"/smtpd-cap/session-*.raw | tr -d '\r' | grep -aiE '^(MAIL|RCPT) ' >"$T/cmds"
diag "$(cat "$T/cmds")"
is "every MAIL FROM is a bare path (SIZE and BODY only)" \
    "$(grep -aiE '^MAIL ' "$T/cmds" |
    grep -cavE '^MAIL FROM:<[^<> ]*>( SIZE=[0-9]+)?( BODY=8BITMIME)?$')" 0
is "every RCPT TO is a bare path" \
    "$(grep -aiE '^RCPT ' "$T/cmds" | grep -cavE '^RCPT TO:<([^<> ]*|"[^<>"]*"@[^<> ]*)>$')" 0
unlike "no injected parameter reached the server" \
    "$(cat "$T"/smtpd-cap/session-*.raw)" 'AUTH=|NOTIFY=|RET=|SMTPUTF8|X=<|ORCPT'
like "the sender -f gave was sent" "$(cat "$T/cmds")" '^MAIL FROM:<alice@example\.org>'
like "EMAIL='Name <addr>': addr was sent" "$(cat "$T/cmds")" '^MAIL FROM:<alice\.e@example\.org>'

# -- 5. an invalid address planted in a queue entry is never sent ---------
# The files keep their inode (rewritten in place), as if an older version
# had queued them.
plant() {
	local field=$1 value=$2 q
	run_as alice "$DMA" x@example.org <"$T/msg"
	q=$(qfiles)
	sed "s|^$field: .*|$field: $value|" "$SPOOL/$q" >"$T/q.new"
	cat "$T/q.new" >"$SPOOL/$q"
	diag "planted: $(cat "$SPOOL/$q")"
}
n0=$(smtpd_sessions cap)
syslog_mark
plant Sender 'alice@host> AUTH=<'
run_dma -q -D
ok "planted sender: the entry left the queue" wait_queue_empty
is "planted sender: no connection to the server" "$(smtpd_sessions cap)" "$n0"
ok "planted sender: the refusal is logged" \
    logged 'refusing to send sender <alice@host> AUTH=<> in MAIL FROM: domain: `>. not allowed'
like "planted sender: the bounce went to root (the sender cannot receive it)" \
    "$(cat /var/mail/root 2>/dev/null)" 'invalid sender address <alice@host> AUTH=<> not sent'
syslog_mark
plant Recipient 'bob@example.org> NOTIFY=NEVER'
run_dma -q -D
ok "planted recipient: the entry left the queue" wait_queue_empty
is "planted recipient: no connection to the server" "$(smtpd_sessions cap)" "$n0"
ok "planted recipient: the refusal is logged" \
    logged 'refusing to send recipient <bob@example\.org> [a-zA-Z]+=[a-zA-Z]+> in RCPT TO: domain: `>. not allowed'
like "planted recipient: alice got the bounce" "$(cat /var/mail/alice 2>/dev/null)" \
    'invalid recipient address <bob@example\.org> [a-zA-Z]+=[a-zA-Z]+> not sent'
unlike "no injected parameter reached the server at all" \
    "$(cat "$T"/smtpd-cap/session-*.raw)" 'AUTH=|NOTIFY=|RET=|SMTPUTF8|X=<|ORCPT'

# -- 6. Bcc and Resent-Bcc reach no recipient -------------------------------
: >/var/mail/root
printf '%s\n' \
    'Subject: privacy' \
    'Bcc : root,' \
    ' hidden1@example.org' \
    'Resent-Bcc: hidden2@example.org' \
    'RESENT-bcc	: hidden3@example.org,' \
    '	hidden4@example.org' \
    'bcc:hidden5@example.org' \
    'X-After  : kept' \
    '' \
    'PRIVACY-BODY' >"$T/bcc.msg"
chmod 0644 "$T/bcc.msg"
capture run_as alice "$DMA" -t bob y@example.org <"$T/bcc.msg"
is "Bcc: -t with 'Bcc : root' exit 0" "$rc" 0
# Recipients: root (Bcc :), hidden1 and hidden5 (Bcc), bob, y@example.org.
is "Bcc: five recipients queued" "$(qrcpts | wc -l)" 5
# The three at example.org share one entry (one transaction).
is "Bcc: in three entries" "$(qfiles | wc -l)" 3
run_dma -q -D
ok "Bcc: delivered" wait_queue_empty
# header FILE: the header of the one message in an mbox or .eml file
header() {
	tr -d '\r' <"$1" | sed -n '/^From /d; /^$/q; p'
}
smtpd_last_msg cap >"$T/last"
for f in /var/mail/bob /var/mail/root "$(cat "$T/last")"; do
	h=$(header "$f")
	like "Bcc: $f has the message" "$(cat "$f")" 'PRIVACY-BODY'
	unlike "Bcc: $f shows no Bcc or Resent-Bcc header" "$h" '^[Rr][Ee][Ss][Ee][Nn][Tt]-|^[Bb][Cc][Cc]'
	unlike "Bcc: $f shows no hidden address" "$(cat "$f")" 'hidden[0-9]'
	like "Bcc: $f keeps the header after them in the header" "$h" '^X-After  : kept$'
done
is "Bcc: the remote hidden recipients got their copies" \
    "$(cat "$T"/smtpd-cap/msg-*.json | grep -c '"hidden[15]@example.org"')" 2

# -- 7. -bs reads the session without group mail --------------------------
echo DEFER | dma_conf
mail_gid=$(getent group mail | cut -d: -f3)
alice_gid=$(id -g alice)
# egid PID: the effective gid of a process (second field of Gid:)
egid() {
	awk '/^Gid:/ { print $3 }' "/proc/$1/status"
}
# reading_stdin PID: the process is blocked in read(0, ...) (x86-64: 0)
reading_stdin() {
	local nr fd rest
	read -r nr fd rest <"/proc/$1/syscall" && [ "$nr" = 0 ] && [ "$fd" = 0x0 ]
}
mkfifo "$T/bs.fifo"
chmod 0644 "$T/bs.fifo"
run_as alice "$DMA" -bs <"$T/bs.fifo" >"$T/bs.out" 2>&1 &
bs_job=$!
exec 3>"$T/bs.fifo"
wait_until 10 grep -q '^220 ' "$T/bs.out"
pid=$(pgrep -u alice -x dma | head -n 1)
ok "-bs: the session process runs" test -n "$pid"
ok "-bs: it waits for a command" wait_until 10 reading_stdin "$pid"
is "-bs: waiting for a command, the effective group is alice's" "$(egid "$pid")" "$alice_gid"
printf 'MAIL FROM:<alice>\r\nRCPT TO:<bob>\r\nDATA\r\nSubject: fifo\r\n\r\nline\r\n' >&3
wait_until 10 grep -q '^354 ' "$T/bs.out"
ok "-bs: it waits for more of the message" wait_until 10 reading_stdin "$pid"
is "-bs: inside DATA, the effective group is alice's" "$(egid "$pid")" "$alice_gid"
printf '.\r\n' >&3
wait_until 10 grep -q 'queued as' "$T/bs.out"
ok "-bs: it waits for the next command" wait_until 10 reading_stdin "$pid"
is "-bs: after queueing, the effective group is alice's again" "$(egid "$pid")" "$alice_gid"
printf 'QUIT\r\n' >&3
exec 3>&-
wait "$bs_job"
is "-bs: exit 0" "$?" 0
like "-bs: the message was queued" "$(tr -d '\r' <"$T/bs.out")" '^250 2\.0\.0 Ok: queued as'
is "-bs: one entry in the spool" "$(qfiles | wc -l)" 1
diag "mail gid $mail_gid, alice gid $alice_gid"

# The command-line path, for comparison.
rm -f "$T/bs.fifo"
mkfifo "$T/bs.fifo"
chmod 0644 "$T/bs.fifo"
run_as alice "$DMA" bob <"$T/bs.fifo" >"$T/cl.out" 2>&1 &
cl_job=$!
exec 3>"$T/bs.fifo"
printf 'Subject: cl\n\n' >&3
wait_until 10 sh -c 'pgrep -u alice -x dma >/dev/null'
pid=$(pgrep -u alice -x dma | head -n 1)
ok "command line: it waits for the rest of the message" wait_until 10 reading_stdin "$pid"
is "command line: reading the message, the effective group is alice's" \
    "$(egid "$pid")" "$alice_gid"
exec 3>&-
wait "$cl_job"
is "command line: exit 0" "$?" 0
is "two entries in the spool" "$(qfiles | wc -l)" 2
smtpd_stop cap
