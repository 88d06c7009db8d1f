# diag-route.sh - dma -bt: the route of addresses (golden output): the
# alias expansion tree, local users and their mailboxes, remote domains
# with their MX hosts in order via the lab DNS, null MX, NXDOMAIN, the
# SMARTHOST; nothing is queued.

dns_start '
mx-host=example.test,mx20.example.test,20
mx-host=example.test,mx10.example.test,10
host-record=mx10.example.test,127.0.0.1,::1
host-record=mx20.example.test,127.0.0.2
host-record=nomx.test,127.0.0.5
mx-host=nullmx.test,.,0
' || exit 1

aliases_file <<'A'
postmaster: root
root: alice, ops@example.test
team: bob, alice
loop1: loop2
loop2: loop1
A
: | dma_conf

capture run_as alice "$DMA" -bt postmaster
is "alias tree: exit 0" "$rc" 0
is "alias tree: golden" "$out" "postmaster
  postmaster: alias
    root: alias
      alice: local user, mailbox /var/mail/alice
      ops@example.test: remote, next hop MX of example.test port 25
        pref 10 mx10.example.test [::1]
        pref 10 mx10.example.test [127.0.0.1]
        pref 20 mx20.example.test [127.0.0.2]"

capture run_as alice "$DMA" -bt bob "Team <team@$HOST>, alice@localhost"
is "local users, a list operand: exit 0" "$rc" 0
is "local users: golden" "$out" "bob
  bob: local user, mailbox /var/mail/bob
Team <team@$HOST>, alice@localhost
  team: alias
    bob: local user, mailbox /var/mail/bob
    alice: local user, mailbox /var/mail/alice
  alice: local user, mailbox /var/mail/alice"

capture run_as alice "$DMA" -bt user@NoMX.test
is "no MX: the domain itself, exit 0" "$rc:$out" "0:user@NoMX.test
  user@nomx.test: remote, next hop MX of nomx.test port 25
    pref 0 nomx.test [127.0.0.5]"

capture run_as alice "$DMA" -bt a@nullmx.test
is "null MX: exit 68 (EX_NOHOST)" "$rc" 68
is "null MX: golden" "$out" "a@nullmx.test
  a@nullmx.test: remote, next hop MX of nullmx.test port 25
    undeliverable: domain nullmx.test does not accept mail (null MX)"

capture run_as alice "$DMA" -bt a@nx.test
is "NXDOMAIN: exit 68" "$rc" 68
is "NXDOMAIN: golden" "$out" "a@nx.test
  a@nx.test: remote, next hop MX of nx.test port 25
    undeliverable: DNS lookup failure: host nx.test not found"

capture run_as alice "$DMA" -bt nosuchuser loop1 bob
is "errors: exit 65 (the first failure)" "$rc" 65
is "errors: golden" "$out" "nosuchuser
  error: invalid recipient \`nosuchuser'
loop1
  loop1: alias
    loop2: alias
  error: alias loop: loop1 -> loop2 -> loop1
bob
  bob: local user, mailbox /var/mail/bob"

printf 'SMARTHOST relay.example.test\nPORT 587\n' | dma_conf
capture run_as alice "$DMA" -bt root
is "SMARTHOST: golden" "$rc:$out" "0:root
  root: alias
    alice: local user, mailbox /var/mail/alice
    ops@example.test: remote, next hop SMARTHOST relay.example.test:587"

printf 'LOCALONLY\n' | dma_conf
capture run_as alice "$DMA" -bt root x@example.test
is "LOCALONLY: exit 67 (EX_NOUSER)" "$rc" 67
is "LOCALONLY: golden" "$out" "root
  root: alias
    alice: local user, mailbox /var/mail/alice
    ops@example.test: remote, not sent (LOCALONLY): bounced
x@example.test
  error: remote recipient \`x@example.test' refused: this host delivers local mail only (LOCALONLY)"

capture run_as alice "$DMA" -bt
is "-bt without an address: exit 64" "$rc" 64
is "nothing was queued or delivered" "$(qfiles)$(ls /var/mail)" ""
