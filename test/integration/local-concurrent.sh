# local-concurrent.sh - concurrent queue runs deliver every queued entry
# exactly once (queue-file locking).

echo DEFER | dma_conf

# queue_msgs N TAG: N messages from alice, each to bob and root
queue_msgs() {
	local i
	for i in $(seq 1 "$1"); do
		printf 'Subject: %s-%s\n\nbody %s %s\n' "$2" "$i" "$2" "$i" |
		    run_as alice "$DMA" bob root || return 1
	done
}

# once_each N TAG MBOX: every message TAG-1..N is in MBOX exactly once
once_each() {
	local i c bad=""
	for i in $(seq 1 "$1"); do
		c=$(grep -c "^Subject: $2-$i\$" "$3")
		[ "$c" = 1 ] || bad="$bad $2-$i:$c"
	done
	[ -z "$bad" ] || { echo "wrong counts:$bad"; return 1; }
}

# -- 0. parallel first deliveries race to create the same mbox -------------
# Queue runs deliver the entries in parallel processes; all of them find
# /var/mail/bob missing and ask dma-mbox-create for it at once.  None
# may fail for that (a deferral would delay the mail by minutes).
race_ok=0
for round in 1 2 3 4 5; do
	rm -f /var/mail/bob
	for i in 1 2 3 4 5 6 7 8; do
		printf 'Subject: r%s-%s\n\nx\n' "$round" "$i" | run_as alice "$DMA" bob
	done
	: >"$T/syslog"
	run_dma -q -D &
	run_as bob "$DMA" -q -D &
	run_dma -q -D
	wait
	if [ -z "$(qfiles)" ] && ! syslog_has 'deferred'; then
		race_ok=$((race_ok + 1))
	else
		diag "round $round: $(qfiles | grep -c .) entries left;" \
		    "$(grep -v libsync "$T/syslog" | grep -E 'deferred|refus' | head -n 4)"
		run_dma -q -D
	fi
done
is "parallel first deliveries: nothing deferred in 5 rounds" "$race_ok" 5
is "parallel first deliveries: 8 messages, each once" \
    "$(count_msgs /var/mail/bob) $(grep -c "^Subject: r5-" /var/mail/bob)" "8 8"
rm -f /var/mail/bob

# -- 1. two daemonising queue runs at once ------------------------------------
ok "8 messages queued" queue_msgs 8 a
is "16 queue entries" "$(qfiles | grep -c .)" 16
run_dma -q &
p1=$!
run_dma -q &
p2=$!
wait "$p1"
r1=$?
wait "$p2"
r2=$?
is "both dma -q exit 0" "$r1 $r2" "0 0"
ok "queue emptied" wait_queue_empty 60
is "bob: 8 messages" "$(count_msgs /var/mail/bob)" 8
is "root: 8 messages" "$(count_msgs /var/mail/root)" 8
ok "bob: each message exactly once" once_each 8 a /var/mail/bob
ok "root: each message exactly once" once_each 8 a /var/mail/root

# -- 2. three foreground runs by different users at once ----------------------
ok "6 more messages queued" queue_msgs 6 b
run_dma -q -D &
p1=$!
run_as alice "$DMA" -q -D &
p2=$!
run_as bob "$DMA" -q -D &
p3=$!
wait "$p1"
r1=$?
wait "$p2"
r2=$?
wait "$p3"
r3=$?
is "the three dma -q -D exit 0" "$r1 $r2 $r3" "0 0 0"
ok "queue emptied" wait_queue_empty 60
is "bob: 14 messages" "$(count_msgs /var/mail/bob)" 14
is "root: 14 messages" "$(count_msgs /var/mail/root)" 14
ok "bob: each new message exactly once" once_each 6 b /var/mail/bob
ok "root: each new message exactly once" once_each 6 b /var/mail/root

# -- 3. submissions racing with a queue run ------------------------------------
: | dma_conf
: >/var/mail/bob
(
	for i in $(seq 1 6); do
		printf 'Subject: c-%s\n\nx\n' "$i" | run_as alice "$DMA" bob
	done
) &
p1=$!
run_dma -q -D
run_dma -q -D
wait "$p1"
ok "racing: queue emptied" wait_queue_empty 60
is "racing: bob has 6 messages" "$(count_msgs /var/mail/bob)" 6
ok "racing: each message exactly once" once_each 6 c /var/mail/bob
ok "mbox well formed: a From_ line starts it and follows only empty lines" \
    awk 'NR == 1 && !/^From / { bad = 1 } NR > 1 && /^From / && prev != "" { bad = 1 }
	{ prev = $0 } END { exit bad || prev != "" }' /var/mail/bob
