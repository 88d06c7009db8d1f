# attack-read.sh - alice tries to read bob's queued message and the SMTP
# passwords: the queue listing (dma -bp, mailq, sendmail -bp) shows ID,
# From and To only, in the exact format; the spool files cannot be opened;
# queue runs she starts (plain, -D, -v) print nothing of the message, and
# the delivery processes she starts cannot be looked into through /proc;
# auth.conf is unreadable for her and dma never prints or logs a password,
# not even when a broken auth.conf line has to be reported.  Bob's message
# is finally delivered: nothing lost.

SECRET=SECRET-BODY-4411
SUBJ=SECRET-SUBJECT-4411
PASSWORD=SuperSecretPw-9981

echo DEFER | dma_conf
printf 'Subject: %s\nX-Secret: %s\n\n%s\n' "$SUBJ" "$SUBJ" "$SECRET" >"$T/secret.msg"
chmod 0600 "$T/secret.msg"
chown bob "$T/secret.msg"
run_as bob sh -c "$DMA carol@example.org <$T/secret.msg"
q=$(qfiles)
ok "setup: bob's message is queued" test -n "$q"
m=M${q#Q}
qid=$(sed -n 's/^ID: //p' "$SPOOL/$q")

# -- the queue listing ---------------------------------------------------
want=$(printf 'ID\t: %s\nFrom\t: bob@testhost\nTo\t: carol@example.org' "$qid")
for cmd in "$DMA -bp" "mailq" "sendmail -bp" "$SBIN/sendmail -bp"; do
	# shellcheck disable=SC2086
	capture run_as alice $cmd
	is "alice: $cmd: exit 0, nothing on stderr" "$rc:$err" "0:"
	is "alice: $cmd: exactly ID/From/To" "$out" "$want"
	unlike "alice: $cmd: no message content" "$out" "$SECRET|$SUBJ"
done

# -- the spool itself ----------------------------------------------------
for f in "$SPOOL/$m" "$SPOOL/$q"; do
	capture run_as alice cat "$f"
	is "alice: cat $f fails" "$rc" 1
	like "alice: cat $f: permission denied" "$err" 'Permission denied'
	unlike "alice: cat $f: nothing shown" "$out" "$SECRET|$SUBJ"
done
capture run_as alice ls "$SPOOL"
not_ok "alice: cannot even list the spool" test "$rc" = 0
capture run_as alice sh -c "cat $SPOOL/M* $SPOOL/* 2>&1"
unlike "alice: globbing the spool shows nothing" "$out" "$SECRET|$SUBJ"

# -- queue runs started by alice ---------------------------------------------
smtpd_start defer --fault 'rcpt=451 4.3.0 try later'
smtpd_conf defer
capture run_as alice "$DMA" -q
is "alice: dma -q: exit 0, quiet" "$rc:$out$err" "0:"
ok "alice: dma -q: the entry was tried" wait_until 20 grep -q 'RCPT' "$T/smtpd-defer/session-0001.raw"
# The deferred entry now waits for its retry in a daemon; stop it so the
# next runs can take the entry.
kill_dma 2>/dev/null
capture run_as alice "$DMA" -q -D
is "alice: dma -q -D: exit 0, quiet" "$rc:$out$err" "0:"
capture run_as alice "$DMA" -q -v
is "alice: dma -q -v: exit 0, nothing on stdout" "$rc:$out" "0:"
like "alice: dma -q -v traces the dialogue" "$err" '^(>>>|<<<) '
unlike "alice: dma -q -v shows no message content" "$err" "$SECRET|$SUBJ"
unlike "alice: dma -q -v shows no header line of the message" "$err" '^>>> (Subject|X-Secret|Received):'
is "bob's message is still queued" "$(qfiles)" "$q"
smtpd_stop defer

# A delivery process alice started holds bob's M file open; /proc does
# not let her at it (the process is setgid, hence not dumpable).
smtpd_start stall --fault 'greeting=stall'
smtpd_conf stall
run_as alice "$DMA" -q
pids=""
wait_until 10 sh -c 'ls '"$T"'/smtpd-stall | grep -q "^session-.*json$"'
pids=$(pgrep -u alice -x dma | tr '\n' ' ')
ok "alice's delivery process is running" test -n "$pids"
for p in $pids; do
	capture run_as alice sh -c "cat /proc/$p/fd/* /proc/$p/environ /proc/$p/cmdline 2>/dev/null; dd if=/proc/$p/mem bs=4096 count=1 2>/dev/null | od -c"
	unlike "alice: /proc/$p shows nothing of the message" "$out" "$SECRET|$SUBJ"
	capture run_as alice ls -l /proc/$p/fd/
	not_ok "alice: /proc/$p/fd cannot be listed" test "$rc" = 0
done
kill_dma 2>/dev/null
smtpd_stop stall
is "bob's message is still queued after the killed run" "$(qfiles)" "$q"

# -- auth.conf ----------------------------------------------------------------
printf 'AUTHPATH /etc/dma/auth.conf\nDEFER\n' | dma_conf
printf 'bob@example.org|smtp.example.org:%s\n' "$PASSWORD" | auth_conf
is_mode "auth.conf is 0640" /etc/dma/auth.conf 640
is_owner "auth.conf is root:mail" /etc/dma/auth.conf root:mail
capture run_as alice cat /etc/dma/auth.conf
like "alice: cat auth.conf: permission denied" "$err" 'Permission denied'
unlike "alice: cat auth.conf shows nothing" "$out" "$PASSWORD"
capture run_as alice "$DMA" -bp
is "alice: dma -bp with a good auth.conf: exit 0" "$rc" 0
unlike "alice: dma -bp: no password" "$out$err" "$PASSWORD"

# Broken lines: auth.conf is read by a remote delivery only, so listing and
# submitting work; the delivery defers, and its error names the file and
# the line, never its text.
for bad in "alice@example.org $PASSWORD" "alice@example.org|$PASSWORD" \
    "alice|:$PASSWORD"; do
	printf '# comment\n%s\n' "$bad" | auth_conf
	capture run_as alice "$DMA" -bp
	is "broken auth.conf line '${bad%%"$PASSWORD"*}...': dma -bp does not read it, exits 0" "$rc" 0
	unlike "broken auth.conf line: -bp does not show the password" "$err$out" "$PASSWORD"
	capture run_as alice sh -c "echo x | $DMA bob"
	is "broken auth.conf line: submission (DEFER) does not read it, exits 0" "$rc" 0
	unlike "broken auth.conf line: submission does not show the password" "$err$out" "$PASSWORD"
	syslog_mark
	capture run_as alice "$DMA" -q -v
	unlike "broken auth.conf line: dma -q -v does not show the password" "$err$out" "$PASSWORD"
	ok "broken auth.conf line: the remote delivery is deferred naming the file and line 2" \
	    logged 'remote delivery deferred: syntax error in authfile /etc/dma/auth\.conf:2$'
done
syslog_sync
not_ok "the log never got the password" grep -qF -- "$PASSWORD" "$T/syslog"
not_ok "the log never got bob's message" grep -qE -- "$SECRET|$SUBJ" "$T/syslog"

# -- nothing lost: a real queue run delivers bob's message ---------------------
smtpd_start ok
smtpd_conf ok
capture run_as alice "$DMA" -q
is "alice: final dma -q: exit 0, quiet" "$rc:$out$err" "0:"
ok "bob's message is delivered" wait_queue_empty
is "the smarthost got one message" "$(smtpd_messages ok)" 1
f=$(smtpd_last_msg ok)
ok "... with bob's body" grep -q "$SECRET" "$f"
is "... from bob to carol" \
    "$(smtpd_json "$(smtpd_last_json ok)" 'j["mail_from"] + " " + ",".join(j["rcpt_tos"])')" \
    "bob@testhost carol@example.org"
smtpd_stop ok
