# smtp-headers.sh - header hygiene of relayed mail: cron-style mail
# (From: root (Cron Daemon), To: root, root aliased to a remote address)
# reaches the smarthost with the addresses of From/To/Cc/Reply-To/Sender
# qualified and every other byte as stored; MASQUERADE gives the domain;
# REWRITEFROM puts the envelope sender in From: and keeps the old field
# as X-Original-From:; the same mail delivered locally is unchanged.

smtpd_start relay --size 10000000 || exit 1

# The header cron writes, and more of what the address fields may hold:
# comments (nested, folded), quoted strings, lists, a group, a field that
# does not parse (left as it is) and the same lines in the body (never
# touched).
cat >cron.hdr <<'EOF'
From: root (Cron Daemon)
To: root
Cc: alice (first
 (nested) comment),
	"Ops, night" <ops>, bob@example.net, undisclosed-recipients:;
Reply-To: "unclosed <root>
Sender: Cron Daemon <root>
Resent-From: root
X-Cron-Env: <SHELL=/bin/sh>
Subject: Cron <root@testhost> run-parts /etc/cron.hourly
EOF
{
	cat cron.hdr
	printf '\nTo: root\nFrom: root (Cron Daemon)\n.a dot line\nrun-parts: done\n'
} >cron.msg

# qualified DOMAIN: the header lines of cron.hdr as they must arrive
qualified() {
	cat <<EOF
From: root@$1 (Cron Daemon)
To: root@$1
Cc: alice@$1 (first
 (nested) comment),
	"Ops, night" <ops@$1>, bob@example.net, undisclosed-recipients:;
Reply-To: "unclosed <root>
Sender: Cron Daemon <root@$1>
Resent-From: root
X-Cron-Env: <SHELL=/bin/sh>
Subject: Cron <root@testhost> run-parts /etc/cron.hourly
EOF
}

# replace STORED OLD NEW: STORED with the header block OLD replaced by NEW
replace() {
	/usr/bin/python3 -c '
import sys
d, o, n = (open(f, "rb").read() for f in sys.argv[1:4])
if d.count(o) < 1:
    sys.exit("header block not found in the stored message")
sys.stdout.buffer.write(d.replace(o, n, 1))
' "$@"
}

# relay_once NAME: submit cron.msg as cron does (root, -i, argument root,
# aliased to admin@example.org), keep the stored copy, run the queue;
# $T/NAME.stored is the stored message, $T/NAME.got the one received
# (LF line ends), $T/NAME.json its record
relay_once() {
	capture sh -c "$DMA -i root <cron.msg"
	is "$1: submission exit 0" "$rc" 0
	spool_msg "$SPOOL/M$(qfiles | head -n 1 | cut -c2-)" >"$T/$1.stored"
	capture run_dma -q -D
	is "$1: queue run exit 0" "$rc" 0
	ok "$1: queue empty" wait_queue_empty
	ok "$1: server saw the session end" smtpd_wait_closed relay
	tr -d '\r' <"$(smtpd_last_msg relay)" >"$T/$1.got"
	cp "$(smtpd_last_json relay)" "$T/$1.json"
}

# size_ok NAME: the declared SIZE is the size of what was sent
size_ok() {
	local size
	size=$(wc -c <"$(smtpd_last_msg relay)")
	is "$1: SIZE= is the size sent (with the one stuffed dot)" \
	    "$(smtpd_json "$T/$1.json" 'j["mail_options"]')" \
	    "SIZE=$(($size + 1))"
}

aliases_file <<EOF
root: admin@example.org
EOF

# -- 1. relayed: qualified with the mail name -----------------------------
smtpd_conf relay DEFER
relay_once plain
is "plain: envelope sender" "$(smtpd_json "$T/plain.json" 'j["mail_from"]')" \
    "root@$HOST"
is "plain: envelope recipient" "$(smtpd_json "$T/plain.json" 'j["rcpt_tos"]')" \
    "admin@example.org"
qualified "$HOST" >want.hdr
replace "$T/plain.stored" cron.hdr want.hdr >want.plain
is_file "plain: header addresses qualified, every other byte as stored" \
    "$T/plain.got" want.plain
size_ok plain
like "plain: the body is not touched" "$(cat "$T/plain.got")" '^From: root \(Cron Daemon\)$'
ok "plain: the field that does not parse is logged at debug level" \
    syslog_has "^mail\.debug dma\[[0-9]+\]: [0-9a-f.]+: header field \`Reply-To' not parsed: sent as it is\$"

# -- 2. MASQUERADE: its domain, not the mail name -------------------------
smtpd_conf relay DEFER "MASQUERADE noreply@example.com"
relay_once masq
is "masq: envelope sender masqueraded" \
    "$(smtpd_json "$T/masq.json" 'j["mail_from"]')" "noreply@example.com"
qualified example.com >want.hdr
replace "$T/masq.stored" cron.hdr want.hdr >want.masq
is_file "masq: header addresses get the MASQUERADE domain" "$T/masq.got" want.masq
size_ok masq

# -- 3. REWRITEFROM: From is the envelope sender --------------------------
smtpd_conf relay DEFER "MASQUERADE noreply@example.com" REWRITEFROM
relay_once rewrite
{
	echo "From: noreply@example.com"
	echo "X-Original-From: root (Cron Daemon)"
	qualified example.com | sed 1d
} >want.hdr
replace "$T/rewrite.stored" cron.hdr want.hdr >want.rewrite
is_file "rewrite: From is the sender, the old one in X-Original-From" \
    "$T/rewrite.got" want.rewrite
size_ok rewrite

# -- 4. delivered locally: unchanged --------------------------------------
aliases_file </dev/null
capture sh -c "$DMA -i root <cron.msg"
is "local: submission exit 0" "$rc" 0
spool_msg "$SPOOL/M$(qfiles | head -n 1 | cut -c2-)" >"$T/local.stored"
capture run_dma -q -D
is "local: queue run exit 0" "$rc" 0
ok "local: queue empty" wait_queue_empty
{
	echo "From noreply@example.com DATE"
	cat "$T/local.stored"
	echo
} >want.local
sed -E '1s/^(From [^ ]+) .*/\1 DATE/' /var/mail/root >got.local
is_file "local: the mailbox has the message as stored, headers unchanged" \
    got.local want.local
is "local: nothing more reached the smarthost" "$(smtpd_messages relay)" 3

# -- 5. a field over 64 KiB is sent as it is ------------------------------
smtpd_conf relay DEFER
aliases_file <<EOF
root: admin@example.org
EOF
{
	printf 'From: root\nTo: u0'
	for i in $(seq 1 9000); do
		printf ',\n u%d' "$i"
	done
	printf '\nSubject: long\n\nbody\n'
} >long.msg
capture sh -c "$DMA -i root <long.msg"
is "long: submission exit 0" "$rc" 0
spool_msg "$SPOOL/M$(qfiles | head -n 1 | cut -c2-)" >"$T/long.stored"
capture run_dma -q -D
ok "long: queue empty" wait_queue_empty
tr -d '\r' <"$(smtpd_last_msg relay)" >"$T/long.got"
printf 'From: root\n' >long.old
printf 'From: root@%s\n' "$HOST" >long.new
replace "$T/long.stored" long.old long.new >want.long
is_file "long: From qualified, the 70 KB To field passed on unchanged" \
    "$T/long.got" want.long

# -- 6. REWRITEFROM takes no value ----------------------------------------
smtpd_conf relay "REWRITEFROM yes"
capture sh -c "$DMA -i root </dev/null"
is "REWRITEFROM with a value: exit 78" "$rc" 78
like "REWRITEFROM with a value: the error names it" "$err" 'REWRITEFROM takes no value'

smtpd_stop relay
