# queue-daemon.sh - dma -q30m: the queue daemon retries a deferred entry
# at its next attempt time (RETRYDELAY, not the interval), a second
# instance is refused (exit 75), a user may not start one (exit 77), a
# plain `dma -q` wakes it, every run reads dma.conf afresh (a broken one
# skips that run only), and SIGTERM ends it with no entry locked.

MSG='Subject: daemon test

body
'
printf 'postmaster: root\n' | aliases_file

no_qfiles() {
	test -z "$(qfiles)"
}

not_running() {
	! kill -0 "$1" 2>/dev/null
}

smtpd_start d --fault-once --fault 'rcpt=451 4.3.0 try later' || exit 1
smtpd_conf d DEFER 'RETRYDELAY 3'
printf '%s' "$MSG" | send_as alice far@example.org

capture run_as alice "$DMA" -q30m
is "a user's daemon: exit 77" "$rc" 77
is "a user's daemon: the message" "$err" "dma: -q30m: only root may start the queue daemon"

syslog_mark
"$DMA" -q30m
ok "the daemon is started" wait_until 10 test -s "$SPOOL/qrun.pid"
pid=$(cat "$SPOOL/qrun.pid")
ok "the daemon runs in the background" kill -0 "$pid"
ok "its first run defers the entry" wait_until 20 logged '<far@example\.org> delivery deferred'
ok "the retry comes at the next attempt time, not after 30 minutes" wait_until 30 no_qfiles
is "the server got it once" "$(smtpd_messages d)" 1

capture "$DMA" -q30m
is "a second daemon: exit 75" "$rc" 75
is "a second daemon: the message" "$err" "dma: a queue daemon already runs for this spool (pid $pid)"

# a plain dma -q wakes it: a new deferred entry, then dma -q from a user
# (the daemon read dma.conf at its start: the new server takes the port)
port=$(smtpd_port d)
smtpd_stop d
smtpd_start d2 --port=$port --fault-once --fault 'rcpt=451 4.3.0 try later' || exit 1
smtpd_conf d2 DEFER 'RETRYDELAY 1h'
printf '%s' "$MSG" | send_as alice near@example.org
syslog_mark
kill -HUP "$pid"
ok "SIGHUP: the daemon runs at once (deferred)" wait_until 20 logged '<near@example\.org> delivery deferred'
ok "the entry waits an hour now" test -n "$(qfiles)"
syslog_mark
# a run that selects nothing itself, but touches the flush file
run_as bob "$DMA" -q -qInothing
ok "dma -q wakes the daemon: delivered" wait_until 30 no_qfiles

# each run reads dma.conf afresh: a new smarthost (another port) named
# while the daemon runs is used by its next run, woken by SIGHUP
smtpd_start d3 || exit 1
smtpd_conf d3 DEFER
printf '%s' "$MSG" | send_as alice moved@example.org
syslog_mark
kill -HUP "$pid"
ok "a changed dma.conf is read by the next run" wait_until 30 no_qfiles
is "SIGHUP: the new smarthost got it" "$(smtpd_messages d3)" 1
is "and the old one did not" "$(smtpd_messages d2)" 1

# a broken dma.conf fails that run only: logged, the daemon stays, and
# the run after the repair delivers
printf '%s' "$MSG" | send_as alice later@example.org
printf 'NOSUCHKEY 1\n' | dma_conf
syslog_mark
kill -HUP "$pid"
ok "a broken dma.conf: the run is skipped and logged" \
    wait_until 20 logged 'queue run skipped'
ok "the daemon outlives it" kill -0 "$pid"
ok "the entry stays queued" test -n "$(qfiles)"
smtpd_conf d3 DEFER
kill -HUP "$pid"
ok "repaired: the next run delivers" wait_until 30 no_qfiles
is "to the new smarthost" "$(smtpd_messages d3)" 2

kill -TERM "$pid"
ok "SIGTERM: the daemon ends" wait_until 20 not_running "$pid"
ok "SIGTERM: logged" syslog_has 'queue daemon stopped'
smtpd_stop d2
smtpd_stop d3
