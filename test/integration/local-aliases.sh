# local-aliases.sh - /etc/aliases: nested expansion, continuation lines,
# the "*" catch-all, a file without final newline, loops, unknown targets,
# and newaliases (exit status, syntax errors with the real line number).

# send DESC RCPT...: message from alice, delivered in the foreground
send() {
	local desc=$1
	shift
	capture run_as alice sh -c "printf 'Subject: $desc\n\nx\n' | $DMA -D $*"
}

# counts: "alice bob root" message counts
counts() {
	echo "$(count_msgs /var/mail/alice) $(count_msgs /var/mail/bob) $(count_msgs /var/mail/root)"
}

reset_mail() {
	rm -f /var/mail/alice /var/mail/bob /var/mail/root
}

# -- 1. nested aliases, continuation, comments, dedup -------------------------
aliases_file <<'EOF'
# team aliases

staff: team, root	# the boss too
team: alice,
	bob
postmaster: root
EOF
send nested staff
is "nested alias: exit 0" "$rc" 0
is "nested alias: no output" "$out$err" ""
ok "nested alias: delivered" wait_queue_empty
is "nested alias: alice, bob and root get one copy each" "$(counts)" "1 1 1"
ok "nested alias: the alias name itself gets nothing" test ! -e /var/mail/staff
ok "nested alias: nor the inner alias name" test ! -e /var/mail/team
reset_mail
send dedup alice staff bob
ok "overlapping recipients: delivered" wait_queue_empty
is "overlapping recipients: one copy each" "$(counts)" "1 1 1"
reset_mail
send domain "postmaster@$HOST"
ok "alias at the local domain: delivered" wait_queue_empty
is "alias at the local domain: expanded" "$(counts)" "0 0 1"
reset_mail

# -- 2. the catch-all -------------------------------------------------------
aliases_file <<'EOF'
root: bob
*: alice
EOF
send catchall whoever
is "catch-all: unknown name accepted (exit 0)" "$rc" 0
ok "catch-all: delivered" wait_queue_empty
is "catch-all: delivered to alice" "$(counts)" "1 0 0"
reset_mail
send catchall2 root
ok "catch-all does not override an alias" wait_queue_empty
is "an alias beats the catch-all" "$(counts)" "0 1 0"
reset_mail

# -- 3. no final newline ------------------------------------------------------
printf 'al: bob,root' | aliases_file
send nonl al
is "aliases without final newline: exit 0" "$rc" 0
is "aliases without final newline: no error" "$err" ""
ok "aliases without final newline: delivered" wait_queue_empty
is "aliases without final newline: last entry complete" "$(counts)" "0 1 1"
reset_mail
capture newaliases
is "newaliases, no final newline: exit 0" "$rc" 0

# -- 4. loops and bad targets ---------------------------------------------------
aliases_file <<EOF
a1: a2
a2: a3
a3: a1
ok1: bob
bad: nosuchuser
pipe: |/bin/cat
file: $T/aliasfile
EOF
send loop a1
is "alias loop: exit 65" "$rc" 65
like "alias loop: the error names the loop" "$err" '^dma: .*loop.*a1.*a2.*a3'
ok "alias loop: nothing queued" test -z "$(qfiles)"
send loop2 ok1 a2
is "alias loop among good recipients: exit 65" "$rc" 65
like "alias loop among good recipients: error" "$err" 'loop'
is "alias loop among good recipients: nothing delivered" "$(counts)" "0 0 0"
send badtarget bad
is "alias to an unknown user: exit 65" "$rc" 65
like "alias to an unknown user: error names the recipient" "$err" "^dma: invalid recipient \`bad'"
send pipetarget pipe
is "alias to a pipe: exit 65 (no pipe delivery)" "$rc" 65
send filetarget file
is "alias to a file: exit 65 (no file delivery)" "$rc" 65
ok "alias to a file: no file written" test ! -e "$T/aliasfile"
ok "nothing queued after the refusals" test -z "$(qfiles)"
capture newaliases
is "newaliases accepts the (syntactically fine) file: exit 0" "$rc" 0
is "newaliases: no output" "$out$err" ""

# -- 5. syntax errors ---------------------------------------------------------
aliases_file <<'EOF'
# comment
ok1: bob
ok2 alice
ok3: root
EOF
capture newaliases
is "newaliases, syntax error: exit 70" "$rc" 70
like "newaliases, syntax error: real line number" "$err" 'aliases line 3: syntax error'
like "newaliases, syntax error: program name" "$err" '^newaliases: '
ok "newaliases, syntax error: logged" syslog_has 'aliases line 3: syntax error'
send syntax bob
is "submission with a broken aliases file: exit 70" "$rc" 70
like "submission with a broken aliases file: error" "$err" 'aliases line 3: syntax error'
ok "submission with a broken aliases file: nothing queued" test -z "$(qfiles)"
printf 'x: bob\ny:\n' | aliases_file
capture newaliases
is "empty right-hand side: exit 70" "$rc" 70
like "empty right-hand side: line 2" "$err" 'aliases line 2: syntax error'
printf 'x: bob\n' | aliases_file
capture newaliases
is "newaliases, good file: exit 0" "$rc" 0
is "newaliases, good file: no output" "$out$err" ""
capture run_as alice newaliases
is "newaliases as a user: exit 0" "$rc" 0

# -- 6. no aliases file at all (an empty bind-mounted file behaves the same) --
: | aliases_file
capture newaliases
is "newaliases, empty file: exit 0" "$rc" 0
send plain bob
is "empty aliases: plain delivery works" "$rc" 0
ok "empty aliases: delivered" wait_queue_empty
is "empty aliases: bob got it" "$(counts)" "0 1 0"
