# local-links.sh - a planted symlink, hard link, FIFO, directory or foreign
# file at /var/mail/USER is never written through, never chowned, and the
# mail stays queued (not lost) until the mailbox is sane again.
#
# /var/mail is a bind mount of $T/fs/mail, so files made in $T/fs are on
# the same mount and can be hard-linked into the mail directory.

echo DEFER | dma_conf

# target FILE: a file that a careless delivery could write: group mail,
# group writable, owned by root.
target() {
	printf 'precious\n' >"$1"
	chown root:mail "$1"
	chmod 0660 "$1"
}

# state FILE: content checksum, owner, mode, link count
state() {
	echo "$(cksum <"$1") $(stat -c '%U:%G %a %h' "$1")"
}

# attempt DESC [LOG-ERE]: queue one message alice -> bob, run the queue
# once in the foreground, check it is still queued and the refusal logged.
REFUSED="(refus|link|not a regular|symbolic|owned).*bob|bob.*(refus|link|not a regular|symbolic|owned)"
attempt() {
	local desc=$1 ere=${2:-$REFUSED}
	printf 'Subject: %s\n\nbody\n' "$desc" | run_as alice "$DMA" bob
	capture timeout 30 "$DMA" -q -D
	is "$desc: dma -q -D returns 0 (no hang)" "$rc" 0
	is "$desc: the mail stays queued" "$(qfiles | grep -c .)" 1
	ok "$desc: the refusal is logged" syslog_has "$ere"
}

# recover DESC: remove the planted thing, run the queue, the mail arrives.
recover() {
	local desc=$1
	rm -rf /var/mail/bob
	capture run_dma -q -D
	ok "$desc: delivered once the mailbox is sane" wait_queue_empty
	is "$desc: bob has the message" "$(count_msgs /var/mail/bob)" 1
	is_owner "$desc: new mbox owned by bob" /var/mail/bob bob:mail
	is_mode "$desc: new mbox mode 620" /var/mail/bob 620
	rm -f /var/mail/bob
	: >"$T/syslog"
}

# -- 1. symlink to a group-mail writable file ---------------------------------
target "$T/fs/sym-target"
before=$(state "$T/fs/sym-target")
ln -s "$T/fs/sym-target" /var/mail/bob
attempt "symlink"
is "symlink: target unchanged (content, owner, mode)" "$(state "$T/fs/sym-target")" "$before"
ok "symlink: still a symlink" test -L /var/mail/bob
recover "symlink"

# -- 2. dangling symlink: the helper must not create the target -------------
ln -s "$T/fs/new-file" /var/mail/bob
attempt "dangling symlink"
ok "dangling symlink: target not created" test ! -e "$T/fs/new-file"
recover "dangling symlink"

# -- 3. hard link to a group-mail writable file ------------------------------
target "$T/fs/hard-target"
ln "$T/fs/hard-target" "$T/fs/mail/bob"
before=$(state "$T/fs/hard-target")
attempt "hard link"
is "hard link: target unchanged (content, owner, mode, links)" \
    "$(state "$T/fs/hard-target")" "$before"
recover "hard link"

# -- 4. hard link to a root-only file (the helper must not chown it) --------
printf 'root secret\n' >"$T/fs/root-file"
chmod 0600 "$T/fs/root-file"
ln "$T/fs/root-file" "$T/fs/mail/bob"
before=$(state "$T/fs/root-file")
# dma itself cannot open it (not group mail): the helper must not be asked
# to "fix" it either.
attempt "hard link to a root file" "$REFUSED|can not open \`/var/mail/bob': Permission denied"
is "hard link to a root file: not chowned, not chmodded" "$(state "$T/fs/root-file")" "$before"
recover "hard link to a root file"

# -- 5. a FIFO does not block the delivery ----------------------------------
mkfifo -m 0660 /var/mail/bob
chown bob:mail /var/mail/bob
attempt "FIFO"
ok "FIFO: still a FIFO" test -p /var/mail/bob
recover "FIFO"

# -- 6. a directory ------------------------------------------------------------
mkdir /var/mail/bob
chown bob:mail /var/mail/bob
attempt "directory"
recover "directory"

# -- 7. an mbox owned by someone else ------------------------------------------
target /var/mail/bob
chown alice:mail /var/mail/bob
before=$(state /var/mail/bob)
attempt "mbox owned by alice"
is "mbox owned by alice: unchanged" "$(state /var/mail/bob)" "$before"
recover "mbox owned by alice"

# -- 8. dma-mbox-create itself refuses planted links --------------------------
# Called the way a (compromised) process with group mail could call it.
as_mailgroup() {
	local u=$1
	shift
	setpriv --reuid="$u" --regid=mail --clear-groups env -i PATH="$PATH" \
	    ASAN_OPTIONS="${ASAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" "$@"
}
capture as_mailgroup bob "$MBOXCREATE" alice
is "dma-mbox-create with group mail: creates a missing mbox" "$rc" 0
is_owner "dma-mbox-create: owner alice:mail" /var/mail/alice alice:mail
is_mode "dma-mbox-create: mode 620" /var/mail/alice 620
capture as_mailgroup bob "$MBOXCREATE" alice
is "dma-mbox-create on an existing proper mbox: exit 0" "$rc" 0
rm -f /var/mail/alice
capture run_as bob "$MBOXCREATE" bob
ok "dma-mbox-create not executable without group mail" test "$rc" -eq 126
ln -s "$T/fs/sym-target" /var/mail/bob
capture as_mailgroup bob "$MBOXCREATE" bob
ok "dma-mbox-create on a symlink: fails" test "$rc" -ne 0
is "dma-mbox-create on a symlink: target unchanged" "$(state "$T/fs/sym-target")" \
    "$(printf 'precious\n' | cksum) root:mail 660 1"
rm -f /var/mail/bob
ln "$T/fs/root-file" "$T/fs/mail/bob"
before=$(state "$T/fs/root-file")
capture as_mailgroup bob "$MBOXCREATE" bob
ok "dma-mbox-create on a hard link: fails" test "$rc" -ne 0
is "dma-mbox-create on a hard link: target unchanged" "$(state "$T/fs/root-file")" "$before"
rm -f /var/mail/bob
capture as_mailgroup alice "$MBOXCREATE" ../../etc/passwd
ok "dma-mbox-create with a path: fails" test "$rc" -ne 0
capture as_mailgroup alice "$MBOXCREATE" nosuchuser
ok "dma-mbox-create for an unknown user: fails" test "$rc" -ne 0
ok "dma-mbox-create for an unknown user: creates nothing" test ! -e /var/mail/nosuchuser
