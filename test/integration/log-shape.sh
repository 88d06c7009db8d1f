# log-shape.sh - the shape of dma's syslog records as the log tools see
# them: the identifier is "dma" (or the -L tag) with the pid, and the queue
# id starts the message text ("dma[1234]: a7225f.1: <bob> delivery
# successful"), so `journalctl -t dma`, `grep 'dma\['` and mail.log
# filters keyed on the program name find every line.
#
# Checked on the datagrams themselves ($T/syslog.raw) with the rule
# journald applies to find the identifier, and then against a real
# systemd-journald started in this namespace (skipped if it cannot run).

# ident_of FILE: for each raw record "<pri>Mmm dd hh:mm:ss WORD rest",
# print "IDENT PID|MESSAGE" as journald reads it: WORD must end in ':';
# "name[pid]:" gives name and pid (the last '[' counts), "name:" only name.
ident_of() {
	python3 - "$1" <<'EOF'
import re, sys
for line in open(sys.argv[1], encoding="utf-8"):
    line = line.rstrip("\n")
    m = re.match(r"^<\d+>(?:[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d )?(.*)$", line)
    if not m:
        print("UNPARSED %s" % line)
        continue
    rest = m.group(1).lstrip(" \t")
    word = re.split(r"[ \t\n]", rest, 1)[0]
    if not word.endswith(":"):
        print("NOIDENT %s" % line)
        continue
    name, pid = word[:-1], ""
    if name.endswith("]") and "[" in name:
        k = name.rindex("[")
        name, pid = name[:k], name[k + 1:-1]
    msg = rest[len(word):].lstrip(" ")
    print("%s %s|%s" % (name, pid, msg))
EOF
}

# dma_records: the records dma sent (not the test's own markers, nor
# those of the helper dma-mbox-create, a program of its own name)
dma_records() {
	syslog_sync
	grep -v -e libsync -e ' dma-mbox-create\[' "$T/syslog.raw" >"$T/raw.dma"
	ident_of "$T/raw.dma"
}

# -- 1. a local delivery: every record is "dma[pid]: ..." ------------------
capture sh -c "echo x | $DMA root"
is "local mail: exit 0" "$rc" 0
ok "local mail: delivered" wait_queue_empty
recs=$(dma_records)
diag "$recs"
like "records were logged" "$recs" '^dma '
unlike "every record has the identifier dma and a numeric pid" "$recs" \
    '^([^d]|d[^m]|dm[^a]|dma[^ ]|dma [^0-9]|dma [0-9]+[^0-9|])'
like "raw datagram: priority, time stamp, dma[pid]:, queue id, text" \
    "$(cat "$T/raw.dma")" \
    '^<22>[A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} dma\[[0-9]+\]: [0-9a-f]+\.1: <root> delivery successful$'
like "the submission: queue id, then upstream's text" "$recs" \
    '^dma [0-9]+\|[0-9a-f]+: new mail from user=root uid=0 envelope_from=<root@testhost>$'
like "the attempt: queue id, then upstream's text" "$recs" \
    '^dma [0-9]+\|[0-9a-f]+\.1: <root> trying delivery$'
sub=$(sed -n 's/^dma [0-9]*|\([0-9a-f]*\): new mail from .*/\1/p' <<<"$recs")
del=$(sed -n 's/^dma [0-9]*|\([0-9a-f]*\)\.1: <root> delivery successful$/\1/p' <<<"$recs")
is "the delivery's queue id is the submission's entry 1" "$del" "$sub"
ok "grep 'dma\\[' finds the delivery line" syslog_has '^mail\.info dma\[[0-9]+\]: [0-9a-f]+\.1: <root> delivery successful$'

# -- 2. -L: the tag is the identifier ---------------------------------------
: >"$T/syslog.raw"
capture sh -c "echo x | $DMA -L mytag root"
is "-L mytag: exit 0" "$rc" 0
ok "-L mytag: delivered" wait_queue_empty
recs=$(dma_records)
like "-L mytag: the records carry the tag" "$recs" '^mytag [0-9]+\|[0-9a-f]+\.1: <root> delivery successful$'
unlike "-L mytag: every record has the identifier mytag" "$recs" '^([^m]|m[^y]|my[^t]|myt[^a]|myta[^g]|mytag[^ ])'

# -- 3. an error record (stderr and syslog) keeps the shape -----------------
: >"$T/syslog.raw"
capture sh -c "echo x | $DMA 'a b@@'"
like "bad recipient: refused" "$rc" '^(65|64)$'
recs=$(dma_records)
unlike "refusal: identifier dma with a pid" "$recs" '^([^d]|d[^m]|dm[^a]|dma[^ ]|dma [^0-9])'

# -- 4. a real journald: journalctl -t dma finds every line -----------------
JOURNALD=/lib/systemd/systemd-journald
if [ ! -x "$JOURNALD" ] || ! command -v journalctl >/dev/null; then
	skip "journalctl -t dma" "systemd-journald not installed"
else
	mount -t tmpfs -o mode=0755 tmpfs /run
	mkdir -p /run/systemd/journal
	"$JOURNALD" </dev/null >"$T/journald.err" 2>&1 &
	if ! wait_until 10 test -S /run/systemd/journal/dev-log; then
		skip "journalctl -t dma" "systemd-journald did not start: $(head -n 1 "$T/journald.err")"
	else
		# syslog(3) writes to /dev/log: point it at journald for now.
		mv /dev/log /dev/log.test
		ln -s /run/systemd/journal/dev-log /dev/log
		capture sh -c "echo x | $DMA root"
		is "journald: local mail exit 0" "$rc" 0
		ok "journald: delivered" wait_queue_empty
		capture sh -c "echo x | $DMA -L othertag root"
		ok "journald: -L mail delivered" wait_queue_empty
		logger -t journal-sync "journal-sync"
		wait_until 10 sh -c 'journalctl --no-pager -q -t journal-sync | grep -q journal-sync'
		j=$(journalctl --no-pager -q -t dma -o cat)
		diag "journalctl -t dma -o cat:" "$j"
		like "journalctl -t dma: the submission" "$j" '^[0-9a-f]+: new mail from user=root uid=0 envelope_from=<root@testhost>$'
		like "journalctl -t dma: the delivery" "$j" '^[0-9a-f]+\.1: <root> delivery successful$'
		is "journalctl -t dma: four records" "$(printf '%s\n' "$j" | grep -c .)" 4
		like "journalctl -t othertag: the -L mail" \
		    "$(journalctl --no-pager -q -t othertag -o cat)" '<root> delivery successful$'
		ids=$(journalctl --no-pager -q -F SYSLOG_IDENTIFIER | grep -v "^systemd-journald$" | sort | tr '\n' ' ')
		is "journald identifiers: dma, the tag, the marker" "$ids" "dma journal-sync othertag "
		pids=$(journalctl --no-pager -q -t dma -o export | sed -n 's/^SYSLOG_PID=//p' | grep -c '^[0-9][0-9]*$')
		is "journald: every dma record has a SYSLOG_PID" "$pids" 4
		# The setuid helper logs under dma too, saying who it is.
		useradd -M erin
		capture sh -c "echo x | $DMA erin"
		ok "journald: mail to erin delivered" wait_queue_empty
		logger -t journal-sync "journal-sync-2"
		wait_until 10 sh -c 'journalctl --no-pager -q -t journal-sync | grep -q journal-sync-2'
		like "journalctl -t dma: the mailbox helper" \
		    "$(journalctl --no-pager -q -t dma -o cat)" "^dma-mbox-create: created mbox for .erin.$"
		rm -f /dev/log
		mv /dev/log.test /dev/log
	fi
fi

# -- 5. an error before the options are read is logged as dma too ----------
# (the user mail is missing: a root caller cannot drop to it).  Last: the
# passwd change stays for the rest of this script.
: >"$T/syslog.raw"
cp /etc/passwd "$T/passwd.saved"
sed -i '/^mail:/d' /etc/passwd
capture sh -c "echo x | /usr/sbin/sendmail root"
is "no user mail: exit 78" "$rc" 78
is "no user mail: the error" "$err" "sendmail: user 'mail' not found"
recs=$(dma_records)
like "no user mail: logged as dma with a pid" "$recs" "^dma [0-9]+\\|user 'mail' not found\$"
cat "$T/passwd.saved" >/etc/passwd
