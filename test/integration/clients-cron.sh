# clients-cron.sh - the exact call of Debian's cron for a job's output,
# "/usr/sbin/sendmail -FCronDaemon -i -B8BITMIME -oem RCPT", with a
# cron-made message on stdin (its own From:, UTF-8, X-Cron-Env headers,
# output without a final newline): from root's crontab (dma runs as the
# user mail then) and from alice's, to a local user and via a smarthost.
# -F does not add a second From:, -B8BITMIME and -oem are accepted.

. "$SRC/test/integration/fixtures/clients-common.sh"

ok "setup: smarthost relay started" relay_start

# cron_msg USER RCPT: the message cron writes for USER's job "ls".
cron_msg() {
	printf 'From: %s (Cron Daemon)\nTo: %s\nSubject: Cron <%s@testhost> ls\n' "$1" "$2" "$1"
	printf 'MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\n'
	printf 'Content-Transfer-Encoding: 8bit\n'
	printf 'X-Cron-Env: <SHELL=/bin/sh>\nX-Cron-Env: <HOME=%s>\n' "$(getent passwd "$1" | cut -d: -f6)"
	printf 'X-Cron-Env: <PATH=/usr/bin:/bin>\nX-Cron-Env: <LOGNAME=%s>\n\n' "$1"
	printf 'bin\nFrom the job\n.\nr\303\251sum\303\251.txt\nlast line without newline'
}

# cron_want USER UID RCPT: the stored form of cron_msg.
cron_want() {
	want_stored "$1" "$2" "$1@testhost" <<EOF
$(cron_msg "$1" "$3" | sed '/^$/q' | sed '$d')
Date: DATE
Message-Id: <MSGID>

bin
From the job
.
$(printf 'r\303\251sum\303\251.txt')
last line without newline
EOF
}

for user in root alice; do
	for rcpt in alice carol@example.org; do
		reset_mboxes
		cron_msg "$user" "$rcpt" >"$T/cron.msg"
		chmod 0644 "$T/cron.msg"
		capture run_as "$user" /usr/sbin/sendmail -FCronDaemon -i -B8BITMIME -oem "$rcpt" <"$T/cron.msg"
		is "cron of $user to $rcpt: exit 0, quiet" "$rc:$out$err" "0:"
		ok "cron of $user to $rcpt: delivered" wait_queue_empty
		uid=$(id -u "$user")
		cron_want "$user" "$uid" "$rcpt"
		if [ "$rcpt" = alice ]; then
			check_local "cron of $user to alice" "$MAILDIR/alice"
		else
			want_relayed "s/^From: $user (Cron Daemon)\$/From: $user@testhost (Cron Daemon)/"
			check_remote "cron of $user to $rcpt" "$rcpt"
		fi
	done
done

# Queued by root's cron, the entry belongs to the user mail: root never
# writes the spool itself.
echo DEFER >>/etc/dma/dma.conf
cron_msg root alice >"$T/cron.msg"
run_as root /usr/sbin/sendmail -FCronDaemon -i -B8BITMIME -oem alice <"$T/cron.msg"
q=$(qfiles)
ok "cron of root with DEFER: queued" test -n "$q"
[ -n "$q" ] && is_owner "cron of root: the queue file belongs to mail" "$SPOOL/$q" mail:mail
run_dma -q
ok "cron of root with DEFER: the next queue run delivers it" wait_queue_empty
is "cron of root with DEFER: alice got it" "$(count_msgs "$MAILDIR/alice")" 1

# Several jobs ending in the same minute mail a user who has no mailbox
# yet: every message is delivered at once, none waits for a retry (the
# first delivery creates the mailbox while the others want it too).
cron_msg root alice >"$T/cron.msg"
dma_conf </dev/null
bad=""
for round in $(seq 1 20); do
	rm -f "$MAILDIR/alice"
	pids=""
	for i in 1 2 3 4 5 6 7 8; do
		run_as root /usr/sbin/sendmail -FCronDaemon -i -B8BITMIME -oem alice <"$T/cron.msg" &
		pids="$pids $!"
	done
	wait $pids
	if ! wait_queue_empty 15 || [ "$(count_msgs "$MAILDIR/alice")" != 8 ]; then
		bad="round $round: $(count_msgs "$MAILDIR/alice") of 8 delivered, queue: $(qfiles | tr '\n' ' ')"
		break
	fi
done
is "8 simultaneous cron mails to a user without a mailbox, 20 rounds: all delivered at once" "$bad" ""
kill_dma 2>/dev/null
smtpd_stop relay
