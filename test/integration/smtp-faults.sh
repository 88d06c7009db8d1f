# smtp-faults.sh - a smarthost failing at each stage of the dialogue:
# 4xx and dropped connections defer (the entry stays queued and the next
# queue run delivers once the server recovers; a connection dropped inside
# a transaction is opened again at once, once), 5xx bounces to the sender
# with the server's exact text, QUIT is sent after every refusal while the
# connection is usable, and a refused QUIT does not undo a delivery.
# (A stalling server: smtp-stall.sh, with a short TIMEOUT.)

printf 'Subject: faults\n\nbody line\n' >msg

# step_of STAGE: the step name dma uses in logs and bounces.
step_of() {
	case $1 in
	greeting) echo connect ;;
	ehlo) echo EHLO ;;
	helo) echo HELO ;;
	mail) echo "MAIL FROM" ;;
	rcpt) echo "RCPT TO" ;;
	data) echo DATA ;;
	eod) echo "final DATA" ;;
	esac
}

# extra_of STAGE: server options needed to reach the stage.
extra_of() {
	case $1 in
	helo) echo --no-ehlo ;;
	esac
}

# submit_one RCPT: queue one message from alice (DEFER in dma.conf).
submit_one() {
	capture run_as alice sh -c "$DMA $1 <msg"
	[ "$rc" = 0 ] || diag "submission failed: $err"
}

n=0
for stage in greeting ehlo helo mail rcpt data eod; do
	n=$((n + 1))
	step=$(step_of "$stage")

	# -- 4xx: deferred, QUIT sent, retried successfully ---------------
	name=t4$stage
	smtpd_start "$name" $(extra_of "$stage") --fault-once \
	    --fault "$stage=451 4.3.0 $stage is busy" || exit 1
	smtpd_conf "$name" DEFER
	rm -f /var/mail/alice
	submit_one "u$n@example.org"
	capture run_dma -q -D
	is "$stage 4xx: queue run exit 0" "$rc" 0
	is "$stage 4xx: entry still queued" "$(qfiles | grep -c .)" 1
	ok "$stage 4xx: server saw the session end" smtpd_wait_closed "$name"
	s=$(smtpd_session "$name" 1)
	is "$stage 4xx: the fault was hit" "$(smtpd_json "$s" 'j["faults"]')" "$stage"
	is "$stage 4xx: QUIT sent after the refusal" \
	    "$(smtpd_json "$s" 'j["commands"][-1]')" QUIT
	is "$stage 4xx: nothing accepted" "$(smtpd_messages "$name")" 0
	ok "$stage 4xx: logged as deferred with the reply" syslog_has \
	    "remote delivery deferred: 127\\.0\\.0\\.1 \\[127\\.0\\.0\\.1\\] failed after $step: 451 4\\.3\\.0 $stage is busy\$"
	ok "$stage 4xx: no bounce" test ! -e /var/mail/alice
	capture run_dma -q -D
	ok "$stage 4xx: the next queue run delivers" wait_queue_empty
	is "$stage 4xx: accepted on the second session" "$(smtpd_messages "$name")" 1
	smtpd_stop "$name"

	# -- drop: deferred, retried successfully ----------------------------
	# Dropped before a transaction: the entry waits for the next run;
	# dropped inside one: tried again at once on a fresh session.
	name=td$stage
	smtpd_start "$name" $(extra_of "$stage") --fault-once --fault "$stage=drop" || exit 1
	smtpd_conf "$name" DEFER
	submit_one "d$n@example.org"
	capture run_dma -q -D
	case $stage in
	greeting|ehlo|helo) left=1 ;;
	*) left=0 ;;
	esac
	is "$stage drop: entry queued ($left) after the run" "$(qfiles | grep -c .)" $left
	ok "$stage drop: logged as deferred" syslog_has \
	    "remote delivery deferred: 127\\.0\\.0\\.1 \\[127\\.0\\.0\\.1\\] failed after $step: connection closed by the server\$"
	[ $left = 0 ] && is "$stage drop: two sessions in the run" \
	    "$(smtpd_sessions "$name")" 2
	capture run_dma -q -D
	ok "$stage drop: the next queue run delivers" wait_queue_empty
	is "$stage drop: accepted once" "$(smtpd_messages "$name")" 1
	smtpd_stop "$name"

	# -- 5xx: bounced with the exact text --------------------------------
	[ "$stage" = ehlo ] && continue		# 5xx to EHLO means HELO, below
	name=t5$stage
	smtpd_start "$name" $(extra_of "$stage") --fault "$stage=554 5.7.1 no $stage for you" || exit 1
	smtpd_conf "$name" DEFER
	rm -f /var/mail/alice
	submit_one "p$n@example.org"
	capture run_dma -q -D
	ok "$stage 5xx: entry removed" wait_queue_empty
	ok "$stage 5xx: server saw the session end" smtpd_wait_closed "$name"
	is "$stage 5xx: QUIT sent after the refusal" \
	    "$(smtpd_json "$(smtpd_session "$name" 1)" 'j["commands"][-1]')" QUIT
	is "$stage 5xx: one session only" "$(smtpd_sessions "$name")" 1
	ok "$stage 5xx: logged as failed" syslog_has \
	    "remote delivery to 127\\.0\\.0\\.1 \\[127\\.0\\.0\\.1\\] failed after $step: 554 5\\.7\\.1 no $stage for you\$"
	is "$stage 5xx: one bounce to alice" "$(count_msgs /var/mail/alice)" 1
	b=$(cat /var/mail/alice)
	like "$stage 5xx: bounce names the recipient" "$b" \
	    "^There was an error delivering your mail to <p$n@example\\.org>\\.\$"
	like "$stage 5xx: bounce names the host and step" "$b" \
	    "^127\\.0\\.0\\.1 \\[127\\.0\\.0\\.1\\] did not like our $step:\$"
	like "$stage 5xx: bounce has the server's text" "$b" "^554 5\\.7\\.1 no $stage for you\$"
	unlike "$stage 5xx: never the unknown reason" "$b" 'unknown bounce reason'
	smtpd_stop "$name"
done

# -- EHLO and HELO both refused: permanent, reason names HELO --------------
smtpd_start bothhelo --fault 'ehlo=500 5.5.1 what' --fault 'helo=550 5.7.1 go away' || exit 1
smtpd_conf bothhelo DEFER
rm -f /var/mail/alice
submit_one h@example.org
capture run_dma -q -D
ok "EHLO+HELO 5xx: entry removed" wait_queue_empty
is "EHLO+HELO 5xx: both tried" \
    "$(smtpd_json "$(smtpd_session bothhelo 1)" 'j["commands"]')" \
"EHLO $HOST
HELO $HOST
QUIT"
like "EHLO+HELO 5xx: bounce reason" "$(cat /var/mail/alice)" \
    '^127\.0\.0\.1 \[127\.0\.0\.1\] did not like our HELO:$'
like "EHLO+HELO 5xx: bounce text" "$(cat /var/mail/alice)" '^550 5\.7\.1 go away$'
smtpd_stop bothhelo

# -- multi-line refusal: every line in the bounce ---------------------------
smtpd_start ml --fault $'rcpt=550-5.1.1 first line\r\n550-second line\r\n550 5.1.1 last line' || exit 1
smtpd_conf ml DEFER
rm -f /var/mail/alice
submit_one ml@example.org
capture run_dma -q -D
ok "multi-line 5xx: entry removed" wait_queue_empty
b=$(cat /var/mail/alice)
like "multi-line 5xx: first line" "$b" '^550-5\.1\.1 first line$'
like "multi-line 5xx: second line" "$b" '^550-second line$'
like "multi-line 5xx: last line" "$b" '^550 5\.1\.1 last line$'
ok "multi-line 5xx: one log line, newlines escaped" syslog_has \
    'failed after RCPT TO: 550-5\.1\.1 first line\\n550-second line\\n550 5\.1\.1 last line$'
smtpd_stop ml

# -- QUIT refused after the message was accepted: still delivered ----------
smtpd_start q --fault 'quit=500 5.5.1 no quit' || exit 1
smtpd_conf q DEFER
rm -f /var/mail/alice
submit_one q@example.org
capture run_dma -q -D
ok "QUIT refused: entry removed" wait_queue_empty
is "QUIT refused: accepted" "$(smtpd_messages q)" 1
ok "QUIT refused: logged" syslog_has 'remote delivery succeeded but QUIT failed: 500 5\.5\.1 no quit$'
ok "QUIT refused: no bounce" test ! -e /var/mail/alice
smtpd_stop q

# -- QUIT dropped: still delivered -----------------------------------------
smtpd_start qd --fault quit=drop || exit 1
smtpd_conf qd DEFER
submit_one qd@example.org
capture run_dma -q -D
ok "QUIT dropped: entry removed" wait_queue_empty
is "QUIT dropped: accepted" "$(smtpd_messages qd)" 1
smtpd_stop qd

# -- nobody listening: deferred with the connect error ----------------------
smtpd_start gone || exit 1
port=$(smtpd_port gone)
smtpd_stop gone
smtpd_conf gone DEFER
submit_one gone@example.org
capture run_dma -q -D
is "no server: entry still queued" "$(qfiles | grep -c .)" 1
ok "no server: connect failure logged" syslog_has \
    'connect to 127\.0\.0\.1 \[127\.0\.0\.1\] failed: Connection refused$'
ok "no server: deferral logged with the reason" syslog_has \
    "delivery deferred: connect to 127\\.0\\.0\\.1 \\[127\\.0\\.0\\.1\\] failed: Connection refused\$"
smtpd_start gone --port "$port" || exit 1
capture run_dma -q -D
ok "no server: delivered once it listens" wait_queue_empty
is "no server: accepted" "$(smtpd_messages gone)" 1

# -- a bounce to a remote sender goes out with MAIL FROM:<> -----------------
smtpd_start nb --fault-once --fault 'rcpt=550 5.1.1 unknown user' || exit 1
smtpd_conf nb DEFER
capture run_as alice sh -c "$DMA -f sender@example.net nobody@example.org <msg"
capture run_dma -q -D
ok "remote bounce: queue drained" wait_queue_empty 30
is "remote bounce: delivered to the smarthost" "$(smtpd_messages nb)" 1
j=$(smtpd_last_json nb)
is "remote bounce: null reverse path (aiosmtpd records <>)" "$(smtpd_json "$j" 'j["mail_from"]')" "<>"
is "remote bounce: to the sender" "$(smtpd_json "$j" 'j["rcpt_tos"]')" sender@example.net
like "remote bounce: MAIL FROM:<> on the wire" "$(tr -d '\r' <"$(smtpd_raw nb 2)")" '^MAIL FROM:<>'
like "remote bounce: carries the reason" "$(tr -d '\r' <"$(smtpd_last_msg nb)")" '^550 5\.1\.1 unknown user$'
smtpd_stop nb
