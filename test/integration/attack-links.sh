# attack-links.sh - links planted where dma writes: a symlink, a dangling
# symlink and a hard link at /var/mail/bob before the first delivery; a
# symlink and a hard link at the spool's flush file; symlinks at tmp_*,
# Q* and M* names.  The link targets are root-owned files writable by
# group mail (what a careless dma would happily write through), and they
# must stay unchanged (content, size, mode, owner, mtime, links).  The
# messages involved stay queued while a link is there, and everything is
# delivered once the links are gone: nothing is lost.

. "$SRC/test/integration/fixtures/attack-common.sh"

echo DEFER | dma_conf
victim_queue
ok "setup: bob's victim message is queued" test -n "$VICTIM_Q"
dma_conf </dev/null

# mktarget NAME TEXT: a root:mail 0660 file in $T with an old mtime.
mktarget() {
	printf '%s\n' "$2" >"$T/$1"
	chown root:mail "$T/$1"
	chmod 0660 "$T/$1"
	touch -d '2001-02-03 04:05:06' "$T/$1"
	file_state "$T/$1" >"$T/$1.state"
}

# unchanged DESC NAME: the target file is as mktarget left it.
unchanged() {
	is "$1" "$(file_state "$T/$2")" "$(cat "$T/$2.state")"
}

printf 'Subject: links\n\nLINK-TEST-BODY\n' >"$T/msg"
chmod 0644 "$T/msg"

# deferred_with DESC: alice's message to bob is accepted, stays queued
# with a well-formed Q file.
NDEFERRED=0
send_deferred() {
	local before after q
	NDEFERRED=$((NDEFERRED + 1))
	before=$(qfiles | wc -l)
	capture run_as alice "$DMA" -D bob <"$T/msg"
	is "$1: accepted (exit 0, quiet)" "$rc:$out$err" "0:"
	after=$(qfiles | wc -l)
	is "$1: the message stays queued" "$after" $((before + 1))
	for q in $(new_qfiles); do
		ok "$1: $q well-formed" entry_shape_ok "$q" '^bob$'
	done
}

# The bind mount /var/mail is backed by a directory of $T (ns-run.sh);
# a hard link must be made on the same mount as its target.
maildir_backing=$T/fs/mail
if [ "$(stat -c %d:%i "$maildir_backing" 2>/dev/null)" != "$(stat -c %d:%i "$MAILDIR")" ]; then
	maildir_backing=""
fi
spool_backing=$T/fs/spool
if [ "$(stat -c %d:%i "$spool_backing" 2>/dev/null)" != "$(stat -c %d:%i "$SPOOL")" ]; then
	spool_backing=""
fi

# -- 1. symlink at /var/mail/bob -----------------------------------------
mktarget sym-target "SYMLINK-TARGET"
ln -s "$T/sym-target" "$MAILDIR/bob"
send_deferred "mbox symlink"
unchanged "mbox symlink: target unchanged" sym-target
ok "mbox symlink: still the planted symlink" test -L "$MAILDIR/bob"
ok "mbox symlink: refusal logged" syslog_has 'bob.*(refus|link|not a regular)|(refus|link|not a regular).*bob'
rm -f "$MAILDIR/bob"

# -- 2. dangling symlink at /var/mail/bob -----------------------------------
ln -s "$T/dangling-new" "$MAILDIR/bob"
send_deferred "mbox dangling symlink"
ok "mbox dangling symlink: nothing created through it" test ! -e "$T/dangling-new"
ok "mbox dangling symlink: still the planted symlink" test -L "$MAILDIR/bob"
rm -f "$MAILDIR/bob"

# -- 3. hard link at /var/mail/bob ------------------------------------------
if [ -n "$maildir_backing" ]; then
	mktarget hl-target "HARDLINK-TARGET"
	ln "$T/hl-target" "$maildir_backing/bob"
	file_state "$T/hl-target" >"$T/hl-target.state"	# nlink is 2 now
	send_deferred "mbox hard link"
	unchanged "mbox hard link: target unchanged (content, mode, owner, mtime, links)" hl-target
	is_owner "mbox hard link: not chowned to bob" "$T/hl-target" root:mail
	ok "mbox hard link: refusal logged" syslog_has 'bob.*(refus|link|not a regular)|(refus|link|not a regular).*bob'
	rm -f "$MAILDIR/bob"
else
	skip "mbox hard link" "cannot find the directory behind $MAILDIR"
fi

# -- 4. a foreign-owned regular file at /var/mail/bob -------------------------
printf 'ALICE-OWNS-THIS\n' >"$MAILDIR/bob"
chown alice:mail "$MAILDIR/bob"
chmod 0660 "$MAILDIR/bob"
touch -d '2001-02-03 04:05:06' "$MAILDIR/bob"
st_foreign=$(file_state "$MAILDIR/bob")
send_deferred "mbox owned by alice"
is "mbox owned by alice: not written" "$(file_state "$MAILDIR/bob")" "$st_foreign"
rm -f "$MAILDIR/bob"

# -- 5. symlinks at tmp_*, Q*, M* and the flush file; dma -q as alice --------
mktarget tmp-target "TMP-TARGET"
mktarget q-target "$(printf 'ID: e1e1.1\nSender: alice@testhost\nRecipient: root')"
mktarget m-target "$(printf 'Subject: planted\n\nPLANTED-M-BODY')"
mktarget flush-target "FLUSH-TARGET"
ln -s "$T/tmp-target" "$SPOOL/tmp_AAAAAAAAAA"
ln -s "$T/tmp-target" "$SPOOL/tmp_e1e2"
ln -s "$T/q-target" "$SPOOL/Qe1e1.1"
ln -s "$T/m-target" "$SPOOL/Me1e1.1"
ln -s "$T/flush-target" "$SPOOL/flush"
capture run_as alice "$DMA" -q
is "dma -q as alice with planted symlinks: exit 0, quiet" "$rc:$out$err" "0:"
ok "dma -q: the run ends" wait_until 30 sh -c '! pgrep -x -r R,S,D,T,t "dma|sendmail|mailq|newaliases" >/dev/null'
unchanged "flush symlink: target unchanged" flush-target
unchanged "tmp_ symlink: target unchanged" tmp-target
unchanged "Q symlink: target unchanged" q-target
unchanged "M symlink: target unchanged" m-target
not_ok "planted Q/M symlinks: nothing delivered from them" \
    grep -rq PLANTED-M-BODY "$MAILDIR"
ok "victim: delivered to alice by the queue run" grep -qx -- "$VICTIM_BODY" "$MAILDIR/alice"
is "the $NDEFERRED deferred messages to bob are delivered now" "$(count_msgs "$MAILDIR/bob")" "$NDEFERRED"
is "bob's mbox is his own" "$(stat -c '%U:%G %a %h' "$MAILDIR/bob")" "bob:mail 620 1"
is "no real queue entry is left" "$(qfiles | grep -vx 'Qe1e1.1')" ""

# -- 6. hard link at the flush file to a root-owned file ----------------------
rm -f "$SPOOL/flush" "$SPOOL/tmp_AAAAAAAAAA" "$SPOOL/tmp_e1e2" "$SPOOL/Qe1e1.1" \
    "$SPOOL/Me1e1.1" "$SPOOL"/bad_* 2>/dev/null
if [ -n "$spool_backing" ]; then
	mktarget flush-hl-target "FLUSH-HARDLINK-TARGET"
	ln "$T/flush-hl-target" "$spool_backing/flush"
	file_state "$T/flush-hl-target" >"$T/flush-hl-target.state"
	capture run_as alice "$DMA" -q
	is "dma -q as alice with a hard-linked flush: exit 0, quiet" "$rc:$out$err" "0:"
	ok "dma -q: the run ends" wait_until 30 sh -c '! pgrep -x -r R,S,D,T,t "dma|sendmail|mailq|newaliases" >/dev/null'
	unchanged "flush hard link: target unchanged (content, mode, mtime, links)" flush-hl-target
	capture run_as alice "$DMA" -q -D
	is "dma -q -D as alice with a hard-linked flush: exit 0, quiet" "$rc:$out$err" "0:"
	unchanged "flush hard link: target still unchanged" flush-hl-target
	rm -f "$SPOOL/flush"
else
	skip "flush hard link" "cannot find the directory behind $SPOOL"
fi

# -- 7. a normal flush file is created and touched --------------------------
capture run_as alice "$DMA" -q -D
is "dma -q -D as alice, normal case: exit 0" "$rc:$out$err" "0:"
ok "flush file created as a regular file" test -f "$SPOOL/flush" -a ! -L "$SPOOL/flush"
