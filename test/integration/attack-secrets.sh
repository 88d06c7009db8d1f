# attack-secrets.sh - the relay password sits only where it is needed:
# dma marks itself non-dumpable at once (no core file, no same-user
# ptrace, /proc/<pid>/* owned by root), and auth.conf is read only by a
# remote delivery attempt: listing the queue, submitting, -bs intake and
# newaliases never open it, so a broken auth.conf does not stop them.

PASSWORD=Relay-Secret-4411

# ---- non-dumpable --------------------------------------------------------
# A copy without the setgid bit: the kernel makes a setgid process
# non-dumpable by itself (fs.suid_dumpable=0), so only a plain binary shows
# whether dma does it.  -bs waits for the client before touching the
# spool; dma.conf is made readable for the copy.
install -m 0755 "$DMA" "$T/dma-plain"
: | dma_conf
chmod 0644 /etc/dma/dma.conf
mkfifo "$T/bs-in"
chmod 0666 "$T/bs-in"
run_as alice "$T/dma-plain" -bs <"$T/bs-in" >"$T/bs-out" 2>&1 &
exec 7>"$T/bs-in"
ok "dma -bs (plain copy) runs as alice" wait_until 10 sh -c 'grep -q "^220 " "$T/bs-out"'
p=$(pgrep -f "$T/dma-plain" | head -n 1)
ok "found its pid" test -n "$p"
is_owner "its /proc/<pid>/status is owned by root (non-dumpable)" "/proc/$p/status" root:root
capture run_as alice cat "/proc/$p/environ"
not_ok "alice cannot read its /proc/<pid>/environ" test "$rc" = 0
echo QUIT >&7
exec 7>&-
wait
chmod 0640 /etc/dma/dma.conf

# ---- auth.conf is read by remote delivery only ---------------------------
printf 'AUTHPATH /etc/dma/auth.conf\nDEFER\n' | dma_conf
printf 'this line is broken %s\n' "$PASSWORD" | auth_conf

capture run_as alice "$DMA" -bp
is "broken auth.conf: -bp exits 0" "$rc" 0
is "broken auth.conf: -bp lists the queue" "$out" "Mail queue is empty"
capture sh -c "echo x | $(printf '%q' "$DMA") root"
is "broken auth.conf: a submission is accepted" "$rc" 0
capture newaliases
is "broken auth.conf: newaliases exits 0" "$rc" 0

# strace shows every open: none of auth.conf.
auth_opened() {
	strace -f -qq -e trace=open,openat -o "$T/open.st" "$@" >/dev/null 2>&1 </dev/null
	grep -q 'auth\.conf' "$T/open.st"
}
not_ok "-bp does not open auth.conf" auth_opened "$DMA" -bp
not_ok "a plain submission does not open auth.conf" \
    sh -c "echo x | strace -f -qq -e trace=open,openat -o $T/sub.st $(printf '%q' "$DMA") root; grep -q 'auth\\.conf' $T/sub.st"
not_ok "-bs does not open auth.conf" sh -c \
    "printf 'HELO x\\r\\nMAIL FROM:<root@testhost>\\r\\nRCPT TO:<root>\\r\\nDATA\\r\\nSubject: t\\r\\n\\r\\nbody\\r\\n.\\r\\nQUIT\\r\\n' |
    strace -f -qq -e trace=open,openat -o $T/bs.st $(printf '%q' "$DMA") -bs >/dev/null; grep -q 'auth\\.conf' $T/bs.st"
not_ok "newaliases does not open auth.conf" auth_opened newaliases
# A local delivery does not need it either.
syslog_mark
not_ok "a local delivery does not open auth.conf" auth_opened "$DMA" -q -D
ok "the local entries were delivered" wait_queue_empty 30
not_ok "the password never reached the log" grep -qF -- "$PASSWORD" "$T/syslog"
