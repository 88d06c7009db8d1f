# smtp-stall.sh - a smarthost that stops answering at each stage of the
# dialogue (connection open, no reply): with TIMEOUT set in dma.conf the
# attempt gives up after that many seconds, the entry stays queued, and the
# next queue run delivers once the server answers again.
# (Without TIMEOUT the RFC 5321 timeouts apply: minutes per stage.)

tls_certs || exit 1
C=$T/certs
printf 'Subject: stall\n\nbody line\n' >msg

# step_of STAGE: the step name dma uses in logs.
step_of() {
	case $1 in
	greeting) echo connect ;;
	ehlo) echo EHLO ;;
	starttls) echo STARTTLS ;;
	auth) echo AUTH ;;
	mail) echo "MAIL FROM" ;;
	rcpt) echo "RCPT TO" ;;
	data) echo DATA ;;
	eod) echo "final DATA" ;;
	esac
}

# setup STAGE NAME: start server NAME stalling once at STAGE, with what the
# stage needs (TLS, AUTH), and the matching dma.conf.
setup() {
	local extra="" conf=""
	case $1 in
	starttls) extra="--tls starttls --cert $C/server.crt --key $C/server.key"
		  conf="SECURETRANSFER STARTTLS" ;;
	auth)	  extra="--auth PLAIN --user u --password p"
		  conf="INSECURE AUTHPATH=/etc/dma/auth.conf" ;;
	esac
	smtpd_start "$2" $extra --fault-once --fault "$1=stall" || return 1
	{
		printf 'SMARTHOST 127.0.0.1\nPORT %s\nTIMEOUT 2\nDEFER\n' "$(smtpd_port "$2")"
		for l in $conf; do
			printf '%s\n' "$l" | tr '=' ' '
		done
	} | dma_conf
	printf 'u|127.0.0.1:p\n' | auth_conf
}

n=0
for stage in greeting ehlo starttls auth mail rcpt data eod; do
	n=$((n + 1))
	name=st$stage
	setup "$stage" "$name" || exit 1
	capture run_as alice sh -c "$DMA s$n@example.org <msg"
	start=$(date +%s)
	capture run_dma -q -D
	secs=$(($(date +%s) - start))
	is "$stage stall: queue run exit 0" "$rc" 0
	ok "$stage stall: gave up after the TIMEOUT (${secs}s)" test "$secs" -lt 15
	is "$stage stall: entry still queued" "$(qfiles | grep -c .)" 1
	ok "$stage stall: logged as a timeout" syslog_has \
	    "remote delivery deferred: 127\\.0\\.0\\.1 \\[127\\.0\\.0\\.1\\] failed after $(step_of "$stage"): timeout after 2 seconds"
	is "$stage stall: nothing accepted" "$(smtpd_messages "$name")" 0
	capture run_dma -q -D
	ok "$stage stall: the next queue run delivers" wait_queue_empty
	is "$stage stall: accepted once" "$(smtpd_messages "$name")" 1
	smtpd_stop "$name"
done
