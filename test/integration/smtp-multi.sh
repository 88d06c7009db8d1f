# smtp-multi.sh - a message to several recipients at one destination: a
# recipient that the server accepted is never sent again when another one
# of the same message fails and is retried.

MSG='Subject: to three

one message, three recipients
'

for fault in '451 4.3.0 try later' '550 5.1.1 no such user'; do
	name=s${fault%% *}
	# 4xx: every RCPT of the first session; 5xx: only b@example.org's
	# (the three share one transaction)
	case $fault in
	4*) smtpd_start "$name" --fault-once --fault "rcpt=$fault" || exit 1 ;;
	5*) smtpd_start "$name" --rcpt-reply "b@example.org=$fault" || exit 1 ;;
	esac
	smtpd_conf "$name"
	syslog_sync
	export MARK=$(($(wc -l <"$T/syslog") + 1))
	printf '%s' "$MSG" | send_as alice a@example.org b@example.org c@example.org
	# The submission's own process keeps the deferred one for a later
	# retry: wait for the three first outcomes, then stop it.
	ok "$name: first attempts done" wait_until 30 sh -c \
	    'test "$(tail -n +$MARK "$T/syslog" |
	        grep -cE "<[abc]@example.org> delivery (successful|deferred)|bouncing as")" -ge 3'
	kill_dma
	"$DMA" -q -D
	wait_queue_empty 30
	total=0
	for r in a b c; do
		c=$(smtpd_rcpt_count "$name" "$r@example.org")
		total=$((total + c))
		case $fault in
		4*) is "$name: $r@example.org received exactly once" "$c" 1 ;;
		5*) ok "$name: $r@example.org received at most once" test "$c" -le 1 ;;
		esac
	done
	case $fault in
	4*) is "$name: three deliveries in all, none repeated" "$total" 3 ;;
	5*) is "$name: the two others delivered once, the refused one bounced" "$total" 2
	    is "$name: one bounce to the sender" "$(count_msgs /var/mail/alice)" 1 ;;
	esac
	smtpd_stop "$name"
done
