# diag-conf.sh - dma -bP: every dma.conf key with its value and where it
# came from (golden output), secrets masked, auth.conf and the aliases
# file checked, every problem listed with file:line and exit 78.

CF=/etc/dma/dma.conf

# defaults_after N: the golden listing of an all-default dma.conf
defaults() {
	cat <<'G'
SMARTHOST (unset) # default
PORT 25 # default
TIMEOUT 0 # default
MAXADDRESSES 5 # default
ATTEMPTTIMEOUT 900 # default
MAXWORKERS 16 # default
MAXSESSIONS 4 # default
SESSIONMESSAGES 1000 # default
RETRYDELAY 300 # default
MAXRETRYDELAY 10800 # default
MAXQUEUETIME 432000 # default
DELAYWARNING 0 # default
TOKENTIMEOUT 30 # default
ALIASES /etc/aliases # default
SPOOLDIR /var/spool/dma # default
AUTHPATH (unset) # default
CERTFILE (unset) # default
MAILNAME (unset) # default
MASQUERADE (unset) # default
FINGERPRINT (unset) # default
SECURETRANSFER no # default
STARTTLS no # default
OPPORTUNISTIC_TLS no # default
VERIFYCERT no # default
INSECURE no # default
DEFER no # default
FULLBOUNCE no # default
NULLCLIENT no # default
LOCALONLY no # default
DOTFORWARD no # default
REWRITEFROM no # default
G
}

# ---- the shipped sample: every key at its default -----------------------
dma_conf <"$SRC/dma.conf"
capture run_dma -bP
is "sample dma.conf: exit 0" "$rc" 0
is "sample dma.conf: no problems" "$err" ""
is "sample dma.conf: golden listing" "$out" "$(echo "# $CF"; defaults; echo 'aliases /etc/aliases: 0 pairs')"

# ---- an empty file, and no file at all ----------------------------------
: | dma_conf
capture run_dma -bP
is "empty dma.conf: exit 0, no problems" "$rc:$err" "0:"
is "empty dma.conf: golden listing" "$out" "$(echo "# $CF"; defaults; echo 'aliases /etc/aliases: 0 pairs')"
rm -f "$CF"
capture run_dma -bP
is "no dma.conf: exit 0 (the defaults apply)" "$rc:$err" "0:"
is "no dma.conf: golden listing" "$out" \
    "$(echo "# $CF: not found, every key has its default"; defaults; echo 'aliases /etc/aliases: 0 pairs')"

# ---- a good configuration: values with file:line, secrets masked --------
FP=$(printf 'AB:%.0s' $(seq 31))AB
cat <<EOC | dma_conf
# relay
SMARTHOST mail.example.org
PORT 587
SECURETRANSFER
STARTTLS
AUTHPATH /etc/dma/auth.conf
MASQUERADE joe@example.org
FINGERPRINT $(printf '%s' "$FP" | tr -d : | tr A-F a-f)
EOC
printf '# c\njoe@example.org|mail.example.org:s3cr3t-pw\n' | auth_conf
printf 'root: alice\npostmaster: root, bob\n' | aliases_file
capture run_dma -bP
is "good configuration: exit 0, no problems" "$rc:$err" "0:"
is "good configuration: golden listing" "$out" "# $CF
SMARTHOST mail.example.org # $CF:2
PORT 587 # $CF:3
TIMEOUT 0 # default
MAXADDRESSES 5 # default
ATTEMPTTIMEOUT 900 # default
MAXWORKERS 16 # default
MAXSESSIONS 4 # default
SESSIONMESSAGES 1000 # default
RETRYDELAY 300 # default
MAXRETRYDELAY 10800 # default
MAXQUEUETIME 432000 # default
DELAYWARNING 0 # default
TOKENTIMEOUT 30 # default
ALIASES /etc/aliases # default
SPOOLDIR /var/spool/dma # default
AUTHPATH /etc/dma/auth.conf # $CF:6
CERTFILE (unset) # default
MAILNAME (unset) # default
MASQUERADE joe@example.org # $CF:7
FINGERPRINT $FP # $CF:8
SECURETRANSFER yes # $CF:4
STARTTLS yes # $CF:5
OPPORTUNISTIC_TLS no # default
VERIFYCERT no # default
INSECURE no # default
DEFER no # default
FULLBOUNCE no # default
NULLCLIENT no # default
LOCALONLY no # default
DOTFORWARD no # default
REWRITEFROM no # default
auth joe@example.org|mail.example.org ******** # /etc/dma/auth.conf:2
aliases /etc/aliases: 3 pairs"
unlike "the auth.conf password is not shown" "$out$err" 's3cr3t'

# ---- broken files: every problem, with file:line, exit 78 ---------------
cat <<'EOC' | dma_conf
SMARTHOST mail.example.org
NOSUCHKEY yes
PORT 99999
DEFER now
AUTHPATH /etc/dma/auth.conf
CERTFILE /etc/dma/missing.pem
EOC
printf 'joe|mail.example.org:pw1\nno separator here\nann|:pw2\n' | auth_conf
printf 'root: alice\nbroken line without colon\n' | aliases_file
capture run_dma -bP
is "broken files: exit 78 (EX_CONFIG)" "$rc" 78
is "broken files: every problem listed with file:line" "$err" \
"dma: $CF:2: unknown key \`NOSUCHKEY'
dma: $CF:3: PORT must be a number from 1 to 65535
dma: $CF:4: DEFER takes no value
dma: /etc/dma/auth.conf:2: not login|host:password
dma: /etc/dma/auth.conf:3: not login|host:password
dma: CERTFILE \`/etc/dma/missing.pem': No such file or directory
dma: /etc/aliases:2: syntax error
dma: 7 problems found"
like "broken files: the good keys are still listed" "$out" "^SMARTHOST mail\\.example\\.org # $CF:1\$"
like "broken files: a bad number shows the default" "$out" "^PORT 25 # default\$"
like "broken files: the good auth.conf line is listed" "$out" \
    "^auth joe\\|mail\\.example\\.org \\*+ # /etc/dma/auth\\.conf:1\$"
unlike "broken files: no password shown" "$out$err" 'pw[12]'

printf 'AUTHPATH /etc/dma/nosuch.conf\n' | dma_conf
: | aliases_file
capture run_dma -bP
is "missing auth file: exit 78" "$rc" 78
like "missing auth file: named" "$err" "^dma: can not open auth file \`/etc/dma/nosuch\\.conf': No such file or directory\$"

printf 'STARTTLS\n' | dma_conf
capture run_dma -bP
is "STARTTLS alone: exit 0 (dma accepts it)" "$rc" 0
like "STARTTLS alone: a warning" "$err" "^dma: warning: STARTTLS has no effect without SECURETRANSFER"

# ---- who may use it -------------------------------------------------------
capture run_as alice "$DMA" -bP
is "a user outside group mail: exit 77 (EX_NOPERM)" "$rc" 77
like "a user outside group mail: told why" "$err" "^dma: -bP: only root and group mail"
is "a user outside group mail: nothing shown" "$out" ""
capture run_dma -bP extra
is "-bP with an operand: exit 64" "$rc" 64
