# local-config.sh - dma.conf handling seen from the command line: leading
# whitespace, CRLF files, comments, syntax errors with line numbers and
# exit 78, an unreadable file, MAILNAME and MASQUERADE in local delivery.

# submit_bob: alice -> bob, exit status in $rc
submit_bob() {
	capture run_as alice sh -c "printf 'Subject: c\n\nx\n' | $DMA bob"
}

# deferred DESC: the last submission was queued and not delivered
deferred() {
	is "$1: exit 0" "$rc" 0
	is "$1: no output" "$out$err" ""
	sleep 0.3
	is "$1: queued, not delivered" "$(qfiles | grep -c .) $(count_msgs /var/mail/bob)" "1 0"
	rm -f "$SPOOL"/Q* "$SPOOL"/M*
}

# -- 1. key/value syntax variants -----------------------------------------------
echo '  DEFER' | dma_conf
submit_bob
deferred "leading blanks before a key are honoured"
printf '\tDEFER\n' | dma_conf
submit_bob
deferred "a leading TAB is honoured"
printf 'DEFER\r\n' | dma_conf
submit_bob
deferred "CRLF config file"
printf '# comment\n\n   \nDEFER   # trailing comment\n' | dma_conf
submit_bob
deferred "comments, blank lines and trailing blanks"
printf 'DEFER' | dma_conf
submit_bob
deferred "no final newline"

# -- 2. syntax errors: exit 78 with file and line ------------------------------
# conf_err DESC WANT-LINE: every mode fails the same way
conf_err() {
	capture run_as alice sh -c "echo x | $DMA bob"
	is "$1: submission exit 78" "$rc" 78
	like "$1: message names file and line" "$err" "^dma: syntax error in /etc/dma/dma\\.conf:$2([^0-9]|\$)"
	capture run_dma -bp
	is "$1: -bp exit 78 too" "$rc" 78
	capture mailq
	is "$1: mailq exit 78 too" "$rc" 78
	like "$1: mailq message" "$err" "^mailq: syntax error in /etc/dma/dma\\.conf:$2([^0-9]|\$)"
	ok "$1: nothing queued" test -z "$(qfiles)"
}
echo FINGERPRINT | dma_conf
conf_err "FINGERPRINT without value" 1
printf '# c\n\nSMARTHOST\n' | dma_conf
conf_err "SMARTHOST without value" 3
printf 'DEFER\nNOSUCHKEY yes\n' | dma_conf
conf_err "unknown key" 2
printf 'DEFER yes\n' | dma_conf
conf_err "flag with a value" 1
printf 'defer\n' | dma_conf
conf_err "lower-case key" 1
printf 'DEFER\nSECURE\n' | dma_conf
conf_err "SECURE is not a keyword" 2
printf 'FINGERPRINT 12:34\n' | dma_conf
capture run_dma -bp
is "short FINGERPRINT: exit 78" "$rc" 78
like "short FINGERPRINT: error about the fingerprint" "$err" '^dma: .*(fingerprint|FINGERPRINT|dma\.conf:1)'
printf 'NULLCLIENT\n' | dma_conf
capture run_dma -bp
is "NULLCLIENT without SMARTHOST: exit 78" "$rc" 78
like "NULLCLIENT without SMARTHOST: message" "$err" 'NULLCLIENT.*SMARTHOST'

# -- 3. an unreadable config file ---------------------------------------------
echo DEFER | dma_conf
chmod 0600 /etc/dma/dma.conf
chown root:root /etc/dma/dma.conf
capture run_dma -bp
is "unreadable config: exit 66" "$rc" 66
like "unreadable config: message" "$err" "^dma: can not open config \`/etc/dma/dma\\.conf': Permission denied\$"
: | dma_conf

# -- 4. MAILNAME and MASQUERADE in local delivery -----------------------------
printf 'MAILNAME mail.example.org\n' | dma_conf
capture run_as alice sh -c "printf 'Subject: m\n\nx\n' | $DMA -D bob@mail.example.org"
is "MAILNAME: mail to bob@MAILNAME is local (exit 0)" "$rc" 0
ok "MAILNAME: delivered" wait_queue_empty
like "MAILNAME: sender domain" "$(head -n 1 /var/mail/bob)" '^From alice@mail\.example\.org '
like "MAILNAME: Received by" "$(cat /var/mail/bob)" \
    "^	by mail\\.example\\.org \\(DragonFly Mail Agent $DMA_VERSION on $HOST\\);\$"
like "MAILNAME: Message-Id domain" "$(cat /var/mail/bob)" '^Message-Id: <[^<>@ ]+@mail\.example\.org>$'
rm -f /var/mail/bob
echo mailname.example.net >"$T/mailname"
chmod 0644 "$T/mailname"
printf 'MAILNAME %s\n' "$T/mailname" | dma_conf
capture run_as alice sh -c "printf 'Subject: m\n\nx\n' | $DMA -D bob"
ok "MAILNAME from a file: delivered" wait_queue_empty
like "MAILNAME from a file: sender domain" "$(head -n 1 /var/mail/bob)" '^From alice@mailname\.example\.net '
rm -f /var/mail/bob
printf 'MASQUERADE herb@ert.org\n' | dma_conf
capture run_as alice sh -c "printf 'Subject: m\n\nx\n' | $DMA -D bob"
ok "MASQUERADE: delivered" wait_queue_empty
like "MASQUERADE user@host: envelope sender" "$(head -n 1 /var/mail/bob)" '^From herb@ert\.org '
like "MASQUERADE: added From header" "$(cat /var/mail/bob)" '^From: <herb@ert\.org>$'
rm -f /var/mail/bob
printf 'MASQUERADE ert.org\n' | dma_conf
capture run_as alice sh -c "printf 'Subject: m\n\nx\n' | $DMA -D -f me@mine.org bob"
ok "MASQUERADE host: delivered" wait_queue_empty
like "MASQUERADE host replaces the -f domain" "$(head -n 1 /var/mail/bob)" '^From me@ert\.org '
rm -f /var/mail/bob
: | dma_conf
capture run_as alice sh -c "printf 'Subject: m\n\nx\n' | $DMA -D -f '' bob"
ok "-f '': delivered" wait_queue_empty
like "-f '' falls back to the user" "$(head -n 1 /var/mail/bob)" "^From alice@$HOST "
rm -f /var/mail/bob
capture run_as alice sh -c "printf 'Subject: m\n\nx\n' | EMAIL=em@e.org $DMA -D bob"
ok "EMAIL: delivered" wait_queue_empty
like "EMAIL sets the sender" "$(head -n 1 /var/mail/bob)" '^From em@e\.org '
