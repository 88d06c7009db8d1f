# local-args.sh - command-line errors and refused input: exact stderr texts
# and exit codes (sysexits), and nothing left in the spool afterwards.

# spool_clean: the spool holds nothing but possibly the flush file
spool_clean() {
	[ -z "$(ls -A "$SPOOL" | grep -Ev '^(flush|J.*)$')" ]
}

# expect DESC RC STDERR CMD...: exact exit status and stderr, no stdout,
# nothing queued.
expect() {
	local desc=$1 wrc=$2 werr=$3
	shift 3
	capture "$@" </dev/null
	is "$desc: exit $wrc" "$rc" "$wrc"
	is "$desc: stderr" "$err" "$werr"
	is "$desc: no stdout" "$out" ""
	ok "$desc: nothing queued" spool_clean
}

# -- 1. options ----------------------------------------------------------------
# A command-line error names the problem, then the one-line synopsis.
usage() {
	printf 'usage: %s [-DiqtUnv] [-A mode] [-b mode] [-f sender] [-F name]' "$1"
	printf ' [-L tag] [-o option] [-r sender] [--] [recipient ...]'
}
U=$(usage dma)
expect "unknown option -Z" 64 "dma: invalid option -- 'Z'"$'\n'"$U" run_dma -Z bob
expect "unknown option via sendmail" 64 \
    "sendmail: invalid option -- 'Z'"$'\n'"$(usage sendmail)" /usr/sbin/sendmail -Z bob
expect "unknown option, a control byte" 64 \
    "dma: invalid option -- '\\x01'"$'\n'"$U" run_dma $'-\001' bob
expect "missing argument of -f" 64 "dma: option requires an argument -- 'f'"$'\n'"$U" \
    run_dma bob -f
expect "bare -O needs an argument" 64 "dma: option requires an argument -- 'O'"$'\n'"$U" \
    run_dma -O
expect "unknown -b mode" 64 "dma: unsupported mode -bz"$'\n'"$U" run_dma -bz
expect "-bp with an operand" 64 \
    "dma: sending mail and queue operations are mutually exclusive"$'\n'"$U" run_dma -bp bob
expect "-q with an operand" 64 \
    "dma: sending mail and queue operations are mutually exclusive"$'\n'"$U" run_dma -q -D bob
expect "-bp with -q" 64 "dma: conflicting queue operations"$'\n'"$U" run_dma -bp -q
expect "-bs with a recipient" 64 "dma: -bs takes no recipients"$'\n'"$U" run_dma -bs bob
expect "mailq with an argument" 64 "mailq: invalid arguments"$'\n'"usage: mailq [-v]" mailq x
expect "mailq with an option other than -v" 64 "mailq: invalid arguments"$'\n'"usage: mailq [-v]" mailq -x
syslog_mark
run_dma -Z bob 2>/dev/null </dev/null
not_ok "usage errors are not logged" logged 'invalid option'

# -bV: the version and the compiled-in paths, exit 0, whoever asks
for who in root alice; do
	capture run_as $who "$DMA" -bV </dev/null
	is "-bV as $who: exit 0" "$rc" 0
	is "-bV as $who: no stderr" "$err" ""
	is "-bV as $who: version and paths" "$out" "DragonFly Mail Agent $DMA_VERSION
configuration: /etc/dma/dma.conf
spool directory: $SPOOL
mail directory: $MAILDIR
mbox helper: $MBOXCREATE
forward helper: $LIBEXEC/dma-forward"
done
capture run_dma -bV </dev/null
ok "-bV: the mbox helper it names exists" test -x "$(sed -n 's/^mbox helper: //p' <<<"$out")"
ok "-bV: nothing queued" spool_clean

# -- 2. recipients ---------------------------------------------------------
expect "no recipients" 66 "dma: no recipients from command line" run_dma
expect "no recipients (as a user)" 66 "dma: no recipients from command line" \
    run_as alice "$DMA"
expect "no recipients via sendmail" 66 "sendmail: no recipients from command line" \
    /usr/sbin/sendmail
expect "unknown local user" 65 "dma: invalid recipient \`nosuchuser'" \
    run_dma nosuchuser
expect "unknown local user via sendmail, as a user" 65 \
    "sendmail: invalid recipient \`nosuchuser'" run_as alice /usr/sbin/sendmail bob nosuchuser
expect "unknown user at a local domain" 65 "dma: invalid recipient \`nosuchuser@$HOST'" \
    run_dma "nosuchuser@$HOST"
capture sh -c "printf 'Subject: t\n\nx\n' | $DMA -t"
is "-t without To/Cc/Bcc: exit 66" "$rc" 66
is "-t without To/Cc/Bcc: stderr" "$err" "dma: no recipients from headers"
ok "-t without recipients: nothing queued" spool_clean

# -- 3. injection attempts are refused, nothing queued ------------------------
inj=$'a@b\nRecipient: ../../tmp/x'
capture run_as alice "$DMA" "$inj" </dev/null
is "recipient with LF: exit 65" "$rc" 65
like "recipient with LF: error names the recipient" "$err" '^dma: invalid recipient'
ok "recipient with LF: nothing queued" spool_clean
ok "recipient with LF: no file created" test ! -e /tmp/x
capture run_as alice "$DMA" $'bob\r' </dev/null
is "recipient with CR: exit 65" "$rc" 65
like "recipient with CR: error" "$err" '^dma: invalid recipient'
ok "recipient with CR: nothing queued" spool_clean
capture run_as alice "$DMA" '../../etc/passwd' </dev/null
is "recipient with a path: exit 65" "$rc" 65
like "recipient with a path: error" "$err" '^dma: invalid recipient'
ok "recipient with a path: nothing queued" spool_clean

capture sh -c "echo x | $DMA -f \"\$(printf 'x\ny')\" bob"
ok "sender with LF: refused (non-zero exit)" test "$rc" -ne 0
is "sender with LF: exit 65" "$rc" 65
like "sender with LF: the error is about the sender" "$err" '^dma: invalid sender address'
ok "sender with LF: nothing queued" spool_clean
capture sh -c "echo x | $DMA -f \"\$(printf 'x\rRCPT TO:<y@z>')\" bob"
is "sender with CR: exit 65" "$rc" 65
like "sender with CR: error" "$err" '^dma: invalid sender address'
ok "sender with CR: nothing queued" spool_clean
capture sh -c "echo x | env EMAIL=\"\$(printf 'e@x\nRecipient: root')\" $DMA bob"
ok "EMAIL with LF: refused (non-zero exit)" test "$rc" -ne 0
ok "EMAIL with LF: nothing queued" spool_clean

# A quoted local part folded over two lines must not become two Q lines.
printf 'To: bob, "a\n Recipient: root"@x\n\nbody\n' >msg.fold
capture sh -c "$DMA -bq -t <msg.fold"
diag "folded quoted recipient: exit $rc, stderr: $err"
qf_ok=1
for q in $(qfiles); do
	[ "$(wc -l <"$SPOOL/$q")" = 4 ] || qf_ok=0
	[ "$(grep -c '^Recipient:' "$SPOOL/$q")" = 1 ] || qf_ok=0
	grep -q '^Recipient: root$' "$SPOOL/$q" && qf_ok=0
	# nor a line of the envelope trailer of the message file
	grep -q '^Recipient: root$' "$SPOOL/M${q#Q}" && qf_ok=0
done
is "folded quoted recipient: every Q file has exactly 4 lines, its trailer no injected one" "$qf_ok" 1
rm -f "$SPOOL"/Q* "$SPOOL"/M*

# -- 4. what is accepted -----------------------------------------------------
capture sh -c "echo x | $DMA -D -oi -odb -v -n -U -O foo=bar -B 8BITMIME -F 'Bob B' -L tag bob"
is "ignored sendmail options accepted: exit 0" "$rc" 0
ok "ignored options: delivered" wait_queue_empty
is "ignored options: bob got the message" "$(count_msgs /var/mail/bob)" 1
ok "-L sets the syslog tag" syslog_has '^mail\.[a-z]+ tag\[[0-9]+\]: '

capture sh -c "echo x | $DMA -D bob -f sender@example.org"
is "options after operands are parsed: exit 0" "$rc" 0
ok "options after operands: delivered" wait_queue_empty
like "-f after the operand sets the sender" "$(grep '^From ' /var/mail/bob | tail -n 1)" \
    '^From sender@example\.org '

: >/var/mail/bob
printf 'To: Bob <bob@localhost>, alice\nCc: root\nBcc: alice,\n  root\nSubject: t\n\nbody\n' >msg.t
capture sh -c "$DMA -D -t <msg.t"
is "-t: exit 0" "$rc" 0
ok "-t: delivered" wait_queue_empty
is "-t: bob got one copy" "$(count_msgs /var/mail/bob)" 1
is "-t: alice got one copy (To and Bcc)" "$(count_msgs /var/mail/alice)" 1
is "-t: root got one copy (Cc and Bcc)" "$(count_msgs /var/mail/root)" 1
unlike "-t: Bcc header removed" "$(cat /var/mail/bob)" '^(Bcc:|  root)'
like "-t: To header kept" "$(cat /var/mail/bob)" '^To: Bob <bob@localhost>, alice$'
ok "everything delivered, spool clean" spool_clean

# -- the -bp listing is the one dma.8 shows, byte for byte ---------------------
capture sh -c "echo x | $DMA -bq bob"
is "-bq: exit 0" "$rc" 0
capture run_dma -bp
is "-bp: exit 0" "$rc" 0
page=$(sed -n '/^\.Sh QUEUE LISTING/,/^\.Ed/p' "$SRC/dma.8.in" | sed -n '/^\.Bd/,/^\.Ed/p' | grep -v '^\.')
got=$(sed -e 's/^\(ID\t: \).*/\1queue id/' -e 's/^\(From\t: \).*/\1sender/' \
    -e 's/^\(To\t: \).*/\1recipient/' <<<"$out")
is "-bp: the listing of dma.8 (QUEUE LISTING), tabs included" "$got" "$page"
rm -f "$SPOOL"/Q* "$SPOOL"/M*
