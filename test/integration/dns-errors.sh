# dns-errors.sh - which DNS failures bounce (permanent) and which defer
# (temporary), with their reasons; null MX; broken answers.
# Runs test/unit/dnsq (dns_get_mx_list) against a private dnsmasq.

dnsq_need
dns_start '
mx-host=nullmx.test,.,0
mx-host=deadmx.test,nowhere.deadmx.test,10
mx-host=halfdead.test,nowhere.halfdead.test,5
mx-host=halfdead.test,mx.halfdead.test,10
host-record=mx.halfdead.test,127.0.0.8
mx-host=slowmx.test,mx.timeout.test,10
' || exit 1

# expect DESC DOMAIN RC OUTPUT: exact status and output line of dnsq.
expect() {
	capture "$DNSQ" "$2"
	is "$1" "$rc $out" "$3 $4"
}

expect "NXDOMAIN bounces" nx.test 69 \
    "PERMFAIL 5.1.2 DNS lookup failure: host nx.test not found"
expect "NXDOMAIN under an existing zone bounces" no.such.host.test 69 \
    "PERMFAIL 5.1.2 DNS lookup failure: host no.such.host.test not found"
expect "null MX (RFC 7505) bounces with its reason" nullmx.test 69 \
    "PERMFAIL 5.1.10 domain nullmx.test does not accept mail (null MX)"
unlike "null MX: no address lookup follows" "$(cat "$T/dns/dnsmasq.log")" \
    'query\[(A|AAAA)\] (nullmx\.test|\.|<root>) '
expect "SERVFAIL defers" servfail.stub.test 75 \
    "TEMPFAIL 4.4.3 DNS lookup failure: temporary failure looking up MX of servfail.stub.test"
expect "REFUSED defers" refused.stub.test 75 \
    "TEMPFAIL 4.4.3 DNS lookup failure: temporary failure looking up MX of refused.stub.test"
expect "a query that times out defers" slow.timeout.test 75 \
    "TEMPFAIL 4.4.3 DNS lookup failure: temporary failure looking up MX of slow.timeout.test"
expect "MX hosts without address defer" deadmx.test 75 \
    "TEMPFAIL 4.4.3 DNS lookup failure: no address for any MX host of deadmx.test"
expect "MX host whose lookup times out: defer" slowmx.test 75 \
    "TEMPFAIL 4.4.3 DNS lookup failure: temporary failure looking up the address for any MX host of slowmx.test"
expect "an MX host without address is skipped" halfdead.test 0 \
    "10 mx.halfdead.test 127.0.0.8 25"

# Broken answers from the scripted server: deferred, never a crash.
for d in badptr shortmx trunc; do
	capture "$DNSQ" "$d.stub.test"
	is "malformed answer ($d) defers" "$rc" 75
	like "malformed answer ($d): reason" "$out" \
	    "^TEMPFAIL 4\\.4\\.3 DNS lookup failure: .* $d\\.stub\\.test\$"
done
