# local-forward.sh - DOTFORWARD: ~/.forward, written by the users
# themselves, read by dma-forward as that user.  Forwarding to a remote
# address (the lab smarthost receives it), to another local user, "\self"
# plus a copy elsewhere, from -t headers; "|cmd", "/file" and ":include:"
# entries refused and logged (nothing is run or written); group-writable,
# symlinked, foreign-owned, huge files and a world-writable home ignored
# with a log line (plain delivery); a forwarding loop refused like an
# alias loop; a helper that can not run, crashes, fails or answers
# nonsense means plain delivery; the helper's exact output; DOTFORWARD
# off ignores .forward; with LOCALONLY a remote target is bounced.

smtpd_start relay || exit 1
smtpd_conf relay DOTFORWARD

HA=$T/home/alice
HB=$T/home/bob
HOMEMODE=$(stat -c %a "$HA")

# setfwd USER TEXT: USER writes TEXT (printf %b) to ~/.forward, mode 0644
setfwd() {
	printf '%b' "$2" | run_as "$1" sh -c 'umask 022; rm -f "$HOME/.forward"; cat >"$HOME/.forward"'
}

# send DESC RCPT...: message from root, delivered in the foreground
send() {
	local desc=$1
	shift
	capture sh -c "printf 'Subject: $desc\n\nbody $desc\n' | $DMA -D $*"
}

# counts: "alice bob" message counts
counts() {
	echo "$(count_msgs /var/mail/alice) $(count_msgs /var/mail/bob)"
}

reset_mail() {
	rm -f /var/mail/alice /var/mail/bob
}

# relayed DESC: the relay's newest message is this one; prints its RCPTs
relayed() {
	local j
	j=$(smtpd_last_json relay)
	[ -n "$j" ] && grep -q "body $1" "$(smtpd_last_msg relay)" &&
	    smtpd_json "$j" 'j["rcpt_tos"]'
}

# -- 1. to a remote address: the smarthost gets it, alice nothing -------------
setfwd alice 'carol@remote.example\n'
syslog_mark
send remote alice
is "remote: exit 0" "$rc:$out$err" "0:"
ok "remote: delivered" wait_queue_empty
is "remote: the smarthost got it for carol" "$(relayed remote)" "carol@remote.example"
is "remote: no local copy" "$(counts)" "0 0"
ok "remote: logged" logged '^mail\.info dma\[[0-9]+\]: [0-9a-f.]+: ~alice/\.forward: forwarding to <carol@remote\.example>$'

# -- 2. to another local user -------------------------------------------------
setfwd alice '# to bob\nbob\n'
send local alice
ok "local: delivered" wait_queue_empty
is "local: bob has it, alice not" "$(counts)" "0 1"
ok "local: bob's copy is this message" grep -q '^body local$' /var/mail/bob
reset_mail

# -- 3. \self and a copy elsewhere ---------------------------------------------
setfwd alice '\\alice, carol@remote.example\n'
send self alice
ok "self: delivered" wait_queue_empty
is "self: alice keeps a copy" "$(counts)" "1 0"
is "self: and the smarthost got one" "$(relayed self)" "carol@remote.example"
reset_mail

# -- 4. -t: the recipients of the headers are forwarded too -----------------
setfwd alice 'bob\n'
capture sh -c "printf 'To: alice\nSubject: t\n\nbody dash-t\n' | $DMA -D -t"
ok "-t: delivered" wait_queue_empty
is "-t: forwarded to bob" "$(counts)" "0 1"
reset_mail
printf 'To: alice\nSubject: t\n\nbody dash-t-user\n' | send_as bob -t
ok "-t by an ordinary user: delivered" wait_queue_empty
is "-t by an ordinary user: forwarded to bob" "$(counts)" "0 1"
reset_mail

# -- 4b. -bs: RCPT TO is forwarded the same way ------------------------------
capture sh -c "printf 'HELO x\r\nMAIL FROM:<bob>\r\nRCPT TO:<alice>\r\nDATA\r\nSubject: bs\r\n\r\nbody bs\r\n.\r\nQUIT\r\n' | setpriv --reuid=bob --regid=bob --init-groups $DMA -bs"
like "-bs: accepted" "$(printf '%s\n' "$out" | tr -d '\r')" '^250 2\.0\.0 '
ok "-bs: delivered" wait_queue_empty
is "-bs: forwarded to bob" "$(counts)" "0 1"
ok "-bs: bob's copy is this message" grep -q '^body bs$' /var/mail/bob
reset_mail

# -- 5. programs, files, :include: refused; nothing run or written ------------
rm -f /tmp/fwd-pipe /tmp/fwd-qpipe /tmp/fwd-file
printf 'bob\n' >/tmp/fwd-inc
setfwd alice '|/usr/bin/touch /tmp/fwd-pipe\n"|/usr/bin/touch /tmp/fwd-qpipe"\n/tmp/fwd-file\n:include:/tmp/fwd-inc\n'
syslog_mark
send program alice
ok "refused entries: delivered" wait_queue_empty
is "refused entries only: plain delivery to alice" "$(counts)" "1 0"
ok "no program was run" test ! -e /tmp/fwd-pipe
ok "no quoted program was run" test ! -e /tmp/fwd-qpipe
ok "no file was written" test ! -e /tmp/fwd-file
ok "program: logged" logged "^mail\.warning dma\[[0-9]+\]: [0-9a-f.]+: ~alice/\.forward: entry refused: \`\|/usr/bin/touch /tmp/fwd-pipe': delivery to a program is not supported$"
ok "quoted program: logged" logged "^mail\.warning dma\[[0-9]+\]: [0-9a-f.]+: ~alice/\.forward: entry refused: \`\"\|/usr/bin/touch /tmp/fwd-qpipe\"': delivery to a program is not supported$"
ok "file: logged" logged "^mail\.warning dma\[[0-9]+\]: [0-9a-f.]+: ~alice/\.forward: entry refused: \`/tmp/fwd-file': delivery to a file is not supported$"
ok "include: logged" logged "^mail\.warning dma\[[0-9]+\]: [0-9a-f.]+: ~alice/\.forward: entry refused: \`:include:/tmp/fwd-inc': include files are not supported$"
reset_mail
setfwd alice '|/usr/bin/touch /tmp/fwd-pipe, bob, not an address\n'
syslog_mark
send mixed alice
ok "refused among usable ones: delivered" wait_queue_empty
is "refused among usable ones: the usable one is used" "$(counts)" "0 1"
ok "a program between addresses is not run either" test ! -e /tmp/fwd-pipe
ok "an invalid address: logged" logged "^mail\.warning dma\[[0-9]+\]: [0-9a-f.]+: ~alice/\.forward: entry refused: invalid recipient \`alice': invalid alias target \`not an address'$"
reset_mail

# -- 6. unsafe files: plain delivery and a log line --------------------------
# unsafe_case DESC REASON-ERE: a message to alice stays with alice
unsafe_case() {
	syslog_mark
	send "$1" alice
	ok "$1: delivered" wait_queue_empty
	is "$1: plain delivery to alice" "$(counts)" "1 0"
	ok "$1: logged" logged "^mail\.warning dma\[[0-9]+\]: [0-9a-f.]+: ~alice/\.forward ignored \(plain delivery\): $2$"
	reset_mail
}
setfwd alice 'bob\n'
chmod 0664 "$HA/.forward"
unsafe_case "group-writable" "group or world writable"
chmod 0646 "$HA/.forward"
unsafe_case "world-writable" "group or world writable"

printf 'bob\n' >"$HB/fwd-target"
chown bob: "$HB/fwd-target"
run_as alice sh -c 'rm -f "$HOME/.forward"; ln -s '"$HB/fwd-target"' "$HOME/.forward"'
unsafe_case "symlink" "is a symbolic link"

setfwd alice 'bob\n'
chown bob: "$HA/.forward"
unsafe_case "owned by bob" "owned by another user"

setfwd alice 'bob\n'
chmod 1777 "$HA"
unsafe_case "sticky world-writable home" "home directory group or world writable"
chmod 0775 "$HA"
unsafe_case "group-writable home" "home directory group or world writable"
chmod "$HOMEMODE" "$HA"

head -c 70000 /dev/zero | tr '\0' 'x' | run_as alice sh -c 'cat >"$HOME/.forward"'
unsafe_case "huge" "larger than 65536 bytes"

run_as alice sh -c 'rm -f "$HOME/.forward"; mkfifo "$HOME/.forward"'
unsafe_case "fifo" "not a regular file"

# -- 7. a root-owned .forward is accepted --------------------------------------
run_as alice sh -c 'rm -f "$HOME/.forward"'
printf 'bob\n' >"$HA/.forward"
chmod 0644 "$HA/.forward"
send root-owned alice
ok "root-owned: delivered" wait_queue_empty
is "root-owned: forwarded to bob" "$(counts)" "0 1"
reset_mail

# -- 8. a loop: refused like an alias loop -------------------------------------
rm -f "$HA/.forward"
setfwd alice 'bob\n'
setfwd bob 'alice\n'
send loop alice
is "loop: exit 65" "$rc" 65
like "loop: the reason" "$err" 'forwarding loop: alice -> bob -> alice'
is "loop: nothing queued" "$(spool_rest)" ""
setfwd bob '\\bob, alice\n'
send "self-loop" alice
is "bob keeps a copy and forwards to alice, who forwards to bob: still a loop" "$rc" 65
setfwd alice 'alice, bob\n'
setfwd bob 'bob\n'
send "own name" alice
ok "own name without backslash: delivered" wait_queue_empty
is "own name without backslash: like an alias of itself, no loop" "$(counts)" "1 1"
reset_mail
rm -f "$HB/.forward"

# -- 9. the helper can not run: plain delivery and a log line ---------------
setfwd alice 'bob\n'
chmod 0700 "$LIBEXEC/dma-forward"
syslog_mark
printf 'Subject: x\n\nbody nohelper\n' | send_as bob alice
ok "no helper: delivered" wait_queue_empty
is "no helper: plain delivery to alice" "$(counts)" "1 0"
ok "no helper: logged" logged "^mail\.warning dma\[[0-9]+\]: [0-9a-f.]+: ~alice/\.forward ignored \(plain delivery\): $LIBEXEC/dma-forward failed"
chmod 4754 "$LIBEXEC/dma-forward"
reset_mail

# fake_helper DESC SCRIPT-BODY REASON-ERE: a stand-in helper; plain delivery
fake_helper() {
	printf '#!/bin/sh\n%s\n' "$2" >"$LIBEXEC/dma-forward"
	syslog_mark
	printf 'Subject: x\n\nbody %s\n' "$1" | send_as bob alice
	ok "$1: delivered" wait_queue_empty
	is "$1: plain delivery to alice" "$(counts)" "1 0"
	ok "$1: logged" logged "^mail\.warning dma\[[0-9]+\]: [0-9a-f.]+: ~alice/\.forward ignored \(plain delivery\): $3$"
	reset_mail
}
cp -a "$LIBEXEC/dma-forward" "$T/dma-forward.orig"
fake_helper "helper crash" 'echo "forward bob"; kill -SEGV $$' \
    "$LIBEXEC/dma-forward killed by signal 11"
fake_helper "helper garbage" 'echo "deliver everything to mallory"' "line 1 malformed"
fake_helper "helper unterminated" 'printf "forward bob"' "line 1 not terminated"
fake_helper "helper exit 75" 'echo "forward bob"; exit 75' \
    "$LIBEXEC/dma-forward failed \(exit status 75\)"
cp -a "$T/dma-forward.orig" "$LIBEXEC/dma-forward"
is_mode "the real helper is back" "$LIBEXEC/dma-forward" 4754

# -- 10. only dma may run the helper -----------------------------------------
capture run_as bob "$LIBEXEC/dma-forward" alice
ok "an ordinary user can not run dma-forward" test "$rc" != 0
is "and gets nothing from alice's .forward" "$out" ""

# -- 11. the helper's own answer, run by root ---------------------------------
setfwd alice '  # a comment\n"\\alice", bob ,"john, doe"@example.org\r\n\n  carol@remote.example\n"/tmp/x"\n:INCLUDE:/etc/passwd\nbad\001entry\n\\\n"\\"\n'
capture "$LIBEXEC/dma-forward" alice
is "helper: exit 0" "$rc" 0
is "helper: the entries, one per line" "$out" 'local alice
forward bob
forward "john, doe"@example.org
forward carol@remote.example
refused `"/tmp/x"'"'"': delivery to a file is not supported
refused `:INCLUDE:/etc/passwd'"'"': include files are not supported
refused entry with a control character
refused `\'"'"': no user name after the backslash
refused `"\"'"'"': no user name after the backslash'
run_as alice sh -c 'rm -f "$HOME/.forward"'
capture "$LIBEXEC/dma-forward" alice
is "helper: no .forward, no output" "$rc:$out" "0:"
capture "$LIBEXEC/dma-forward" nosuchuser
is "helper: no such user: exit 67" "$rc:$out" "67:"
capture "$LIBEXEC/dma-forward" -x
is "helper: a bad name: exit 65" "$rc:$out" "65:"
ok "helper: its refusals are logged" syslog_has '^mail\.err dma\[[0-9]+\]: dma-forward: cannot find user `nosuchuser'"'"'$'

# -- 12. LOCALONLY: a remote .forward target is bounced like an alias's -------
smtpd_conf relay DOTFORWARD LOCALONLY
setfwd alice 'carol@remote.example\n'
sessions=$(smtpd_sessions relay)
capture sh -c "printf 'Subject: lo\n\nbody localonly\n' | setpriv --reuid=bob --regid=bob --init-groups $DMA alice"
is "LOCALONLY: accepted (the remote address came from a .forward)" "$rc" 0
ok "LOCALONLY: the sender gets a bounce" wait_until 20 grep -q 'LOCALONLY' /var/mail/bob
ok "LOCALONLY: it names the forwarded address" grep -q 'carol@remote.example' /var/mail/bob
ok "LOCALONLY: nothing left queued" wait_queue_empty 30
is "LOCALONLY: no connection to the relay" "$(smtpd_sessions relay)" "$sessions"
reset_mail

# -- 13. DOTFORWARD off: .forward is not read ---------------------------------
smtpd_conf relay
syslog_mark
send off alice
ok "off: delivered" wait_queue_empty
is "off: plain delivery" "$(counts)" "1 0"
not_ok "off: nothing about .forward logged" logged 'forward'
reset_mail

smtpd_stop relay
