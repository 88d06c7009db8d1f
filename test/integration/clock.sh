# clock.sh - the clock the other scripts run on.  Under test/faketime.sh
# (DMA_FAKE_TIME set, see test/ns-run.sh) it checks that the fake date
# reaches the shell and the setgid dma (which ignores LD_PRELOAD): its
# mbox "From " line, Received and Date headers.  (The syslog time stamp is
# not faked: glibc's syslog() reads the clock inside libc, where
# libfaketime cannot reach; no test depends on it.)  Without
# DMA_FAKE_TIME there is nothing to check.

if [ -z "${DMA_FAKE_TIME:-}" ]; then
	skip "the fake clock" "DMA_FAKE_TIME not set (test/faketime.sh sets it)"
else
	day=${DMA_FAKE_TIME%% *}
	is "the shell's date is the fake day" "$(date +%F)" "$day"
	# The expected renderings of that day, in the C locale.
	ctime_day=$(LC_ALL=C date -d "$day" '+%a %b %e')
	rfc_day=$(LC_ALL=C date -d "$day" '+%d %b %Y')
	capture sh -c "echo x | $DMA root"
	is "dma: exit 0" "$rc" 0
	ok "delivered" wait_queue_empty
	from=$(grep '^From ' /var/mail/root)
	like "mbox From line: dma's clock is the fake one" "$from" \
	    "^From root@$HOST $ctime_day [0-9:]{8} ${day%%-*}\$"
	like "Received: the fake day" "$(cat /var/mail/root)" \
	    "^	[A-Z][a-z]{2}, $rfc_day [0-9:]{8} [+-][0-9]{4}\$"
	like "Date: the fake day" "$(cat /var/mail/root)" \
	    "^Date: [A-Z][a-z]{2}, $rfc_day [0-9:]{8} [+-][0-9]{4}\$"
	like "mask_mbox masks it all" "$(mask_mbox /var/mail/root)" '^Date: DATE$'
fi
