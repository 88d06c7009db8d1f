# smtp-retry.sh - what happens to mail that keeps failing: the 5-day
# expiry bounce, a bounce that cannot be bounced (discarded, logged), a
# bounce for a sender that cannot receive mail (goes to postmaster), and a
# waiting delivery woken by `dma -q` (the flush file).

MSG='Subject: retry test

body
'
printf 'postmaster: root\n' | aliases_file

# ---- 5-day expiry --------------------------------------------------------
smtpd_start tf --fault 'rcpt=451 4.3.0 try later' || exit 1
smtpd_conf tf DEFER
printf '%s' "$MSG" | send_as alice far@example.org
touch -d '4 days ago' "$SPOOL"/Q*
smtpd_conf tf
"$DMA" -q -D
ok "4 days old: still queued after a temporary failure" test -n "$(qfiles)"
is "4 days old: no bounce yet" "$(count_msgs /var/mail/alice)" 0
touch -d '6 days ago' "$SPOOL"/Q*
"$DMA" -q -D
ok "6 days old: the entry is gone" wait_queue_empty 30
is "6 days old: one bounce to the sender" "$(count_msgs /var/mail/alice)" 1
b=$(cat /var/mail/alice 2>/dev/null)
like "expiry bounce: the reason" "$b" '^Could not deliver for the last 432000 seconds\. Giving up\.$'
like "expiry bounce: names the recipient" "$b" '^There was an error delivering your mail to <far@example\.org>\.$'
like "expiry bounce: Subject" "$b" '^Subject: Mail delivery failed$'
smtpd_stop tf

# ---- a bounce is never bounced ------------------------------------------
smtpd_start perm --fault 'rcpt=550 5.1.1 no such user' || exit 1
smtpd_conf perm
: >/var/mail/alice
printf '%s' "$MSG" | send_as alice -f '<>' far@example.org
ok "null sender refused remotely: queue drained" wait_queue_empty 30
syslog_sync
like "the double bounce is logged" "$(cat "$T/syslog")" 'can not bounce a bounce message, discarding'
is "nobody gets a bounce of the bounce" "$(count_msgs /var/mail/alice)" 0
ok "nothing left in the spool" test -z "$(spool_rest)"

# ---- the sender cannot receive mail: postmaster gets the report ---------
before=$(count_msgs /var/mail/root)
printf '%s' "$MSG" | send_as alice -f ghost far@example.org
ok "unknown local sender: queue drained" wait_queue_empty 30
is "the bounce went to postmaster (root)" "$(count_msgs /var/mail/root)" $((before + 1))
like "the bounce is addressed to the original sender" "$(cat /var/mail/root)" '^To: ghost@testhost$'
smtpd_stop perm

# ---- a waiting delivery retries at once after dma -q --------------------
smtpd_start wake --fault-once --fault 'rcpt=451 4.3.0 try later' || exit 1
smtpd_conf wake
syslog_mark
printf '%s' "$MSG" | send_as alice near@example.org
ok "first attempt deferred" wait_until 20 logged '<near@example\.org> delivery deferred'
ok "the submission's process waits to retry (entry still queued)" test -n "$(qfiles)"
"$DMA" -q
ok "after dma -q the waiting process retries within 30 s" wait_queue_empty 45
is "the server got it once" "$(smtpd_messages wake)" 1
smtpd_stop wake
