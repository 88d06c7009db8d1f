# clients-mua.sh - the mail user agents of Debian call /usr/sbin/sendmail
# (dma) the way they do in real life, as an ordinary user: mail(1) from
# bsd-mailx ("sendmail -i -t"), s-nail ("sendmail -i -- rcpt") and mutt
# in batch mode ("sendmail -oem -oi -- rcpt").  Each message is checked
# byte for byte: in bob's mbox (local) and at a smarthost (remote), with
# its envelope.  The body has a lone ".", a "From " line, dot-led lines
# and UTF-8, so -i/-oi, mbox quoting, dot-stuffing and 8-bit data are all
# on the way.

. "$SRC/test/integration/fixtures/clients-common.sh"

ok "setup: smarthost relay started" relay_start

printf 'hello body\n.\nFrom here\n..two dots\n. dot space\nGr\303\274\303\237e\n' >"$T/body"
chmod 0644 "$T/body"
cat >"$T/muttrc" <<'EOF'
set sendmail="/usr/sbin/sendmail -oem -oi"
set hostname=testhost
set send_charset=utf-8
EOF
chmod 0644 "$T/muttrc"

BODY=$(cat "$T/body")

# -- mail(1), bsd-mailx: sendmail -i -t -------------------------------------
for rcpt in bob carol@example.org; do
	reset_mboxes
	capture run_as alice env LC_ALL=C.UTF-8 /usr/bin/bsd-mailx -s "subj mailx" "$rcpt" <"$T/body"
	is "bsd-mailx to $rcpt: exit 0, quiet" "$rc:$out$err" "0:"
	ok "bsd-mailx to $rcpt: delivered" wait_queue_empty
	want_stored alice 2001 alice@testhost <<EOF
To: $rcpt
Subject: subj mailx
MIME-Version: 1.0
Content-Type: text/plain; charset="UTF-8"
Content-Transfer-Encoding: 8bit
Date: DATE
Message-Id: <MSGID>
From: <alice@testhost>

$BODY
EOF
	if [ "$rcpt" = bob ]; then
		check_local "bsd-mailx to bob" "$MAILDIR/bob"
	else
		check_remote "bsd-mailx to $rcpt" "$rcpt"
		is "bsd-mailx to $rcpt: declared BODY=8BITMIME" \
		    "$(smtpd_json "$(smtpd_last_json relay)" 'j["mail_options"]')" "BODY=8BITMIME"
	fi
done

# -- s-nail: sendmail -i -- rcpt; quoted-printable body ------------------------
for rcpt in bob carol@example.org; do
	reset_mboxes
	capture run_as alice env LC_ALL=C.UTF-8 /usr/bin/s-nail -n -s "subj s-nail" "$rcpt" <"$T/body"
	is "s-nail to $rcpt: exit 0, quiet" "$rc:$out$err" "0:"
	ok "s-nail to $rcpt: delivered" wait_queue_empty
	want_stored alice 2001 alice@testhost <<EOF
Date: DATE
To: $rcpt
Subject: subj s-nail
User-Agent: s-nail v14.9.24
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable
Message-Id: <MSGID>
From: <alice@testhost>

hello body
=2E
=46rom here
..two dots
. dot space
Gr=C3=BC=C3=9Fe
EOF
	if [ "$rcpt" = bob ]; then
		check_local "s-nail to bob" "$MAILDIR/bob"
	else
		check_remote "s-nail to $rcpt" "$rcpt"
	fi
done

# -- mutt in batch mode: sendmail -oem -oi -- rcpt; its own From: -------------
for rcpt in bob carol@example.org; do
	reset_mboxes
	capture run_as alice env LC_ALL=C.UTF-8 /usr/bin/mutt -n -F "$T/muttrc" -s "subj mutt" "$rcpt" <"$T/body"
	is "mutt to $rcpt: exit 0, quiet" "$rc:$out$err" "0:"
	ok "mutt to $rcpt: delivered" wait_queue_empty
	r=$rcpt
	[ "$r" = bob ] && r=bob@testhost
	want_stored alice 2001 alice@testhost <<EOF
Date: DATE
From: alice@testhost
To: $r
Subject: subj mutt
Message-ID: <MSGID>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Disposition: inline
Content-Transfer-Encoding: 8bit

$BODY
EOF
	if [ "$rcpt" = bob ]; then
		check_local "mutt to bob" "$MAILDIR/bob"
	else
		check_remote "mutt to $rcpt" "$rcpt"
	fi
done

# -- one MUA call with a local and a remote recipient --------------------------
reset_mboxes
capture run_as alice env LC_ALL=C.UTF-8 /usr/bin/bsd-mailx -s "both" bob carol@example.org <"$T/body"
is "bsd-mailx to bob and carol: exit 0, quiet" "$rc:$out$err" "0:"
ok "bsd-mailx to bob and carol: delivered" wait_queue_empty
want_stored alice 2001 alice@testhost <<EOF
To: bob, carol@example.org
Subject: both
MIME-Version: 1.0
Content-Type: text/plain; charset="UTF-8"
Content-Transfer-Encoding: 8bit
Date: DATE
Message-Id: <MSGID>
From: <alice@testhost>

$BODY
EOF
check_local "bsd-mailx to bob and carol (bob's copy)" "$MAILDIR/bob"
want_relayed 's/^To: bob, /To: bob@testhost, /'
check_remote "bsd-mailx to bob and carol (carol's copy)" carol@example.org
smtpd_stop relay
