# attack-config.sh - configuration paths from the command line are
# ignored: an ordinary user's -C file (with DEFER, ALIASES, MASQUERADE,
# SPOOLDIR), -oA / -O AliasFile= aliases files and -oQ never change what
# dma does.  Each file here would change the behaviour visibly if it were
# read: DEFER would keep the message queued, the aliases would send bob's
# mail to alice, MASQUERADE would change the sender, SPOOLDIR would move
# the queue.

mkdir -m 0755 "$T/evil" "$T/evil/spool"
chown alice "$T/evil/spool"
cat >"$T/evil/dma.conf" <<EOF
DEFER
ALIASES $T/evil/aliases
MASQUERADE evil@evil.example
SPOOLDIR $T/evil/spool
EOF
printf 'bob: alice\nroot: alice\n' >"$T/evil/aliases"
# A queue entry in the would-be spool: -bp would list it.
printf 'ID: e1e1.1\nSender: evil@evil.example\nRecipient: root\n' >"$T/evil/spool/Qe1e1.1"
printf 'Subject: planted\n\nplanted\n' >"$T/evil/spool/Me1e1.1"
chmod 0644 "$T"/evil/* "$T"/evil/spool/*

printf 'Subject: cfg\n\nconfig test\n' >"$T/msg"
chmod 0644 "$T/msg"

# plain_delivery DESC USER ARGS...: USER sends to bob with ARGS; the
# message is delivered at once to bob (not deferred, not aliased), with
# the usual sender, through the real spool only.
n=0
plain_delivery() {
	local desc=$1 user=$2 sender
	shift 2
	n=$((n + 1))
	capture run_as "$user" "$DMA" "$@" bob <"$T/msg"
	is "$desc: exit 0, quiet" "$rc:$out$err" "0:"
	ok "$desc: delivered at once (no DEFER)" wait_queue_empty 20
	is "$desc: bob got it (no alias to alice)" "$(count_msgs "$MAILDIR/bob")" "$n"
	is "$desc: alice got nothing" "$(count_msgs "$MAILDIR/alice")" 0
	sender=$user@testhost
	[ "$user" = root ] && sender=root@testhost
	is "$desc: the usual envelope sender (no MASQUERADE)" \
	    "$(grep '^From ' "$MAILDIR/bob" | tail -n 1 | cut -d' ' -f2)" "$sender"
	is "$desc: the other spool is untouched" "$(ls "$T/evil/spool" | tr '\n' ' ')" "Me1e1.1 Qe1e1.1 "
}

plain_delivery "-C FILE as alice" alice -C "$T/evil/dma.conf"
plain_delivery "-CFILE as alice" alice "-C$T/evil/dma.conf"
plain_delivery "-oA FILE as alice" alice "-oA$T/evil/aliases"
plain_delivery "-O AliasFile=FILE as alice" alice -O "AliasFile=$T/evil/aliases"
plain_delivery "-oQ DIR as alice" alice "-oQ$T/evil/spool"
plain_delivery "-O QueueDirectory=DIR as alice" alice -O "QueueDirectory=$T/evil/spool"
plain_delivery "all of them together" alice -i -C "$T/evil/dma.conf" \
    "-oA$T/evil/aliases" "-oQ$T/evil/spool"
plain_delivery "-C FILE as root" root -C "$T/evil/dma.conf"

# Environment variables that some MTAs honour are ignored as well.
n=$((n + 1))
capture run_as alice env DMA_CONF="$T/evil/dma.conf" SENDMAIL_CONFIG="$T/evil/dma.conf" \
    MAILRC="$T/evil/dma.conf" ALIASES="$T/evil/aliases" "$DMA" bob <"$T/msg"
is "environment: exit 0, quiet" "$rc:$out$err" "0:"
ok "environment: delivered at once" wait_queue_empty 20
is "environment: bob got it" "$(count_msgs "$MAILDIR/bob")" "$n"

# The queue listing and runs look at the real spool only.
capture run_as alice "$DMA" -bp -C "$T/evil/dma.conf"
is "-bp -C FILE: the real (empty) queue" "$rc:$out" "0:Mail queue is empty"
capture run_as alice "$DMA" -bp "-oQ$T/evil/spool"
is "-bp -oQ DIR: the real (empty) queue" "$rc:$out" "0:Mail queue is empty"
capture run_as alice "$DMA" -q -D -C "$T/evil/dma.conf"
is "-q -D -C FILE: exit 0" "$rc:$out$err" "0:"
capture run_as alice "$DMA" -q -D "-oQ$T/evil/spool"
is "-q -D -oQ DIR: exit 0" "$rc:$out$err" "0:"
is "the other spool is untouched after the runs" "$(ls -A "$T/evil/spool" | tr '\n' ' ')" "Me1e1.1 Qe1e1.1 "
is "root got nothing from the planted entry" "$(count_msgs "$MAILDIR/root")" 0
ok "the real flush file was touched" test -f "$SPOOL/flush"

# newaliases / -bi check the configured aliases file, not a given one.
printf 'bad line without colon\n' >"$T/evil/badaliases"
chmod 0644 "$T/evil/badaliases"
capture run_as alice "$DMA" -bi "-oA$T/evil/badaliases"
is "-bi -oA BADFILE: checks /etc/aliases (valid), exit 0" "$rc:$err" "0:"
capture run_as alice "$DMA" -bi -C "$T/evil/dma.conf"
is "-bi -C FILE: exit 0" "$rc:$err" "0:"
