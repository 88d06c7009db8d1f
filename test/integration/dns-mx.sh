# dns-mx.sh - MX ordering, every address of every MX, CNAME following.
# Runs test/unit/dnsq (dns_get_mx_list) against a private dnsmasq.

dnsq_need
dns_start "
mx-host=order.test,mx20.order.test,20
mx-host=order.test,mx10.order.test,10
mx-host=order.test,mx30.order.test,30
host-record=mx10.order.test,127.0.0.1,::1
host-record=mx20.order.test,127.0.0.2
host-record=mx30.order.test,::1
mx-host=equal.test,a.equal.test,10
mx-host=equal.test,b.equal.test,10
mx-host=equal.test,c.equal.test,10
mx-host=equal.test,backup.equal.test,50
host-record=a.equal.test,127.0.0.11
host-record=b.equal.test,127.0.0.12
host-record=c.equal.test,127.0.0.13
host-record=backup.equal.test,127.0.0.14
mx-host=multi.test,mx.multi.test,5
host-record=mx.multi.test,127.0.0.21,::1
host-record=mx.multi.test,127.0.0.22
mx-host=canon.test,mx.canon.test,7
host-record=mx.canon.test,127.0.0.31
cname=alias.test,canon.test
cname=hop1.test,hop2.test
cname=hop2.test,hop3.test
cname=hop3.test,canon.test
host-record=plain.test,127.0.0.41
cname=toplain.test,plain.test
mx-host=dup.test,h.dup.test,20
mx-host=dup.test,h.dup.test,10
host-record=h.dup.test,127.0.0.61
$(for i in $(seq 100 139); do echo "mx-host=big.test,m$i.big.test,$i"; done)
mx-host=big.test,best.big.test,1
host-record=best.big.test,127.0.0.51
host-record=m100.big.test,127.0.0.52
host-record=m139.big.test,127.0.0.53
" || exit 1

capture "$DNSQ" order.test
is "MX in preference order, IPv6 before IPv4 per host" "$out" \
"10 mx10.order.test ::1 25
10 mx10.order.test 127.0.0.1 25
20 mx20.order.test 127.0.0.2 25
30 mx30.order.test ::1 25"
is "exit status 0 on success" "$rc" 0

capture "$DNSQ" -p 2525 order.test
like "the port is set in every candidate" "$out" '^10 mx10.order.test ::1 2525$'
unlike "no candidate keeps port 25" "$out" ' 25$'

capture "$DNSQ" ORDER.Test.
is "case and a trailing dot do not matter" "$(printf '%s\n' "$out" | wc -l)" 4

capture "$DNSQ" multi.test
is "every address of an MX host" "$(printf '%s\n' "$out" | sort)" \
"5 mx.multi.test 127.0.0.21 25
5 mx.multi.test 127.0.0.22 25
5 mx.multi.test ::1 25"
is "its IPv6 address first" "$(printf '%s\n' "$out" | head -n 1)" \
    "5 mx.multi.test ::1 25"

# Equal preferences: all orders of a, b, c must be possible; the backup
# always comes last.  30 runs make missing any first host very unlikely
# (3 * (2/3)^30 < 1e-5).
firsts=""
backup_last=1
for i in $(seq 1 30); do
	capture "$DNSQ" equal.test
	firsts="$firsts $(printf '%s\n' "$out" | head -n 1 | cut -d' ' -f2)"
	[ "$(printf '%s\n' "$out" | tail -n 1)" = "50 backup.equal.test 127.0.0.14 25" ] ||
	    backup_last=0
done
seen=$(printf '%s\n' $firsts | sort -u | tr '\n' ' ')
is "equal preferences come in random order (first hosts seen)" "$seen" \
    "a.equal.test b.equal.test c.equal.test "
is "a higher preference value stays behind" "$backup_last" 1

capture "$DNSQ" alias.test
is "CNAME to a domain with MX is followed" "$out" "7 mx.canon.test 127.0.0.31 25"

capture "$DNSQ" hop1.test
is "a chain of three CNAMEs is followed" "$out" "7 mx.canon.test 127.0.0.31 25"

capture "$DNSQ" toplain.test
is "CNAME to a name without MX: implicit MX of the canonical name" "$out" \
    "0 plain.test 127.0.0.41 25"

# A chain where every hop needs its own query (scripted server).
capture "$DNSQ" hop1.stub.test
is "endless CNAME chain: permanent" "$rc" 69
like "endless CNAME chain: reason" "$out" \
    '^PERMFAIL 5\.4\.4 DNS lookup failure: CNAME chain too long for hop1\.stub\.test$'
ok "the chain was given up after a bounded number of queries" \
    sh -c "[ \$(grep -c 'query\[MX\] hop[0-9]*\.stub\.test' '$T/dns/dnsmasq.log') -le 10 ]"

capture "$DNSQ" loop.stub.test
is "CNAME loop inside one answer: permanent" "$out" \
    "PERMFAIL 5.4.4 DNS lookup failure: CNAME chain too long for loop.stub.test"

capture "$DNSQ" dup.test
is "an MX host listed twice is tried once, with its best preference" "$out" \
    "10 h.dup.test 127.0.0.61 25"

# 41 MX records (a TCP answer): only the 32 best are used, the best first.
capture "$DNSQ" big.test
is "many MX records: the 32 best, in order" "$out" \
"1 best.big.test 127.0.0.51 25
100 m100.big.test 127.0.0.52 25"
hosts=$(grep -Eo 'query\[A\] m[0-9]+\.big\.test' "$T/dns/dnsmasq.log" | sort -u | wc -l)
is "many MX records: 31 others looked up" "$hosts" 31
