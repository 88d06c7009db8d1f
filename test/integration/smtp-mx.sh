# smtp-mx.sh - delivery to the MX hosts of the recipient domain (port 25,
# no smarthost): candidates in preference order, a temporary failure or a
# dead host moves on to the next MX, a permanent refusal stops at once,
# all-temporary defers with the last reason, auth.conf matched by MX name.

dns_start '
mx-host=example.test,mx1.example.test,10
mx-host=example.test,mx2.example.test,20
host-record=mx1.example.test,127.0.0.2
host-record=mx2.example.test,127.0.0.3
mx-host=perm.test,mx1.perm.test,10
mx-host=perm.test,mx2.perm.test,20
host-record=mx1.perm.test,127.0.0.4
host-record=mx2.perm.test,127.0.0.5
mx-host=dead.test,mx1.dead.test,10
mx-host=dead.test,mx2.dead.test,20
host-record=mx1.dead.test,127.0.0.6
host-record=mx2.dead.test,127.0.0.7
mx-host=auth.test,mx.auth.test,10
host-record=mx.auth.test,127.0.0.8
' || exit 1
echo DEFER | dma_conf
printf 'Subject: mx\n\nvia MX\n' >msg

submit_one() {
	capture run_as alice sh -c "$DMA $1 <msg"
	[ "$rc" = 0 ] || diag "submission failed: $err"
}

# -- 1. first MX defers at MAIL FROM, the second accepts ----------------------
smtpd_start ex1 --host 127.0.0.2 --port 25 --fault 'mail=451 4.3.0 mx1 busy' || exit 1
smtpd_start ex2 --host 127.0.0.3 --port 25 || exit 1
submit_one bob@example.test
capture run_dma -q -D
ok "MX1 4xx: delivered" wait_queue_empty
is "MX1 4xx: MX2 accepted" "$(smtpd_messages ex2)" 1
is "MX1 4xx: MX1 accepted nothing" "$(smtpd_messages ex1)" 0
is "MX1 4xx: QUIT to MX1" "$(smtpd_json "$(smtpd_session ex1)" 'j["commands"][-1]')" QUIT
ok "log: MX1 tried first" syslog_has 'trying remote delivery to mx1\.example\.test \[127\.0\.0\.2\] pref 10$'
ok "log: MX1 deferred" syslog_has \
    'remote delivery deferred: mx1\.example\.test \[127\.0\.0\.2\] failed after MAIL FROM: 451 4\.3\.0 mx1 busy$'
ok "log: MX2 next" syslog_has 'trying remote delivery to mx2\.example\.test \[127\.0\.0\.3\] pref 20$'
not_ok "no smarthost line" syslog_has 'using smarthost'

# -- 2. both defer: deferred with the last reason ----------------------------
smtpd_stop ex2
smtpd_start ex2b --host 127.0.0.3 --port 25 --fault 'rcpt=452 4.2.2 mx2 full' || exit 1
submit_one carol@example.test
capture run_dma -q -D
is "all MX 4xx: still queued" "$(qfiles | grep -c .)" 1
ok "all MX 4xx: deferred with MX2's reason" syslog_has \
    '<carol@example\.test> delivery deferred: mx2\.example\.test \[127\.0\.0\.3\] failed after RCPT TO: 452 4\.2\.2 mx2 full$'
kill_dma
rm -f "$SPOOL"/[QM]*
smtpd_stop ex1
smtpd_stop ex2b

# -- 3. permanent refusal at MX1: bounce, MX2 never contacted ----------------
smtpd_start p1 --host 127.0.0.4 --port 25 --fault 'rcpt=550 5.1.1 no such user here' || exit 1
smtpd_start p2 --host 127.0.0.5 --port 25 || exit 1
rm -f /var/mail/alice
submit_one nobody@perm.test
capture run_dma -q -D
ok "MX1 5xx: entry removed" wait_queue_empty
is "MX1 5xx: MX2 never contacted" "$(smtpd_sessions p2)" 0
like "MX1 5xx: bounce names MX1" "$(cat /var/mail/alice)" \
    '^mx1\.perm\.test \[127\.0\.0\.4\] did not like our RCPT TO:$'
like "MX1 5xx: bounce has the reply" "$(cat /var/mail/alice)" '^550 5\.1\.1 no such user here$'
smtpd_stop p1
smtpd_stop p2

# -- 4. MX1 not listening: connect failure, MX2 delivers ----------------------
smtpd_start d2 --host 127.0.0.7 --port 25 || exit 1
submit_one dave@dead.test
capture run_dma -q -D
ok "dead MX1: delivered" wait_queue_empty
is "dead MX1: MX2 accepted" "$(smtpd_messages d2)" 1
ok "dead MX1: connect failure logged" syslog_has \
    'connect to mx1\.dead\.test \[127\.0\.0\.6\] failed: Connection refused$'
smtpd_stop d2

# -- 5. auth.conf entry for the MX name -----------------------------------------
printf 'mxuser|mx.auth.test:mxpass\n' | auth_conf
printf 'DEFER\nINSECURE\nAUTHPATH /etc/dma/auth.conf\n' | dma_conf
smtpd_start au --host 127.0.0.8 --port 25 --auth PLAIN --user mxuser --password mxpass || exit 1
submit_one erin@auth.test
capture run_dma -q -D
ok "MX auth: delivered" wait_queue_empty
j=$(smtpd_last_json au)
is "MX auth: authenticated as the MX's user" "$(smtpd_json "$j" 'j["auth_login"]')" mxuser
is "MX auth: success" "$(smtpd_json "$j" 'j["authenticated"]')" true
smtpd_stop au
