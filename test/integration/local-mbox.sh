# local-mbox.sh - local mail end to end: the exact bytes that land in
# /var/mail, mbox creation by dma-mbox-create, framing of several messages,
# >From quoting, intake normalisation (CRLF, dot, body-only, long lines).

MAILX=$(command -v bsd-mailx || command -v mail)

# -- 1. a MUA as root: mail(1) runs /usr/sbin/sendmail -i -t -------------
capture sh -c "echo test | $MAILX -s hi root"
is "mail -s hi root: exit 0" "$rc" 0
is "mail -s hi root: no output" "$out$err" ""
ok "mail to root delivered, queue empty" wait_queue_empty
{
	echo "From root@$HOST DATE"
	received_masked root 0 "root@$HOST"
	cat <<EOF
To: root
Subject: hi
MIME-Version: 1.0
Content-Type: text/plain; charset="UTF-8"
Content-Transfer-Encoding: 8bit
Date: DATE
Message-Id: <MSGID>
From: <root@$HOST>

test

EOF
} >want.root
mask_mbox /var/mail/root >got.root
is_file "/var/mail/root has the exact message" got.root want.root
is_owner "/var/mail/root owner" /var/mail/root root:mail
is_mode "/var/mail/root mode" /var/mail/root 620
ok "syslog: delivery of root logged" syslog_has 'mail\.info dma\[[0-9]+\]: [0-9a-f]+\.[0-9a-f]+: <root> delivery successful$'

# -- 2. a user to another user; body-only input ---------------------------
capture run_as alice sh -c "echo x | $DMA bob"
is "alice -> bob: exit 0" "$rc" 0
is "alice -> bob: no output" "$out$err" ""
ok "alice -> bob delivered" wait_queue_empty
{
	echo "From alice@$HOST DATE"
	received_masked alice 2001 "alice@$HOST"
	cat <<EOF
Date: DATE
Message-Id: <MSGID>
From: <alice@$HOST>

x

EOF
} >want.bob1
mask_mbox /var/mail/bob >got.bob
is_file "body-only message gets Date, Message-Id, From and a blank line" got.bob want.bob1
is_owner "mbox created for bob: owner bob, group mail" /var/mail/bob bob:mail
is_mode "mbox created for bob: mode 620" /var/mail/bob 620
like "Message-Id is on the right host" "$(grep '^Message-Id:' /var/mail/bob)" \
    "^Message-Id: <[^<>@ ]+@$HOST>\$"
is "no stray files in /var/mail" "$(ls -A /var/mail | sort | tr '\n' ' ')" "bob root "

# -- 3. a second message is appended with exact framing and quoting -------
cat >msg2 <<'EOF'
From alice  Sat Nov 21 05:36:22 2026
Subject: second
To: bob

From here
>From the quote
>>>From x
> From x
Fromtal
from x

From the end
EOF
capture run_as alice sh -c "$DMA -D bob <msg2"
is "second message: exit 0" "$rc" 0
is "second message: no output" "$out$err" ""
ok "second message delivered" wait_queue_empty
{
	cat want.bob1
	echo "From alice@$HOST DATE"
	received_masked alice 2001 "alice@$HOST"
	cat <<EOF
Subject: second
To: bob
Date: DATE
Message-Id: <MSGID>
From: <alice@$HOST>

>From here
>>From the quote
>>>>From x
> From x
Fromtal
from x

>From the end

EOF
} >want.bob2
mask_mbox /var/mail/bob >got.bob
is_file "second message appended: leading From_ line dropped, >From quoting, blank line after each" \
    got.bob want.bob2
is "mbox holds two messages" "$(count_msgs /var/mail/bob)" 2
is_mode "mbox mode unchanged by the second delivery" /var/mail/bob 620

# -- 4. CRLF input: normalised, Bcc removed, lone dot ends the message ----
: >/var/mail/bob
capture sh -c "printf 'Subject: x\r\nBcc: a\r\n\r\nbody\r\n.\r\nafter\r\n' | $DMA -D bob"
is "CRLF input: exit 0" "$rc" 0
is "CRLF input: no output" "$out$err" ""
ok "CRLF message delivered" wait_queue_empty
{
	echo "From root@$HOST DATE"
	received_masked root 0 "root@$HOST"
	cat <<EOF
Subject: x
Date: DATE
Message-Id: <MSGID>
From: <root@$HOST>

body

EOF
} >want.crlf
mask_mbox /var/mail/bob >got.crlf
is_file "CRLF input: LF only, Bcc removed, ends at the dot" got.crlf want.crlf
ok "no CR byte in the mbox" sh -c '! grep -q "$(printf "\r")" /var/mail/bob'

# -- 5. -i keeps a lone dot; ".." is not unstuffed --------------------------
: >/var/mail/bob
capture sh -c "printf 'Subject: dots\n\n..two\n.\nafter\n' | $DMA -D -i bob"
is "-i: exit 0" "$rc" 0
ok "-i message delivered" wait_queue_empty
is "-i: body kept past the lone dot" \
    "$(sed -n '/^$/,$p' /var/mail/bob | sed 1d)" "$(printf '..two\n.\nafter\n')"
: >/var/mail/bob
capture sh -c "printf 'Subject: dots\n\nbefore\n.\nafter\n' | $DMA -D -oi bob"
ok "-oi message delivered" wait_queue_empty
like "-oi: same as -i" "$(cat /var/mail/bob)" '^after$'

# -- 6. a 2000-byte line is delivered intact --------------------------------
: >/var/mail/bob
long=$(head -c 2000 /dev/zero | tr '\0' 'a')
printf 'Subject: long\n\n%s\nend\n' "$long" >msg.long
capture run_as alice sh -c "$DMA bob <msg.long"
is "2000-byte line: exit 0" "$rc" 0
is "2000-byte line: no output" "$out$err" ""
ok "2000-byte line delivered" wait_queue_empty
is "2000-byte line intact" "$(grep -c "^$long\$" /var/mail/bob)" 1
like "line after the long one intact" "$(cat /var/mail/bob)" '^end$'

# -- 7. a message without final newline is completed ------------------------
: >/var/mail/bob
capture sh -c "printf 'Subject: nonl\n\nlast line' | $DMA -D bob"
is "no final newline: exit 0" "$rc" 0
ok "no final newline: delivered" wait_queue_empty
is "no final newline: message ends with the line and the blank separator" \
    "$(tail -c 12 /var/mail/bob | od -An -c | tr -s ' ')" \
    "$(printf '\nlast line\n\n' | od -An -c | tr -s ' ')"

# -- 8. mail for root@testhost and bob@localhost is local --------------------
: >/var/mail/bob
capture sh -c "echo y | $DMA -D bob@localhost bob@$HOST"
is "local domains: exit 0" "$rc" 0
ok "local domains: delivered" wait_queue_empty
is "bob@localhost and bob@$HOST are the same mailbox, delivered once" \
    "$(count_msgs /var/mail/bob)" 1
