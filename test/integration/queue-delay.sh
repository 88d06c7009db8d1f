# queue-delay.sh - DELAYWARNING: a message deferred for longer than it
# gets one "Mail delivery delayed" notice to its sender (the entry stays
# queued, the notice is recorded in the Q file and never sent twice);
# without the key (the default) there is none; a bounce gets none.

MSG='Subject: delay test

body
'
printf 'postmaster: root\n' | aliases_file

smtpd_start tf --fault 'rcpt=451 4.3.0 try later' || exit 1
smtpd_conf tf DEFER
printf '%s' "$MSG" | send_as alice far@example.org
touch -d '2 hours ago' "$SPOOL"/Q*
"$DMA" -q -D
is "no DELAYWARNING: no notice" "$(count_msgs /var/mail/alice)" 0

smtpd_conf tf DEFER 'DELAYWARNING 1h'
"$DMA" -q -D
ok "the notice is delivered" wait_until 20 test -s /var/mail/alice
is "one notice" "$(count_msgs /var/mail/alice)" 1
ok "the message is still queued" test -n "$(qfiles)"
like "the Q file records it" "$(cat "$SPOOL"/Q*)" '^Warned: [0-9]+$'
n=$(cat /var/mail/alice)
like "notice: Subject" "$n" '^Subject: Mail delivery delayed$'
like "notice: to the sender" "$n" '^To: alice@testhost$'
like "notice: auto-replied" "$n" '^Auto-Submitted: auto-replied$'
like "notice: names the recipient" "$n" '^Your mail to <far@example\.org>, queued .*, could not be delivered yet\.$'
like "notice: until when" "$n" '^It will be tried again until it is 432000 seconds old; you do not$'
like "notice: the last error" "$n" '451 4\.3\.0 try later'
like "notice: the original's Subject" "$n" '^Subject: delay test$'
ok "notice: logged" syslog_has '<far@example\.org> delivery delayed: notice sent to <alice@testhost>'
"$DMA" -q -D
is "a later failure sends no second notice" "$(count_msgs /var/mail/alice)" 1
smtpd_stop tf

# a bounce (null sender) never gets one
smtpd_start tf2 --fault 'rcpt=451 4.3.0 try later' || exit 1
smtpd_conf tf2 DEFER
"$DMA" -Mrm "$(qfiles | sed 's/^Q//')"
: >/var/mail/alice
printf '%s' "$MSG" | send_as alice -f '<>' far@example.org
touch -d '2 hours ago' "$SPOOL"/Q*
smtpd_conf tf2 DEFER 'DELAYWARNING 1h'
"$DMA" -q -D
ok "null sender: still queued" test -n "$(qfiles)"
unlike "null sender: nothing recorded" "$(cat "$SPOOL"/Q*)" '^Warned'
is "null sender: nobody got a notice" "$(count_msgs /var/mail/alice)$(count_msgs /var/mail/root)" 00
smtpd_stop tf2

# one message to three recipients behind the same failure: one notice
# naming all three, recorded in each entry, and never a second one
smtpd_start tf3 --fault 'rcpt=451 4.3.0 try later' || exit 1
smtpd_conf tf3 DEFER
for q in $(qfiles); do "$DMA" -Mrm "${q#Q}"; done
: >/var/mail/alice
: >/var/mail/root
printf '%s' "$MSG" | send_as alice r1@example.org r2@example.org r3@example.org
touch -d '2 hours ago' "$SPOOL"/Q*
smtpd_conf tf3 DEFER 'DELAYWARNING 1h'
syslog_mark
"$DMA" -q -D
ok "three recipients: a notice is delivered" wait_until 20 test -s /var/mail/alice
is "three recipients: one notice, not three" "$(count_msgs /var/mail/alice)" 1
is "three recipients: all still queued" "$(qrcpts | wc -l)" 3
is "three recipients: in one entry, which records the notice" \
    "$(grep -l '^Warned: [0-9]' "$SPOOL"/Q* | wc -l)" 1
n=$(cat /var/mail/alice)
like "group notice: names the count" "$n" \
    '^Your mail to these 3 recipients, queued .*, could not be$'
for r in r1 r2 r3; do
	like "group notice: names <$r@example.org>" "$n" "^  <$r@example\\.org>\$"
	like "group notice: X-Original-To $r" "$n" "^X-Original-To: <$r@example\\.org>\$"
done
like "group notice: the last error" "$n" '451 4\.3\.0 try later'
is "group notice: logged for each entry" \
    "$(syslog_sync; tail -n +"$((SYSLOG_MARK + 1))" "$T/syslog" | grep -c 'delivery delayed: notice sent to <alice@testhost>')" 3
"$DMA" -q -D
is "three recipients: no second notice" "$(count_msgs /var/mail/alice)" 1
smtpd_stop tf3
