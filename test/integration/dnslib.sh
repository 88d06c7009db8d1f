# dnslib.sh - a private DNS server for the integration tests (bash).
#
# Sourced by lib.sh in every test script; it only defines functions.  All
# of them change things of the test namespace only (ns-run.sh mounts an
# overlay over /etc); they refuse to run when /etc is not an overlay.
#
#   dns_start [SNIPPET]   start dnsmasq on 127.0.0.1:53 and [::1]:53 with
#                         the dnsmasq.conf lines of SNIPPET (argument, or
#                         stdin when no argument), e.g.
#                             mx-host=example.test,mx1.example.test,10
#                             host-record=mx1.example.test,127.0.0.1,::1
#                             cname=alias.test,example.test
#                         and wait until it answers.  Every name not
#                         defined is NXDOMAIN (local=/#/).  Always present:
#                           *.stub.test      answered by a scripted server
#                                            (see below)
#                           *.timeout.test   forwarded to a dead server:
#                                            the query times out
#                         /etc/resolv.conf becomes "nameserver 127.0.0.1"
#                         with a 1 s timeout and 2 attempts.  Queries are
#                         logged to $T/dns/dnsmasq.log.  Returns 1 (after
#                         printing the log) if dnsmasq does not come up.
#   dns_stop              stop dnsmasq and the scripted server
#   trust_test_ca CA_PEM  add CA_PEM to the system trust store of the
#                         namespace (/etc/ssl/certs/ca-certificates.crt and
#                         a hashed link in /etc/ssl/certs), as used by
#                         OpenSSL's default verify paths (VERIFYCERT)
#   tls_certs             make the test certificates in $T/certs (see
#                         gen-certs.sh for the names) and trust its CA
#   DNSQ                  path of the test/unit/dnsq driver
#   dnsq_need             skip the rest of the script (exit) when DNSQ is
#                         not built
#
# The scripted server (127.0.0.1:5353, dnsmasq forwards *.stub.test to it)
# answers what dnsmasq cannot be configured to send:
#   servfail.stub.test    SERVFAIL          refused.stub.test   REFUSED
#   badptr.stub.test      MX whose target is a compression pointer out
#                         of the message
#   shortmx.stub.test     MX with 1 byte of RDATA
#   trunc.stub.test       ANCOUNT 1 but no record
#   loop.stub.test        CNAME loop inside the answer (loop -> loop2 -> loop)
#   hopN.stub.test        only "CNAME hop{N+1}.stub.test" (an endless chain
#                         needing one query per hop)
#   anything else         NXDOMAIN

DNSQ=${SRC:-.}/test/unit/dnsq

dnsq_need() {
	if [ ! -x "$DNSQ" ]; then
		skip "DNS driver available" "test/unit/dnsq not built (make test/unit/dnsq)"
		exit 0
	fi
}

# _dns_ns_only: refuse to touch /etc outside the test namespace.
_dns_ns_only() {
	if [ -z "${T:-}" ] || [ "$(findmnt -n -o FSTYPE /etc 2>/dev/null)" != overlay ]; then
		echo "dnslib.sh: /etc is not a test overlay; refusing" >&2
		return 1
	fi
}

_dns_stub_py() {
	cat <<'EOF'
import socket, struct, sys

def name_of(q):
    labels, i = [], 12
    while i < len(q) and q[i] != 0:
        n = q[i]
        labels.append(q[i + 1:i + 1 + n].decode("ascii", "replace").lower())
        i += 1 + n
    return ".".join(labels), i + 5          # end of the question

def enc(name):
    return b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"

def rr(rtype, rdata):
    # owner: pointer to the question name
    return b"\xc0\x0c" + struct.pack(">HHIH", rtype, 1, 0, len(rdata)) + rdata

def answer(q):
    name, qend = name_of(q)
    first = name.split(".")[0]
    rcode, body, an = 0, b"", 0
    if first == "servfail":
        rcode = 2
    elif first == "refused":
        rcode = 5
    elif first == "badptr":
        body, an = rr(15, b"\x00\x0a\xc3\xff"), 1
    elif first == "shortmx":
        body, an = rr(15, b"\x00"), 1
    elif first == "trunc":
        an = 1
    elif first == "loop":
        two = "loop2.stub.test"
        body = rr(5, enc(two))
        body += enc(two) + struct.pack(">HHIH", 5, 1, 0, 2) + b"\xc0\x0c"
        an = 2
    elif first.startswith("hop") and first[3:].isdigit():
        body, an = rr(5, enc("hop%d.stub.test" % (int(first[3:]) + 1))), 1
    elif first == "loop2":
        body, an = rr(5, enc("loop.stub.test")), 1
    else:
        rcode = 3
    flags = 0x8000 | (q[2] & 0x01) << 8 | 0x0400 | 0x0080 | rcode
    hdr = q[:2] + struct.pack(">HHHHH", flags, 1, an, 0, 0)
    return hdr + q[12:qend] + body

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 5353))
while True:
    q, a = s.recvfrom(4096)
    if len(q) >= 17:
        s.sendto(answer(q), a)
EOF
}

dns_start() {
	local snippet i
	_dns_ns_only || return 1
	if [ $# -gt 0 ]; then
		snippet=$1
	else
		snippet=$(cat)
	fi
	mkdir -p "$T/dns"
	_dns_stub_py >"$T/dns/stub.py"
	/usr/bin/python3 "$T/dns/stub.py" </dev/null >"$T/dns/stub.log" 2>&1 &
	_dns_stub_pid=$!
	{
		echo "port=53"
		echo "listen-address=127.0.0.1"
		echo "listen-address=::1"
		echo "bind-interfaces"
		echo "user=root"
		echo "group=root"
		echo "no-resolv"
		echo "no-hosts"
		echo "no-negcache"
		echo "cache-size=0"
		echo "log-queries"
		echo "log-facility=$T/dns/dnsmasq.log"
		echo "local=/#/"
		echo "server=/stub.test/127.0.0.1#5353"
		echo "server=/timeout.test/127.0.0.3"
		echo "host-record=dns-ready.test,127.0.0.1"
		printf '%s\n' "$snippet"
	} >"$T/dns/dnsmasq.conf"
	: >"$T/dns/dnsmasq.log"
	dnsmasq --conf-file="$T/dns/dnsmasq.conf" --keep-in-foreground \
	    --pid-file= </dev/null >"$T/dns/dnsmasq.out" 2>&1 &
	_dns_pid=$!
	rm -f /etc/resolv.conf
	printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:2\n' >/etc/resolv.conf
	i=0
	until getent hosts dns-ready.test >/dev/null 2>&1; do
		i=$((i + 1))
		if [ $i -gt 50 ] || ! kill -0 "$_dns_pid" 2>/dev/null; then
			diag "dnsmasq did not start:"
			diag "$(cat "$T/dns/dnsmasq.out" "$T/dns/dnsmasq.log" 2>/dev/null)"
			return 1
		fi
		sleep 0.1
	done
	return 0
}

dns_stop() {
	[ -n "${_dns_pid:-}" ] && kill "$_dns_pid" 2>/dev/null
	[ -n "${_dns_stub_pid:-}" ] && kill "$_dns_stub_pid" 2>/dev/null
	_dns_pid= _dns_stub_pid=
	return 0
}

trust_test_ca() {
	local h
	_dns_ns_only || return 1
	[ -f "$1" ] || { echo "trust_test_ca: no file $1" >&2; return 1; }
	mkdir -p /etc/ssl/certs
	cp "$1" /etc/ssl/certs/dma-test-ca.pem
	h=$(openssl x509 -hash -noout -in "$1") || return 1
	ln -sf dma-test-ca.pem "/etc/ssl/certs/$h.0"
	cat "$1" >>/etc/ssl/certs/ca-certificates.crt
}

tls_certs() {
	[ -f "$T/certs/ca.crt" ] && return 0
	sh "$SRC/test/integration/gen-certs.sh" "$T/certs" || return 1
	trust_test_ca "$T/certs/ca.crt"
}
