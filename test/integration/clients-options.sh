# clients-options.sh - sendmail options that real callers use: -F (the
# display name of the From: dma adds; cron, at, scripts), -bs (an SMTP
# session on stdin/stdout, as Alpine and some MUAs submit), -bi (what
# newaliases does; called by package scripts after editing /etc/aliases).

. "$SRC/test/integration/fixtures/clients-common.sh"

ok "setup: smarthost relay started" relay_start

# -- -F name --------------------------------------------------------------
printf 'x\n' >"$T/x.msg"
printf 'From: Someone <someone@example.org>\nSubject: has from\n\nx\n' >"$T/from.msg"
chmod 0644 "$T/x.msg" "$T/from.msg"

reset_mboxes
capture run_as root sendmail -F 'Jo Q. Public' bob <"$T/x.msg"
is "-F 'Jo Q. Public' as root: exit 0, quiet" "$rc:$out$err" "0:"
ok "-F 'Jo Q. Public': delivered" wait_queue_empty
want_stored root 0 root@testhost <<'EOF'
Date: DATE
Message-Id: <MSGID>
From: "Jo Q. Public" <root@testhost>

x
EOF
check_local "-F 'Jo Q. Public' (quoted: the dot)" "$MAILDIR/bob"

# fromline ARGS... <MSG: the From: lines of the message alice sends to bob
fromline() {
	reset_mboxes
	run_as "$1" sendmail "${@:2}" bob
	wait_queue_empty
	grep '^From:' "$MAILDIR/bob"
}
is "-F Cron" "$(fromline root -F Cron <"$T/x.msg")" 'From: Cron <root@testhost>'
is "-FCron (attached)" "$(fromline root -FCron <"$T/x.msg")" 'From: Cron <root@testhost>'
is "-F 'Cron Daemon' (atoms and a blank)" "$(fromline root -F 'Cron Daemon' <"$T/x.msg")" \
    'From: Cron Daemon <root@testhost>'
is "-F as alice" "$(fromline alice -F 'Alice Liddell' <"$T/x.msg")" \
    'From: Alice Liddell <alice@testhost>'
is "-F with quotes and a backslash" "$(fromline alice -F 'Jo "Q" B\S' <"$T/x.msg")" \
    'From: "Jo \"Q\" B\\S" <alice@testhost>'
is "-F with a comma" "$(fromline alice -F 'Public, Jo' <"$T/x.msg")" \
    'From: "Public, Jo" <alice@testhost>'
is "-F '' (empty): a bare address" "$(fromline alice -F '' <"$T/x.msg")" \
    'From: <alice@testhost>'
is "-F with -f: the -f address" "$(fromline alice -F 'Jo' -f jo@example.org <"$T/x.msg")" \
    'From: Jo <jo@example.org>'
is "-F when the message has a From:: none added" "$(fromline alice -F 'Jo Q. Public' <"$T/from.msg")" \
    'From: Someone <someone@example.org>'

reset_mboxes
capture run_as alice sendmail -F 'Jo Q. Public' carol@example.org <"$T/x.msg"
ok "-F to the smarthost: delivered" wait_queue_empty
want_stored alice 2001 alice@testhost <<'EOF'
Date: DATE
Message-Id: <MSGID>
From: "Jo Q. Public" <alice@testhost>

x
EOF
check_remote "-F to the smarthost" carol@example.org

# -- -bs: an Alpine-like session -------------------------------------------
reset_mboxes
printf 'EHLO x\r\nMAIL FROM:<alice@testhost>\r\nRCPT TO:<bob>\r\nDATA\r\nSubject: s\r\n\r\nhi\r\n..dot\r\n.\r\nQUIT\r\n' >"$T/bs.in"
chmod 0644 "$T/bs.in"
capture run_as alice sendmail -bs <"$T/bs.in"
is "-bs as alice: exit 0, nothing on stderr" "$rc:$err" "0:"
# the code and separator of every reply line, and that each ends in CRLF
codes=$(printf '%s\n' "$out" | cut -c1-4 | tr '\n' ',')
like "-bs: replies 220, EHLO 250 (multi-line), 250, 250, 354, 250, 221" "$codes" \
    '^220 ,(250-,)+250 ,250 ,250 ,354 ,250 ,221 ,$'
is "-bs: every reply line ends with CRLF" "$(printf '%s\n' "$out" | grep -c -v $'\r$')" 0
like "-bs: greeting names the host" "$(printf '%s\n' "$out" | head -n 1)" '^220 testhost[ \r]'
ok "-bs: delivered" wait_queue_empty
want_stored alice 2001 alice@testhost <<'EOF'
Subject: s
Date: DATE
Message-Id: <MSGID>
From: <alice@testhost>

hi
.dot
EOF
check_local "-bs: bob's mbox" "$MAILDIR/bob"

# The same session to a remote recipient via the smarthost.
reset_mboxes
sed 's/<bob>/<carol@example.org>/' "$T/bs.in" >"$T/bs2.in"
chmod 0644 "$T/bs2.in"
capture run_as alice sendmail -bs <"$T/bs2.in"
is "-bs to carol: exit 0, nothing on stderr" "$rc:$err" "0:"
ok "-bs to carol: delivered" wait_queue_empty
check_remote "-bs to carol" carol@example.org

# -- -bi: newaliases ----------------------------------------------------------
printf 'x\n' >"$T/bi.msg"
chmod 0644 "$T/bi.msg"
reset_mboxes
printf 'postmaster: root\nstaff: alice, bob\n' | aliases_file
capture run_as alice sendmail -bi <"$T/bi.msg"
is "-bi, good aliases: exit 0, quiet" "$rc:$out$err" "0:"
capture run_as root sendmail -bi bob <"$T/bi.msg"
is "-bi with an operand, good aliases: exit 0, quiet" "$rc:$out$err" "0:"
capture run_as root newaliases
is "newaliases, good aliases: exit 0, quiet" "$rc:$out$err" "0:"
capture run_as root "$DMA" -bi
is "dma -bi, good aliases: exit 0, quiet" "$rc:$out$err" "0:"

printf 'postmaster: root\n# comment\nstaff alice, bob\nok: root\n' | aliases_file
capture run_as alice sendmail -bi <"$T/bi.msg"
is "-bi, syntax error on line 3: exit 70" "$rc" 70
is "-bi, syntax error on line 3: the message" "$err" "sendmail: aliases line 3: syntax error"
capture run_as root newaliases
is "newaliases, syntax error on line 3: exit 70 and the message" "$rc:$err" \
    "70:newaliases: aliases line 3: syntax error"
printf 'postmaster: root\n\nstaff: alice,\n  bob\nbroken\n' | aliases_file
capture run_as root sendmail -bi
is "-bi, error on line 5 after a continuation line" "$rc:$err" \
    "70:sendmail: aliases line 5: syntax error"

# ALIASES in dma.conf is what -bi checks; a missing file is fine.
{ smtpd_conf relay; } >/dev/null
printf 'ALIASES /etc/dma/aliases.local\n' >>/etc/dma/dma.conf
capture run_as root sendmail -bi
is "-bi with ALIASES naming a missing file: exit 0" "$rc:$out$err" "0:"
printf 'bad line\n' >/etc/dma/aliases.local
chmod 0644 /etc/dma/aliases.local
capture run_as root sendmail -bi
is "-bi checks the ALIASES file of dma.conf" "$rc:$err" "70:sendmail: aliases line 1: syntax error"
rm -f /etc/dma/aliases.local
smtpd_conf relay

is "-bi submitted nothing: the queue is empty" "$(spool_rest)" ""
is "-bi submitted nothing: no mailbox" "$(ls -A "$MAILDIR")" ""
is "-bi submitted nothing: the relay got nothing more" "$(smtpd_messages relay)" 2
smtpd_stop relay
