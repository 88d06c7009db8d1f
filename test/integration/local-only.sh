# local-only.sh - the LOCALONLY policy: local mail is delivered, nothing
# leaves the host.  A remote recipient on the command line or in -bs is
# refused at submission (exit 67, 550 5.7.1); one from -t headers or an
# alias is queued and bounced to the sender without a connection; a remote
# sender's bounce goes to postmaster.  LOCALONLY with NULLCLIENT is a
# configuration error.  A recording SMTP server stands as the smarthost
# to show that no connection is ever made.

smtpd_start relay || exit 1
smtpd_conf relay LOCALONLY
aliases_file <<'EOF'
friends: bob, carol@remote.example
EOF

# ---- command line ---------------------------------------------------------
capture sh -c "printf 'Subject: out\n\nout\n' | setpriv --reuid=alice --regid=alice --init-groups $DMA bob@remote.example"
is "command line remote recipient: exit 67" "$rc" 67
like "command line: the reason" "$err" \
    "remote recipient .bob@remote\.example. refused: this host delivers local mail only \(LOCALONLY\)"
is "command line: nothing queued" "$(spool_rest)" ""
capture sh -c "printf 'Subject: mixed\n\nmixed\n' | $DMA bob carol@remote.example"
is "one remote among local ones: exit 67, nothing queued" "$rc:$(spool_rest)" "67:"

printf 'Subject: local\n\nlocal body\n' | send_as alice bob
ok "local mail is delivered" wait_until 20 grep -q '^local body$' /var/mail/bob

# ---- -t headers and aliases: queued, bounced, never sent ----------------
printf 'To: bob, carol@remote.example\nSubject: by header\n\nheader body\n' |
    send_as alice -t
ok "-t: the local copy arrives" wait_until 20 grep -q '^header body$' /var/mail/bob
ok "-t: the sender gets a bounce for the remote one" \
    wait_until 20 grep -q 'LOCALONLY' /var/mail/alice
ok "-t: the bounce names the recipient" grep -q 'carol@remote.example' /var/mail/alice
printf 'Subject: via alias\n\nalias body\n' | send_as alice friends
ok "alias: the local member gets it" wait_until 20 grep -q '^alias body$' /var/mail/bob
ok "alias: a second bounce for the remote member" \
    wait_until 20 sh -c "[ \$(grep -c 'LOCALONLY' /var/mail/alice) -ge 2 ]"
ok "nothing is left queued" wait_queue_empty 30
is "no connection was ever made to the relay" "$(smtpd_sessions relay)" 0
ok "the refusal is logged" syslog_has 'remote delivery refused: LOCALONLY'

# ---- a remote sender's bounce goes to postmaster (root) ------------------
capture sh -c "printf 'To: carol@remote.example\nSubject: from afar\n\nx\n' | $DMA -f someone@remote.example -t"
is "remote sender, remote recipient from -t: accepted" "$rc" 0
ok "its bounce goes to root" wait_until 20 grep -q 'LOCALONLY' /var/mail/root
ok "still nothing queued" wait_queue_empty 30
is "and still no connection" "$(smtpd_sessions relay)" 0

# ---- -bs --------------------------------------------------------------------
capture sh -c "printf 'HELO x\r\nMAIL FROM:<alice>\r\nRCPT TO:<dave@remote.example>\r\nRCPT TO:<bob>\r\nQUIT\r\n' | setpriv --reuid=alice --regid=alice --init-groups $DMA -bs"
like "-bs: a remote RCPT TO gets 550 5.7.1" "$(printf '%s\n' "$out" | tr -d '\r')" \
    '^550 5\.7\.1 remote recipient .dave@remote\.example. refused'
like "-bs: a local one is accepted" "$(printf '%s\n' "$out" | tr -d '\r')" '^250 2\.1\.5 '

# ---- configuration ----------------------------------------------------------
smtpd_conf relay LOCALONLY NULLCLIENT
capture sh -c "echo x | $DMA bob"
is "LOCALONLY with NULLCLIENT: exit 78" "$rc" 78
like "and says why" "$err" 'LOCALONLY and NULLCLIENT exclude each other'
smtpd_stop relay
