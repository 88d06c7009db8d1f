# local-queue.sh - the spool seen from outside: Q/M files (exact text,
# owners, modes), queue listings (-bp, mailq), DEFER / -bq, queue runs
# (dma -q, dma -q -D), no temporary files left behind.

# spool_leftovers: spool entries other than Q*, M*, the mailbox journals
# J* and the flush file
spool_leftovers() {
	ls -A "$SPOOL" | grep -Ev '^(Q|M|J|flush$)' | tr '\n' ' '
}

# -- 1. empty queue -----------------------------------------------------------
capture run_dma -bp
is "-bp on an empty queue: exit 0" "$rc" 0
is "-bp on an empty queue: text" "$out" "Mail queue is empty"
is "-bp on an empty queue: no stderr" "$err" ""
capture mailq
is "mailq on an empty queue: exit 0" "$rc" 0
is "mailq on an empty queue: text" "$out" "Mail queue is empty"
capture run_as alice mailq
is "mailq as a user: text" "$out$err" "Mail queue is empty"
capture run_dma -Ap
is "-Ap lists the queue too" "$out$err" "Mail queue is empty"

# -- 2. DEFER: submission only queues ---------------------------------------
echo DEFER | dma_conf
printf 'Subject: q\n\nqueued\n' >msg
capture run_as alice sh -c "$DMA bob root <msg"
is "DEFER submission: exit 0" "$rc" 0
is "DEFER submission: no output" "$out$err" ""
sleep 0.3
ok "DEFER: no delivery process left running" sh -c '! pgrep -x -r R,S,D dma'
qs=$(qfiles)
is "DEFER: two Q files (one per recipient)" "$(printf '%s\n' "$qs" | grep -c .)" 2
ok "DEFER: no mbox written" test ! -e /var/mail/bob -a ! -e /var/mail/root
is "no temporary files left after exit 0" "$(spool_leftovers)" ""

listing=""
rcpts=""
for q in $qs; do
	id=${q#Q}
	r=$(sed -n 's/^Recipient: //p' "$SPOOL/$q")
	rcpts="$rcpts $r"
	printf 'Version: 2\nID: %s\nSender: alice@%s\nRecipient: %s\n' "$id" "$HOST" "$r" >want.q
	is_file "Q file $q: exact text" "$SPOOL/$q" want.q
	like "queue id $id has the form msgid.n" "$id" '^[0-9a-f]+\.[0-9a-f]+$'
	is_mode "Q file mode" "$SPOOL/$q" 660
	is_owner "Q file owned by the submitter, group mail" "$SPOOL/$q" alice:mail
	ok "M file for $q exists" test -f "$SPOOL/M$id"
	is_mode "M file mode" "$SPOOL/M$id" 660
	is_owner "M file owned by the submitter, group mail" "$SPOOL/M$id" alice:mail
	[ -n "$listing" ] && listing="$listing
--"
	listing="$listing
ID	: $id
From	: alice@$HOST
To	: $r"
done
listing=${listing#?}
is "the recipients are bob and root" "$(echo $rcpts | tr ' ' '\n' | sort | tr '\n' ' ')" "bob root "
first=$(printf '%s\n' "$qs" | head -n 1)
m1=M${first#Q}
{
	received_masked alice 2001 "alice@$HOST"
	cat <<EOF
Subject: q
Date: DATE
Message-Id: <MSGID>
From: <alice@$HOST>

queued
EOF
} >want.m
spool_msg "$SPOOL/$m1" >m1.msg
mask_mbox m1.msg >got.m
is_file "M file: Received header, added headers, message" got.m want.m

capture run_dma -bp
is "-bp: exit 0" "$rc" 0
is "-bp: exact listing (one block per recipient, in queue order)" "$out" "$listing"
is "-bp: no stderr" "$err" ""
capture mailq
is "mailq: same listing" "$out" "$listing"
capture run_as bob mailq
is "mailq as another user: same listing" "$out" "$listing"

# -- 3. dma -q delivers the deferred mail --------------------------------------
capture run_dma -q
is "dma -q: exit 0" "$rc" 0
is "dma -q: no output" "$out$err" ""
ok "dma -q: queue emptied" wait_queue_empty
is "dma -q: bob got one message" "$(count_msgs /var/mail/bob)" 1
is "dma -q: root got one message" "$(count_msgs /var/mail/root)" 1
like "dma -q: the body arrived" "$(cat /var/mail/bob)" '^queued$'
ok "flush file touched by dma -q" test -f "$SPOOL/flush"
capture run_dma -bp
is "after the run: empty listing" "$out" "Mail queue is empty"
is "after the run: no files left but flush and journals" "$(ls -A "$SPOOL" | grep -v '^J' | tr '\n' ' ')" "flush "

# -- 4. -bq without DEFER, then dma -q -D in the foreground -----------------
: | dma_conf
capture run_as alice sh -c "$DMA -bq bob <msg"
is "-bq: exit 0" "$rc" 0
is "-bq: no output" "$out$err" ""
sleep 0.3
is "-bq: one Q file" "$(qfiles | grep -c .)" 1
is "-bq: not delivered" "$(count_msgs /var/mail/bob)" 1
ok "-bq: no delivery process" sh -c '! pgrep -x -r R,S,D dma'
capture run_dma -q -D
is "dma -q -D: exit 0" "$rc" 0
is "dma -q -D: no output" "$out$err" ""
is "dma -q -D: delivered before returning" "$(count_msgs /var/mail/bob)" 2
is "dma -q -D: queue empty on return" "$(qfiles)" ""

# -- 5. a queue run by an unprivileged user ----------------------------------
echo DEFER | dma_conf
capture run_as alice sh -c "$DMA bob <msg"
is "queued for bob: exit 0" "$rc" 0
capture run_as bob "$DMA" -q
is "bob runs the queue: exit 0" "$rc" 0
ok "bob's queue run delivers alice's mail" wait_queue_empty
is "bob has three messages" "$(count_msgs /var/mail/bob)" 3

# -- 6. -bq with several messages, listing stays consistent -----------------
for i in 1 2 3; do
	printf 'Subject: n%s\n\nx\n' "$i" | run_as alice "$DMA" -bq bob
done
is "three queued entries" "$(qfiles | grep -c .)" 3
capture run_dma -bp
is "-bp: three blocks" "$(printf '%s\n' "$out" | grep -c '^ID	: ')" 3
is "-bp: two separators" "$(printf '%s\n' "$out" | grep -c '^--$')" 2
capture run_dma -q -D
ok "all three delivered" wait_queue_empty
is "bob has six messages" "$(count_msgs /var/mail/bob)" 6
is "no temporary files left" "$(spool_leftovers)" ""
