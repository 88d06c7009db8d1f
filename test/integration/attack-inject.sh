# attack-inject.sh - an ordinary user tries to inject queue-file lines,
# header lines or log lines through every envelope input: recipients,
# -f, -F, -L, $EMAIL and To: under -t, with CR, LF and other control
# bytes.  Each attempt is refused (exit 65, one clean line of error,
# nothing queued) or, where the input is not part of the envelope (-F, -L,
# headers under -t), sanitised: the Q file keeps exactly its four lines
# and the stored message gets no injected header line.  Bob's message
# queued before stays intact and is delivered at the end.

. "$SRC/test/integration/fixtures/attack-common.sh"

ok "setup: syslog tap in front of /dev/log" syslog_tap_start
echo DEFER | dma_conf
victim_queue
ok "setup: bob's victim message is queued" test -n "$VICTIM_Q"

# refused DESC CMD...: exit 65, one error line without control bytes
# naming the problem, nothing queued, no temp file left.
refused() {
	local desc=$1
	shift
	capture "$@"
	is "$desc: exit 65" "$rc" 65
	is "$desc: nothing on stdout" "$out" ""
	printf '%s\n' "$err" >"$T/err.txt"
	like "$desc: a clear error on stderr" "$err" '^(dma|sendmail): .*(invalid|control|refus|illegal|bad)'
	is "$desc: the error is one line" "$(wc -l <"$T/err.txt")" 1
	not_ok "$desc: no control bytes in the error" has_ctl "$T/err.txt"
	only_victim_queued "$desc: nothing queued, no temp file"
	drop_new_entries
}

# -- recipients on the command line ---------------------------------------
refused "recipient with LF + Recipient: line" \
    run_as alice "$DMA" $'bob\nRecipient: root' <"$T/victim.msg"
refused "recipient with LF + ID: line (remote)" \
    run_as alice "$DMA" $'x@example.org\nID: 1.1' <"$T/victim.msg"
refused "recipient with CR" \
    run_as alice "$DMA" $'bob\r' <"$T/victim.msg"
refused "remote recipient with CR + SMTP command" \
    run_as alice "$DMA" $'x@example.org>\rRCPT TO:<evil@example.org' <"$T/victim.msg"
refused "recipient with a \\x01 byte" \
    run_as alice "$DMA" $'bob\x01' <"$T/victim.msg"
refused "recipient with ESC" \
    run_as alice "$DMA" $'x\e[2J@example.org' <"$T/victim.msg"
refused "second of two recipients with LF" \
    run_as alice "$DMA" bob $'alice\nRecipient: root' <"$T/victim.msg"
refused "comma list, one part with LF" \
    run_as alice "$DMA" $'bob,x\n@example.org' <"$T/victim.msg"

# Overlong: refused as a whole, never cut to fit.
long=$(printf '%05000d' 0 | tr 0 a)
refused "recipient of 5000 bytes" \
    run_as alice "$DMA" "$long@example.org" <"$T/victim.msg"

# -- envelope sender: -f, -r, $EMAIL ---------------------------------------
refused "-f with LF + Recipient: line" \
    run_as alice "$DMA" -f $'a@example.org\nRecipient: root' bob <"$T/victim.msg"
refused "-f with CR" \
    run_as alice "$DMA" -f $'a@example.org\r' bob <"$T/victim.msg"
refused "-f with a \\x01 byte" \
    run_as alice "$DMA" -f $'a\x01@example.org' bob <"$T/victim.msg"
refused "-r with LF" \
    run_as alice "$DMA" -r $'a\nSender: root' bob <"$T/victim.msg"
refused "-f of 5000 bytes" \
    run_as alice "$DMA" -f "$long@example.org" bob <"$T/victim.msg"
refused "EMAIL with LF + Recipient: line" \
    run_as alice env EMAIL=$'a\nRecipient: x' "$DMA" bob <"$T/victim.msg"
refused "EMAIL with CR" \
    run_as alice env EMAIL=$'a@example.org\rX' "$DMA" bob <"$T/victim.msg"
refused "EMAIL with a \\x01 byte" \
    run_as alice env EMAIL=$'a\x01b@example.org' "$DMA" bob <"$T/victim.msg"

# -- -F: the display name of the added From: --------------------------------
# sanitised DESC RCPT_ERE CMD...: accepted (exit 0) with well-formed queue
# entries, or refused like above.  Leaves the new entries for inspection.
sanitised() {
	local desc=$1 want=$2 q
	shift 2
	capture "$@"
	if [ "$rc" != 0 ]; then
		diag "$desc: refused (exit $rc): $err"
		is "$desc: refused with exit 65" "$rc" 65
		only_victim_queued "$desc: nothing queued"
		NEW=""
		return
	fi
	is "$desc: accepted quietly" "$out$err" ""
	NEW=$(new_qfiles)
	ok "$desc: queued" test -n "$NEW"
	for q in $NEW; do
		ok "$desc: $q has exactly Version/ID/Sender/Recipient" entry_shape_ok "$q" "$want"
	done
}

# header_names M: the names of the header fields of the stored message
# (continuation lines skipped), one per line.
header_names() {
	sed -n '/^$/q; /^[^ \t]/s/:.*//p' "$1"
}

# stored_ok DESC: the new entries' message has one From: header, no
# injected fields and no control byte in its header.
stored_ok() {
	local q m
	for q in $NEW; do
		m=$SPOOL/M${q#Q}
		sed '/^$/q' "$m" >"$T/hdr"
		unlike "$1: no injected Bcc:/X-Injected:/Recipient: header" \
		    "$(cat "$T/hdr")" '^(Bcc|X-Injected|Recipient|Subject: evil)'
		is "$1: exactly one From: header" "$(header_names "$m" | grep -c '^From$')" 1
		not_ok "$1: no control bytes in the stored header" has_ctl "$T/hdr"
	done
}

sanitised "-F with LF + Bcc:" '^bob$' \
    run_as alice "$DMA" -F $'x\nBcc: evil@example.org' bob <"$T/victim.msg"
stored_ok "-F with LF + Bcc:"
drop_new_entries
# Without a header in the message, dma adds From: with the -F name.
printf 'just a body line\n' >"$T/body.msg"
chmod 0644 "$T/body.msg"
sanitised "-F with CRLF + X-Injected: (From: added)" '^bob$' \
    run_as alice "$DMA" -F $'Eve\r\nX-Injected: yes\r\n' bob <"$T/body.msg"
stored_ok "-F with CRLF + X-Injected: (From: added)"
if [ -n "$NEW" ]; then
	q=$(printf '%s\n' "$NEW" | head -n 1)
	like "-F with CRLF: the From: line is one line with alice's address" \
	    "$(grep '^From:' "$SPOOL/M${q#Q}")" '^From: .*<alice@testhost>$'
fi
drop_new_entries
sanitised "-F with a lone LF and a blank line (header end)" '^bob$' \
    run_as alice "$DMA" -F $'x\n\nSubject: evil' bob <"$T/body.msg"
stored_ok "-F with a lone LF and a blank line (header end)"
drop_new_entries
sanitised "-F with \\x01 and ESC" '^bob$' \
    run_as alice "$DMA" -F $'a\x01b\e[31m' bob <"$T/body.msg"
stored_ok "-F with \\x01 and ESC"
drop_new_entries

# -- -L: the syslog tag ------------------------------------------------------
sanitised "-L with LF and a fake record" '^bob$' \
    run_as alice "$DMA" -L $'x\nmail.crit evil: FAKE' bob <"$T/body.msg"
drop_new_entries
sanitised "-L with CR and ESC" '^bob$' \
    run_as alice "$DMA" -L $'y\r\e[2Jevil FAKE2' bob <"$T/body.msg"
drop_new_entries
syslog_sync
grep -v libsync "$T/syslog" >"$T/syslog.copy"
not_ok "-L: no raw control bytes in the log" has_ctl "$T/syslog.copy"
tags=$(sed -n 's/^[a-z]*\.[a-z]* \(.*\)\[[0-9]*\]: [0-9a-f]*: new mail from user=alice .*/\1/p' "$T/syslog.copy")
diag "syslog tags: $tags"
like "-L: the tags were logged" "$tags" 'FAKE'
unlike "-L: no log record has a tag with blanks" "$tags" '[[:space:]]'
unlike "-L: the fake record text is not a record of its own" \
    "$(cat "$T/syslog.copy")" '(^|\\n)mail\.crit evil'

# -- To: under -t ------------------------------------------------------------
printf 'To: bob\001evil\nSubject: t\n\nbody\n' >"$T/t1.msg"
printf 'To: bob, "x\001y"@example.org\nSubject: t\n\nbody\n' >"$T/t2.msg"
printf 'To: bob\rRecipient: root\nSubject: t\n\nbody\n' >"$T/t3.msg"
printf 'To: bob\000Recipient: root\nSubject: t\n\nbody\n' >"$T/t4.msg"
printf 'To: <bob\rRecipient: root>\nSubject: t\n\nbody\n' >"$T/t5.msg"
chmod 0644 "$T"/t?.msg
# The message is the user's own: only the envelope matters here.
for n in 1 2 3 4 5; do
	case $n in
	1) d='To: with a \x01 byte' ;;
	2) d='To: with a \x01 byte in a quoted local part' ;;
	3) d='To: with a bare CR + Recipient:' ;;
	4) d='To: with a NUL byte + Recipient:' ;;
	5) d='To: with a CR inside <>' ;;
	esac
	sanitised "-t, $d" '^bob$' run_as alice "$DMA" -t <"$T/t$n.msg"
	drop_new_entries
done

syslog_no_ctl "no log record had a raw control byte (LF included)"

# -- nothing was lost --------------------------------------------------------
victim_intact "victim: bob's queued message is unchanged"
only_victim_queued "victim: only bob's message is queued"
victim_deliver </dev/null
