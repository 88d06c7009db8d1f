# smtp-hostile.sh - malformed and hostile EHLO replies: an endless
# multi-line reply, an overlong line, a NUL in the code, mixed codes and
# garbage defer the message promptly, leave the queue entry as it was and
# keep the log free of control bytes; NUL, bare CR and ESC inside reply
# text are replaced before any use and the delivery goes on.

printf 'Subject: hostile\n\nbody\n' >msg

# clean FILE: no control byte other than TAB and LF
clean() {
	/usr/bin/python3 -c '
import sys, re
d = open(sys.argv[1], "rb").read()
sys.exit(1 if re.search(rb"[\x00-\x08\x0b-\x1f\x7f]", d) else 0)' "$1"
}

for mode in endless overlong nulcode mixed garbage; do
	smtpd_start "h$mode" --hostile-ehlo "$mode" || exit 1
	smtpd_conf "h$mode" DEFER
	capture run_as alice sh -c "$DMA $mode@example.org <msg"
	q=$(qfiles)
	cp "$SPOOL/$q" "$T/q.before"
	cp "$SPOOL/M${q#Q}" "$T/m.before"
	start=$(date +%s)
	capture run_dma -q -D
	is "$mode: queue run exit 0" "$rc" 0
	ok "$mode: returned promptly" test $(($(date +%s) - start)) -lt 20
	is "$mode: still queued" "$(qfiles)" "$q"
	# the envelope is as queued; the failed attempt adds its state, one
	# printable line each
	head -n 4 "$SPOOL/$q" >"$T/q.env"
	is_file "$mode: Q file's envelope unchanged" "$T/q.env" "$T/q.before"
	unlike "$mode: the state lines are printable" "$(sed 1,4d "$SPOOL/$q")" '[^ -~]'
	like "$mode: the failure is recorded" "$(cat "$SPOOL/$q")" '^Last-Error: 127\.0\.0\.1 \[127\.0\.0\.1\] failed after EHLO: '
	is_file "$mode: M file unchanged" "$SPOOL/M${q#Q}" "$T/m.before"
	like "$mode: queue listing intact" "$(run_dma -bp)" "^To	: $mode@example\\.org\$"
	ok "$mode: deferred after EHLO" syslog_has \
	    'remote delivery deferred: 127\.0\.0\.1 \[127\.0\.0\.1\] failed after EHLO: '
	is "$mode: nothing accepted" "$(smtpd_messages "h$mode")" 0
	smtpd_wait_closed "h$mode" 5
	# (the endless server never reads again, so it cannot record a QUIT)
	[ "$mode" = endless ] || is "$mode: QUIT sent all the same" \
	    "$(tail -c 6 "$(smtpd_raw "h$mode")" | od -An -c | tr -s ' ')" " Q U I T \\r \\n"
	kill_dma
	rm -f "$SPOOL"/[QM]*
	smtpd_stop "h$mode"
done
ok "endless: reason names the limit" syslog_has 'failed after EHLO: reply longer than 100 lines$'
ok "overlong: reason names the limit" syslog_has 'failed after EHLO: reply line longer than 1000 bytes$'
ok "nulcode: malformed line shown sanitised" syslog_has "failed after EHLO: malformed reply line \`2\\?50 8BITMIME'\$"
ok "mixed codes: refused" syslog_has "failed after EHLO: malformed reply line \`220 8BITMIME'\$"
ok "garbage: refused" syslog_has "failed after EHLO: malformed reply line \`hello there'\$"

for mode in nul crlf; do
	smtpd_start "h$mode" --hostile-ehlo "$mode" || exit 1
	smtpd_conf "h$mode" DEFER
	capture run_as alice sh -c "$DMA $mode@example.org <msg"
	capture run_dma -v -q -D
	ok "$mode: delivered" wait_queue_empty
	printf '%s' "$err" >"$T/verbose.$mode"
	ok "$mode: -v trace has no control bytes" clean "$T/verbose.$mode"
	like "$mode: replaced by ?" "$err" '^<<< 250-(smtpd\.test \?hello|smtpd\.test\?INJECT)$'
	smtpd_stop "h$mode"
done
syslog_sync
ok "syslog has no control bytes" clean "$T/syslog"
