# attack-path.sh - an ordinary user names paths and programs as
# recipients (../x, /tmp/x, |cmd, through aliases too) and tries to move
# the spool with sendmail's -oQ / -O QueueDirectory=.  Every such
# recipient is refused with exit 65 before anything is queued, nothing is
# created outside the spool and /var/mail, no program runs, and -oQ never
# moves the spool.  Bob's message queued before stays intact and is
# delivered at the end.

. "$SRC/test/integration/fixtures/attack-common.sh"

echo DEFER | dma_conf
victim_queue
ok "setup: bob's victim message is queued" test -n "$VICTIM_Q"
# Deliver at once from now on: a wrongly accepted recipient would be
# delivered in the foreground (-D) and leave its traces.
dma_conf </dev/null

# A program alice would like dma to run, and a file she would like it to
# write.
cat >"$T/evilprog" <<EOF
#!/bin/sh
touch "$T/pwned-prog"
EOF
chmod 0755 "$T/evilprog"
mkdir -m 1777 "$T/q"
tmpx_before=$(ls -ld /tmp/x 2>/dev/null)

aliases_file <<EOF
prog: |$T/evilprog
file: $T/aliasfile
dots: ../../tmp/x
dots2: ../..$T/aliasdots
EOF

printf 'Subject: path\n\nbody\n' >"$T/msg"
chmod 0644 "$T/msg"

# nothing_outside DESC: none of the places an attack aims at exists.
_nothing_outside() {
	local f st=0
	for f in /var/x /var/mail/../x "$T/x" "$T/x2" "$T/pwned" "$T/pwned2" \
	    "$T/pwned-prog" "$T/aliasfile" "$T/aliasdots" /var/spool/x \
	    /var/spool/dma/../x /etc/x; do
		if [ -e "$f" ] || [ -L "$f" ]; then
			echo "created: $f"
			st=1
		fi
	done
	if [ "$(ls -ld /tmp/x 2>/dev/null)" != "$tmpx_before" ]; then
		echo "/tmp/x changed: $(ls -ld /tmp/x 2>&1)"
		st=1
	fi
	if [ -n "$(ls -A "$T/q")" ]; then
		echo "files in $T/q: $(ls -A "$T/q")"
		st=1
	fi
	for f in $(ls -A /var/mail); do
		case $f in
		bob | alice | root) ;;
		*) echo "unexpected /var/mail/$f"; st=1 ;;
		esac
	done
	return $st
}

# bad_rcpt DESC ARGS...: alice sends with these arguments; refused with
# exit 65, nothing queued, nothing created.
bad_rcpt() {
	local desc=$1
	shift
	capture run_as alice "$DMA" -D "$@" <"$T/msg"
	is "$desc: exit 65" "$rc" 65
	like "$desc: error names the recipient problem" "$err" '^(dma|sendmail): .*(invalid|unknown|refus|not)'
	only_victim_queued "$desc: nothing queued"
	ok "$desc: nothing created outside the spool" _nothing_outside
	drop_new_entries
}

bad_rcpt "../x" '../x'
bad_rcpt "../../tmp/x" '../../tmp/x'
bad_rcpt "../..\$T/x (into the test dir)" "../..$T/x"
bad_rcpt "/tmp/x" '/tmp/x'
bad_rcpt "absolute \$T/x2" "$T/x2"
bad_rcpt "../x@testhost (local domain)" '../x@testhost'
bad_rcpt "../x@localhost (local domain)" '../x@localhost'
bad_rcpt "bob/../alice" 'bob/../alice'
bad_rcpt "../mail/bob (an existing mbox by path)" '../mail/bob'
bad_rcpt "dot-dot alone" '..'
bad_rcpt "|/bin/sh -c touch" "|/bin/sh -c \"touch $T/pwned\""
bad_rcpt "|program" "|$T/evilprog"
bad_rcpt "\"|program\" quoted" "\"|touch $T/pwned2\""
bad_rcpt ":include: file" ":include:$T/x"
bad_rcpt "alias to a program" prog
bad_rcpt "alias to a file" file
bad_rcpt "alias to ../../tmp/x" dots
bad_rcpt "alias to ../..\$T/x" dots2
bad_rcpt "good recipient plus ../x" bob '../../tmp/x'

# The same through -t headers.
printf 'To: ../../tmp/x\nSubject: t\n\nbody\n' >"$T/t1.msg"
printf 'To: bob, "|touch %s/pwned"\nSubject: t\n\nbody\n' "$T" >"$T/t2.msg"
printf 'Cc: %s/x\nSubject: t\n\nbody\n' "$T" >"$T/t3.msg"
chmod 0644 "$T"/t?.msg
for n in 1 2 3; do
	capture run_as alice "$DMA" -D -t <"$T/t$n.msg"
	is "-t header recipient $n: exit 65" "$rc" 65
	only_victim_queued "-t header recipient $n: nothing queued"
	ok "-t header recipient $n: nothing created outside" _nothing_outside
	drop_new_entries
done
ok "no program ran" test ! -e "$T/pwned-prog"

# -- -oQ / -O QueueDirectory never move the spool ------------------------------
echo DEFER | dma_conf
for opt in "-oQ$T/q" "-O QueueDirectory=$T/q" "-o Q$T/q"; do
	# shellcheck disable=SC2086
	capture run_as alice "$DMA" $opt bob <"$T/msg"
	is "$opt: accepted (ignored), exit 0" "$rc:$err" "0:"
	is "$opt: the message is queued in $SPOOL" "$(new_qfiles | wc -l)" 1
	is "$opt: nothing in $T/q" "$(ls -A "$T/q")" ""
	drop_new_entries
done
ok "nothing created outside the spool" _nothing_outside

# -- nothing was lost -------------------------------------------------------
victim_intact "victim: bob's queued message is unchanged"
victim_deliver </dev/null
