# local-crash.sh - a crash at any point leaves nothing or a complete,
# deliverable entry: a submission killed while reading, a submission killed
# between writing its queue files and its commit point, a queue entry
# whose M file outlived its Q file, and a delivery killed while waiting for
# the mailbox lock.  Later queue runs clean up and deliver exactly once.

MSG='Subject: crash test

body
'

# ---- killed while reading the message ------------------------------------
mkfifo "$T/in"
chmod 0666 "$T/in"
run_as alice "$DMA" bob <"$T/in" 2>/dev/null &
exec 7>"$T/in"
printf 'Subject: half\n\nfirst half\n' >&7
ok "submission waits for the rest" wait_until 10 sh -c 'ls /var/spool/dma | grep -q "^tmp_"'
kill_dma
exec 7>&-
wait 2>/dev/null
tmpf=$(ls "$SPOOL" | grep '^tmp_')
ok "the temporary file of the killed submission is there" test -n "$tmpf"
is "no queue entry from the killed submission" "$(qfiles)" ""
capture "$DMA" -bp
is "-bp: queue empty" "$out" "Mail queue is empty"
"$DMA" -q -D
ok "a young temporary file is left alone (a submitter may still own it)" test -e "$SPOOL/$tmpf"
touch -d '10 minutes ago' "$SPOOL/$tmpf"
"$DMA" -q -D
ok "a queue run removes the dead temporary file" test ! -e "$SPOOL/$tmpf"
is "nothing delivered from it" "$(count_msgs /var/mail/bob)" 0

# ---- killed between the queue files and the commit point ----------------
echo DEFER | dma_conf
printf '%s' "$MSG" | run_as alice "$DMA" bob carol@example.org
q=$(qfiles | head -n 1)
msgid=${q#Q}
msgid=${msgid%%.*}
m=$(ls "$SPOOL" | grep '^M' | head -n 1)
# Put back the temporary file as it was before the commit point (the
# M files are its hard links).
ln "$SPOOL/$m" "$SPOOL/tmp_$msgid"
capture "$DMA" -bp
is "-bp does not show an uncommitted message" "$out" "Mail queue is empty"
: | dma_conf
"$DMA" -q -D
is "a queue run does not deliver an uncommitted message" "$(count_msgs /var/mail/bob)" 0
touch -d '10 minutes ago' "$SPOOL/tmp_$msgid"
"$DMA" -q -D
is "the crashed submission is rolled back whole" "$(spool_rest)" ""
is "still nothing delivered" "$(count_msgs /var/mail/bob)" 0

# ---- M file left behind by a crash in the middle of a removal -----------
echo DEFER | dma_conf
printf '%s' "$MSG" | run_as alice "$DMA" bob
q=$(qfiles)
rm "$SPOOL/$q"
: | dma_conf
"$DMA" -q -D
is "an M file without its Q file is removed" "$(spool_rest)" ""
is "and not delivered" "$(count_msgs /var/mail/bob)" 0

# ---- delivery killed while waiting for the mailbox lock -----------------
printf '%s' "$MSG" | run_as alice "$DMA" bob
ok "first message delivered" wait_queue_empty 30
# The lock is held by this shell itself, released by closing fd 8.
exec 8>>/var/mail/bob
flock 8
printf '%s' "$MSG" | run_as alice "$DMA" bob
ok "the delivery waits for the lock" wait_until 10 sh -c 'grep -q "trying delivery" "$T/syslog" && test -n "$(ls /var/spool/dma | grep ^Q)"'
sleep 1
kill_dma
exec 8>&-
is "killed delivery: the mailbox is unchanged" "$(count_msgs /var/mail/bob)" 1
ok "killed delivery: the entry is still queued" test -n "$(qfiles)"
"$DMA" -q -D
ok "the next queue run delivers it" wait_queue_empty 30
is "delivered exactly once" "$(count_msgs /var/mail/bob)" 2
