# service-units.sh - the systemd units of dist/ do what their types
# promise, run here the way systemd would run them (there is no systemd
# in the namespace): the commands are taken from the unit files as `make
# install-systemd` writes them.
#   dma-queued.service  Type=simple: ExecStart stays in the foreground as
#                       the main process (its pid is the one in qrun.pid),
#                       ExecReload (SIGHUP to it) makes it run at once with
#                       the configuration as it is now, and SIGTERM to the
#                       main process alone (KillMode=mixed) ends it with
#                       status 0 after the run in progress.
#   dma-flush.service   Type=oneshot: ExecStart delivers and returns only
#                       when the queue run is over (status 0).
#   dma-flush.timer     every 5 minutes; the two conflict.

MSG='Subject: units

body
'
printf 'postmaster: root\n' | aliases_file

# unit NAME: the unit as install-systemd makes it, under $T/units
mkdir -p "$T/units"
for u in dma-queued.service dma-flush.service dma-flush.timer; do
	sed "s|@SBINDIR@|$SBIN|g" "$SRC/dist/$u" >"$T/units/$u"
done

# key UNIT KEY: the value of KEY= in UNIT
key() {
	sed -n "s/^$2=//p" "$T/units/$1"
}

is "queued: Type" "$(key dma-queued.service Type)" simple
is "queued: KillMode" "$(key dma-queued.service KillMode)" mixed
is "queued: conflicts with the timer" "$(key dma-queued.service Conflicts)" \
    dma-flush.timer
is "flush: Type" "$(key dma-flush.service Type)" oneshot
is "timer: every 5 minutes" "$(key dma-flush.timer OnUnitActiveSec)" 5min
if command -v systemd-analyze >/dev/null 2>&1; then
	capture systemd-analyze verify --man=no "$T/units/dma-queued.service" \
	    "$T/units/dma-flush.service" "$T/units/dma-flush.timer"
	# Only complaints about the unit files themselves count.
	unlike "systemd-analyze verify: no complaint about the units" \
	    "$err" 'dma-(queued|flush)\.(service|timer):'
else
	skip "systemd-analyze verify" "systemd-analyze not installed"
fi

no_qfiles() {
	test -z "$(qfiles)"
}

# -- dma-queued.service ------------------------------------------------------
smtpd_start q1 --fault-once --fault 'rcpt=451 4.3.0 try later' || exit 1
smtpd_conf q1 DEFER 'RETRYDELAY 1h'
printf '%s' "$MSG" | send_as alice a@example.org

read -r -a start <<<"$(key dma-queued.service ExecStart)"
syslog_mark
"${start[@]}" </dev/null >"$T/queued.out" 2>&1 &
main=$!
ok "ExecStart: the daemon starts" wait_until 10 test -s "$SPOOL/qrun.pid"
ok "ExecStart: it defers the entry (first run)" \
    wait_until 20 logged '<a@example\.org> delivery deferred'
sleep 1
ok "Type=simple: the started process is still there" kill -0 "$main"
is "Type=simple: it is the daemon (qrun.pid)" "$(cat "$SPOOL/qrun.pid")" "$main"

# ExecReload with a new smarthost in dma.conf: the run it starts uses it
smtpd_start q2 || exit 1
smtpd_conf q2 DEFER 'RETRYDELAY 1h'
reload=$(key dma-queued.service ExecReload)
reload=${reload//\$MAINPID/$main}
read -r -a reload <<<"$reload"
syslog_mark
"${reload[@]}"
ok "ExecReload: a run at once, with the new dma.conf" wait_until 30 no_qfiles
is "ExecReload: the new smarthost got the message" "$(smtpd_messages q2)" 1
ok "ExecReload: the main process stays" kill -0 "$main"

# KillMode=mixed: SIGTERM to the main process only
kill -TERM "$main"
wait "$main"
is "SIGTERM: the daemon exits with status 0" "$?" 0
ok "SIGTERM: no dma process is left" wait_until 20 sh -c '! pgrep -x dma'
ok "SIGTERM: logged" syslog_has 'queue daemon stopped'
smtpd_stop q1
smtpd_stop q2

# -- dma-flush.service -------------------------------------------------------
smtpd_start f || exit 1
smtpd_conf f DEFER
printf '%s' "$MSG" | send_as alice b@example.org
printf '%s' "$MSG" | send_as alice c@example.org
read -r -a start <<<"$(key dma-flush.service ExecStart)"
capture "${start[@]}"
is "oneshot: ExecStart exits 0" "$rc" 0
is "oneshot: the queue is empty when it returns" "$(qfiles)" ""
is "oneshot: both delivered by then" "$(smtpd_messages f)" 2
smtpd_stop f
