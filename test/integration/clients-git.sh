# clients-git.sh - git send-email through sendmail: a patch made by
# git format-patch in a temporary repository, sent with
# "git send-email --smtp-server=/usr/sbin/sendmail --confirm=never
# --suppress-cc=all" (git runs "sendmail -i RCPT"; with
# --envelope-sender it adds "-f ADDR").  The patch arrives byte for byte:
# in bob's mbox and at a smarthost.
#
# Note: git send-email refuses a domain without a dot ("unable to extract
# a valid address from: bob@testhost"), so the local recipient is given
# as the bare local name.

. "$SRC/test/integration/fixtures/clients-common.sh"

ok "setup: smarthost relay started" relay_start

repo=$T/repo
mkdir -p "$repo" "$T/patches"
chown alice "$repo" "$T/patches"
capture run_as alice sh -c "
	cd '$repo' &&
	git init -q . &&
	git config user.name 'Alice Example' &&
	git config user.email alice@example.net &&
	printf 'one\n' >f && git add f && git commit -q -m first &&
	printf '.hidden\nFrom the top\n' >>f &&
	git commit -q -a -F - <<'EOF' &&
Fix the thing

From the department of fixes:
.
a line with a lone dot above
EOF
	git format-patch -q -1 -o '$T/patches'"
is "setup: git format-patch" "$rc:$err" "0:"
patch=$(ls "$T"/patches/*.patch)
ok "setup: one patch file" test -f "$patch"
# The body of the patch (after its header) is what must arrive.
sed '1,/^$/d' "$patch" >"$T/patch.body"

# send_patch ARGS...: alice runs git send-email in her repository.
send_patch() {
	capture run_as alice sh -c "cd '$repo' && git send-email \
	    --smtp-server=/usr/sbin/sendmail --confirm=never --suppress-cc=all \
	    $* '$patch'"
}

# want_patch TO SENDER: the stored message git send-email makes.
want_patch() {
	{
		cat <<EOF
From: Alice Example <alice@example.net>
To: $1
Subject: [PATCH] Fix the thing
Date: DATE
Message-Id: <MSGID>
X-Mailer: git-send-email $(git --version | sed 's/^git version //')
MIME-Version: 1.0
Content-Transfer-Encoding: 8bit

EOF
		cat "$T/patch.body"
	} >"$T/want.in"
	want_stored alice 2001 "$2" <"$T/want.in"
}

for rcpt in bob carol@example.org; do
	reset_mboxes
	send_patch "--to=$rcpt"
	is "git send-email to $rcpt: exit 0" "$rc" 0
	like "git send-email to $rcpt: git saw success" "$out" '^Result: OK$'
	like "git send-email to $rcpt: git ran sendmail -i" "$out" "^Sendmail: /usr/sbin/sendmail -i $rcpt\$"
	ok "git send-email to $rcpt: delivered" wait_queue_empty
	want_patch "$rcpt" alice@testhost
	if [ "$rcpt" = bob ]; then
		check_local "git send-email to bob" "$MAILDIR/bob"
	else
		check_remote "git send-email to $rcpt" "$rcpt"
	fi

	reset_mboxes
	send_patch "--to=$rcpt" --envelope-sender=auto
	is "git send-email --envelope-sender to $rcpt: exit 0" "$rc" 0
	like "git send-email --envelope-sender to $rcpt: git ran sendmail -f" \
	    "$out" "^Sendmail: /usr/sbin/sendmail -f alice@example.net -i $rcpt\$"
	ok "git send-email --envelope-sender to $rcpt: delivered" wait_queue_empty
	want_patch "$rcpt" alice@example.net
	if [ "$rcpt" = bob ]; then
		check_local "git send-email --envelope-sender to bob" "$MAILDIR/bob"
	else
		check_remote "git send-email --envelope-sender to $rcpt" "$rcpt"
	fi
done

# The patch as received applies: git am in a fresh clone of the first
# commit reproduces the file.
reset_mboxes
send_patch --to=bob
ok "git send-email to bob again: delivered" wait_queue_empty
cp "$MAILDIR/bob" "$T/bob.mbox"
chmod 0644 "$T/bob.mbox"
capture run_as alice sh -c "
	cd '$T/patches' && git clone -q '$repo' clone && cd clone &&
	git config user.name 'Alice Example' && git config user.email alice@example.net &&
	git reset -q --hard HEAD~1 && git am -q --patch-format=mboxrd '$T/bob.mbox' && cat f &&
	git log -1 --format=%B"
is "git am of the delivered mbox reproduces the file and the commit message" "$rc:$out" \
    "$(printf '0:one\n.hidden\nFrom the top\nFix the thing\n\nFrom the department of fixes:\n.\na line with a lone dot above')"
[ "$rc" = 0 ] || diag "$err"
smtpd_stop relay
