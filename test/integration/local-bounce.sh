# local-bounce.sh - a queued local recipient that no longer exists bounces
# to the sender with the failure report; a bounce is never bounced again.

echo DEFER | dma_conf

# requeue_to NAME: rewrite the Recipient of the (single) queued entry, in
# place (owner, mode and inode stay), as an administrator might.
requeue_to() {
	local q
	q=$(qfiles)
	sed "s/^Recipient: .*/Recipient: $1/" "$SPOOL/$q" >"$T/q.new" &&
	    cat "$T/q.new" >"$SPOOL/$q"
}

# -- 1. header-only bounce ------------------------------------------------------
printf 'Subject: lost\nX-Test: yes\n\nthe body\n' >msg
capture run_as alice sh -c "$DMA bob <msg"
is "queued for bob: exit 0" "$rc" 0
is "one entry queued" "$(qfiles | grep -c .)" 1
ok "recipient rewritten to a vanished user" requeue_to nosuchuser
like "queue shows the vanished user" "$(run_dma -bp)" '^To	: nosuchuser$'
capture run_dma -q -D
is "dma -q -D: exit 0" "$rc" 0
ok "queue empty after the bounce" wait_queue_empty
ok "no mbox for the vanished user" test ! -e /var/mail/nosuchuser
ok "bob got nothing" test ! -e /var/mail/bob
is "alice got one bounce" "$(count_msgs /var/mail/alice)" 1
b=$(mask_mbox /var/mail/alice)
like "bounce: From_ line of MAILER-DAEMON" "$b" '^From MAILER-DAEMON DATE$'
like "bounce: Received from MAILER-DAEMON" "$b" '^Received: from MAILER-DAEMON$'
like "bounce: X-Original-To" "$b" '^X-Original-To: <nosuchuser>$'
like "bounce: To the sender" "$b" "^To: alice@$HOST\$"
like "bounce: Subject" "$b" '^Subject: Mail delivery failed$'
like "bounce: Date" "$b" '^Date: DATE$'
like "bounce: Message-Id" "$b" '^Message-Id: <MSGID>$'
like "bounce: agent line" "$b" "^This is the DragonFly Mail Agent $DMA_VERSION at $HOST\\.\$"
like "bounce: error line" "$b" '^There was an error delivering your mail to <nosuchuser>\.$'
like "bounce: header-only notice" "$b" '^Message headers follow\.$'
like "bounce: the original Subject follows" "$b" '^Subject: lost$'
like "bounce: the original Received follows" "$b" '^Received: from alice \(uid 2001\)$'
like "bounce: the original X-Test follows" "$b" '^X-Test: yes$'
unlike "bounce: the original body is not included" "$b" '^the body$'
# The report text is in the body: header, blank line, text.
is "bounce: the report starts the body" \
    "$(printf '%s\n' "$b" | sed -n '/^$/{n;p;q}')" \
    "This is the DragonFly Mail Agent $DMA_VERSION at $HOST."
is "bounce: the error line comes two lines later" \
    "$(printf '%s\n' "$b" | sed -n '/^This is the DragonFly/{n;n;p;q}')" \
    "There was an error delivering your mail to <nosuchuser>."
ok "bounce logged" syslog_has 'delivery failed, bouncing as'
ok "bounce delivery logged" syslog_has '<alice> delivery successful'

# -- 2. FULLBOUNCE includes the whole message -------------------------------
printf 'DEFER\nFULLBOUNCE\n' | dma_conf
rm -f /var/mail/alice
capture run_as alice sh -c "$DMA bob <msg"
ok "requeued to a vanished user" requeue_to ghost
capture run_dma -q -D
is "FULLBOUNCE: dma -q -D exit 0" "$rc" 0
ok "FULLBOUNCE: queue empty" wait_queue_empty
b=$(mask_mbox /var/mail/alice)
like "FULLBOUNCE: whole-message notice" "$b" '^Original message follows\.$'
like "FULLBOUNCE: the original body is included" "$b" '^the body$'
like "FULLBOUNCE: error names the recipient" "$b" '^There was an error delivering your mail to <ghost>\.$'

# -- 3. a bounce that cannot be delivered is not bounced again --------------
echo DEFER | dma_conf
rm -f /var/mail/alice
capture run_as alice sh -c "$DMA bob <msg"
q=$(qfiles)
sed -e 's/^Recipient: .*/Recipient: ghost/' -e 's/^Sender: .*/Sender: /' \
    "$SPOOL/$q" >"$T/q.new" && cat "$T/q.new" >"$SPOOL/$q"
like "queue shows an empty sender" "$(run_dma -bp)" '^From	: $'
capture run_dma -q -D
is "double bounce: dma -q -D returns" "$rc" 0
ok "double bounce: entry removed (no endless retries)" wait_queue_empty
ok "double bounce: nobody got mail" test ! -e /var/mail/alice -a ! -e /var/mail/root
ok "double bounce: logged" syslog_has 'can not bounce a bounce'

# -- 4. the sender itself vanished: the report is not lost -------------------
rm -f /var/mail/root
capture run_as alice sh -c "$DMA -f ghost2 bob <msg"
is "sender ghost2: queued" "$rc" 0
ok "requeued to a vanished user" requeue_to ghost
capture run_dma -q -D
ok "sender gone: queue empty" wait_queue_empty 20
is "sender gone: the report went to root instead of being lost" \
    "$(count_msgs /var/mail/root)" 1
like "sender gone: it is the failure report" "$(cat /var/mail/root)" \
    '^There was an error delivering your mail to <ghost>\.$'
