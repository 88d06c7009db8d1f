# clients-php.sh - PHP's mail() with the usual sendmail_path
# "/usr/sbin/sendmail -t -i": recipients from the To: header, additional
# headers joined with CRLF (dma stores LF), a body with a lone "." and a
# "From " line, and the envelope sender given as mail()'s fifth argument.
# Local (bob's mbox) and remote (smarthost), exact bytes and envelope.

. "$SRC/test/integration/fixtures/clients-common.sh"

ok "setup: smarthost relay started" relay_start

# php_mail RCPT [EXTRA_HEADERS [PARAMS]]: alice's web application sends.
php_mail() {
	capture run_as alice /usr/bin/php -n -d 'sendmail_path=/usr/sbin/sendmail -t -i' \
	    -r 'exit(mail($argv[1], "subj php", "body\n.\nFrom here\n..dots\nend",
	        $argv[2] ?? "", $argv[3] ?? "") ? 0 : 1);' -- "$@"
}

for rcpt in bob carol@example.org; do
	# -- plain: dma adds Date, Message-Id and From ---------------------------
	reset_mboxes
	php_mail "$rcpt"
	is "php mail() to $rcpt: mail() true, quiet" "$rc:$out$err" "0:"
	ok "php mail() to $rcpt: delivered" wait_queue_empty
	want_stored alice 2001 alice@testhost <<EOF
To: $rcpt
Subject: subj php
Date: DATE
Message-Id: <MSGID>
From: <alice@testhost>

body
.
From here
..dots
end
EOF
	if [ "$rcpt" = bob ]; then
		check_local "php mail() to bob" "$MAILDIR/bob"
	else
		check_remote "php mail() to $rcpt" "$rcpt"
	fi

	# -- additional headers with CRLF, its own From: ---------------------------
	reset_mboxes
	php_mail "$rcpt" $'From: Web App <webapp@example.org>\r\nReply-To: x@example.org\r\nX-Mailer: PHP'
	is "php mail() with headers to $rcpt: mail() true, quiet" "$rc:$out$err" "0:"
	ok "php mail() with headers to $rcpt: delivered" wait_queue_empty
	want_stored alice 2001 alice@testhost <<EOF
To: $rcpt
Subject: subj php
From: Web App <webapp@example.org>
Reply-To: x@example.org
X-Mailer: PHP
Date: DATE
Message-Id: <MSGID>

body
.
From here
..dots
end
EOF
	if [ "$rcpt" = bob ]; then
		check_local "php mail() with headers to bob" "$MAILDIR/bob"
	else
		check_remote "php mail() with headers to $rcpt" "$rcpt"
	fi

	# -- envelope sender through the fifth argument (-f) -----------------------
	reset_mboxes
	php_mail "$rcpt" "" "-fwebapp@example.org"
	is "php mail() -f to $rcpt: mail() true, quiet" "$rc:$out$err" "0:"
	ok "php mail() -f to $rcpt: delivered" wait_queue_empty
	want_stored alice 2001 webapp@example.org <<EOF
To: $rcpt
Subject: subj php
Date: DATE
Message-Id: <MSGID>
From: <webapp@example.org>

body
.
From here
..dots
end
EOF
	if [ "$rcpt" = bob ]; then
		check_local "php mail() -f to bob" "$MAILDIR/bob"
	else
		check_remote "php mail() -f to $rcpt" "$rcpt"
	fi
done

# A recipient dma refuses makes mail() return false; nothing is queued.
php_mail "nosuchuser"
is "php mail() to an unknown local user: mail() false" "$rc" 1
is "php mail() to an unknown local user: nothing queued" "$(spool_rest)" ""
smtpd_stop relay
