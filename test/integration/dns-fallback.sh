# dns-fallback.sh - no MX: the domain's own addresses (implicit MX),
# IPv6-only hosts over ::1, address literals and the smarthost.
# Runs test/unit/dnsq (dns_get_mx_list) against a private dnsmasq.

dnsq_need
dns_start '
host-record=nomx.test,127.0.0.5,::1
host-record=v6only.test,::1
host-record=v4only.test,127.0.0.6
txt-record=txtonly.test,"no address here"
mx-host=v6mx.test,mx.v6mx.test,10
host-record=mx.v6mx.test,::1
host-record=relay.test,127.0.0.7,::1
' || exit 1

capture "$DNSQ" nomx.test
is "no MX: the domain itself with preference 0, IPv6 first" "$out" \
"0 nomx.test ::1 25
0 nomx.test 127.0.0.5 25"

capture "$DNSQ" v6only.test
is "no MX, AAAA only: ::1 (no AI_ADDRCONFIG with loopback only)" "$out" \
    "0 v6only.test ::1 25"

capture "$DNSQ" v6mx.test
is "MX whose host has only an AAAA record" "$out" "10 mx.v6mx.test ::1 25"

capture "$DNSQ" v4only.test
is "no MX, A only" "$out" "0 v4only.test 127.0.0.6 25"

capture "$DNSQ" txtonly.test
is "no MX and no address: permanent" "$rc" 69
like "no MX and no address: reason" "$out" \
    '^PERMFAIL 5\.[0-9.]+ DNS lookup failure: host txtonly\.test has no MX and no address$'

# Address literals in a recipient domain: no DNS at all.
capture "$DNSQ" '[127.0.0.1]'
is "address literal" "$out" "0 127.0.0.1 127.0.0.1 25"
capture "$DNSQ" '[IPv6:::1]'
is "IPv6 address literal" "$out" "0 ::1 ::1 25"
capture "$DNSQ" '[no.such.literal]'
is "malformed address literal: permanent" "$rc" 69

# SMARTHOST: resolved directly, never an MX query, failures temporary.
capture "$DNSQ" -s -p 587 relay.test
is "smarthost name: every address, the given port" "$out" \
"0 relay.test ::1 587
0 relay.test 127.0.0.7 587"
capture "$DNSQ" -s 127.0.0.1
is "smarthost IPv4 literal" "$out" "0 127.0.0.1 127.0.0.1 25"
capture "$DNSQ" -s '[::1]'
is "smarthost [IPv6] literal" "$out" "0 ::1 ::1 25"
capture "$DNSQ" -s nx.test
is "smarthost that does not resolve: temporary" "$rc" 75
like "smarthost that does not resolve: reason" "$out" \
    '^TEMPFAIL 4\.[0-9.]+ DNS lookup failure: host nx\.test not found$'
capture "$DNSQ" -s txtonly.test
is "smarthost without address: temporary" "$rc" 75
capture "$DNSQ" -s servfail.stub.test
is "smarthost lookup SERVFAIL: temporary" "$rc" 75
unlike "no MX query for the smarthost" "$(cat "$T/dns/dnsmasq.log")" \
    'query\[MX\] (relay\.test|nx\.test)'
