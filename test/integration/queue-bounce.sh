# queue-bounce.sh - no bounce storm: the recipients of one message that
# fail for the same reason (a relay refusing for days, or the same 5xx
# reply) get one bounce naming them all, not one each; different reasons
# still get their own; a held message gets none; a bounce of a bounce is
# discarded with one log line.

MSG='Subject: storm test

body
'
printf 'postmaster: root\n' | aliases_file

# ---- expired after days of the same temporary failure ----------------------
smtpd_start tf --fault 'rcpt=451 4.3.0 try later' || exit 1
smtpd_conf tf DEFER
printf '%s' "$MSG" | send_as alice r1@example.org r2@example.org r3@example.org
touch -d '6 days ago' "$SPOOL"/Q*
"$DMA" -q -D
ok "expired: the queue is empty" wait_queue_empty 30
is "expired: one bounce for three recipients" "$(count_msgs /var/mail/alice)" 1
b=$(cat /var/mail/alice)
like "the bounce says how many" "$b" '^There was an error delivering your mail to these 3 recipients:$'
like "it names the first" "$b" '^  <r1@example\.org>$'
like "it names the second" "$b" '^  <r2@example\.org>$'
like "it names the third" "$b" '^  <r3@example\.org>$'
like "the reason" "$b" '^Could not deliver for the last 432000 seconds\. Giving up\.$'
like "the original's header" "$b" '^Subject: storm test$'
ok "logged once" syslog_has 'delivery to 3 recipients failed, bouncing as'
smtpd_stop tf

# ---- held entries of an expired message: no bounce ---------------------------
: >/var/mail/alice
smtpd_start tf2 --fault 'rcpt=451 4.3.0 try later' || exit 1
smtpd_conf tf2 DEFER
printf '%s' "$MSG" | send_as alice h1@example.org h2@example.org
m=$(qfiles | head -1 | sed 's/^Q//; s/\..*//')
"$DMA" -Mf "$m"
touch -d '6 days ago' "$SPOOL"/Q*
"$DMA" -q -D
"$DMA" -M "$m"
is "held: still queued after a run and -M" "$(qrcpts | wc -l)" 2
is "held: no bounce" "$(count_msgs /var/mail/alice)" 0
"$DMA" -Mrm "$m"
smtpd_stop tf2

# ---- the same permanent refusal ---------------------------------------------
smtpd_start perm --fault 'rcpt=550 5.1.1 no such user' || exit 1
smtpd_conf perm
printf '%s' "$MSG" | send_as alice p1@example.org p2@example.org
ok "refused: the queue is empty" wait_queue_empty 30
is "refused: one bounce for two recipients" "$(count_msgs /var/mail/alice)" 1
like "refused: the reply" "$(cat /var/mail/alice)" '550 5\.1\.1 no such user'

# ---- a bounce of a bounce: discarded, logged once ---------------------------
: >/var/mail/alice
syslog_mark
printf '%s' "$MSG" | send_as alice -f '<>' n1@example.org n2@example.org
ok "null sender: the queue is empty" wait_queue_empty 30
is "null sender: nobody gets a report" "$(count_msgs /var/mail/alice)$(count_msgs /var/mail/root)" 00
syslog_sync
is "null sender: one log line for both" "$(grep -c 'can not bounce a bounce message' "$T/syslog")" 1
smtpd_stop perm
