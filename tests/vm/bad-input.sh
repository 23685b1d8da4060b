#!/bin/bash
# Bad input against a live tunnel: 1,000 malformed datagrams to UDP 500 and 4500 (truncated
# headers, wrong lengths, unknown exchange types, garbage in SK, missing non-ESP markers)
# are dropped and counted, while the established tunnel keeps its SAs and passes traffic.
# Also: `status --json` carries the documented fields.
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/ikehub.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/ikehub.sh"

step "two gateways with networks behind them"
ns_new A || finish
ns_new B || finish
check "link" ip link add wan netns "$A" type veth peer name wan netns "$B"
for ns in "$A" "$B"; do ip -n "$ns" link set wan up; ip -n "$ns" link add lan type dummy; ip -n "$ns" link set lan up; done
ip -n "$A" addr add 192.0.2.1/24 dev wan && ip -n "$A" addr add 10.1.0.1/24 dev lan
ip -n "$B" addr add 192.0.2.2/24 dev wan && ip -n "$B" addr add 10.2.0.1/24 dev lan
ip -n "$A" route add 10.2.0.0/24 via 192.0.2.2
ip -n "$B" route add 10.1.0.0/24 via 192.0.2.1
for side in a b; do
    if [ $side = a ]; then me=192.0.2.1 peer=192.0.2.2 mine=10.1.0.0/24 theirs=10.2.0.0/24 start=initiate
    else me=192.0.2.2 peer=192.0.2.1 mine=10.2.0.0/24 theirs=10.1.0.0/24 start=listen; fi
    cat >/tmp/ikt-bad-$side.toml <<EOF2
[gateway]
name = "gw-$side"
local_addresses = ["$me"]
local_subnets = ["$mine"]
[[peer]]
name = "peer"
address = "$peer"
[[connection]]
name = "tunnel"
peer = "peer"
psk = "bad-input-test-only-4hT7"
remote_subnets = ["$theirs"]
start_action = "$start"
EOF2
done
ikehub_start "$B" /tmp/ikt-bad-b.toml && ok "daemon B ready" || bad "daemon B ready"
ikehub_start "$A" /tmp/ikt-bad-a.toml && ok "daemon A ready" || bad "daemon A ready"
wait_for 20 ikehub_established "$A" tunnel && ok "tunnel established" || { bad "tunnel established"; ikehub_log "$A"; ikehub_log "$B"; }
check "ping through the tunnel" in_ns "$A" ping -c 3 -i 0.2 -W 2 -I 10.1.0.1 10.2.0.1

step "status --json carries the documented fields"
json=$(ikehub_json "$A")
for field in uptime_s dataplane dropped_malformed dropped_undecryptable dropped_unknown_sa dropped_unexpected \
    dropped_bad_marker dropped_by_kernel name state peer_address local_subnets remote_subnets ike_sas spi_i spi_r algorithms \
    established_s local_behind remote_behind rekey_in_s children reqid spi_in spi_out local_ts remote_ts \
    bytes_in packets_in bytes_out packets_out; do
    grep -E "\"$field\":" <<<"$json" >/dev/null || missing="${missing:-} $field"
done
[ -z "${missing:-}" ] && ok "all documented status fields present" || bad "status fields missing:$missing"
grep -E '"dataplane": "kernel"' <<<"$json" >/dev/null && ok "kernel dataplane in use" || bad "kernel dataplane in use"

step "1,000 malformed datagrams from B's side to A's ports 500 and 4500"
spi_i=$(ikehub_field "$A" tunnel spi_i)
spi_r=$(ikehub_field "$A" tunnel spi_r)
before_spi_in=$(ikehub_field "$A" tunnel spi_in)
dropped() {
    ikehub_json "$A" | sed -n 's/.*"dropped_[a-z_]*": \([0-9]*\).*/\1/p' | awk '{s += $1} END {print s + 0}'
}
d0=$(dropped)
# hex -> printf escapes
esc() { sed 's/../\\x&/g' <<<"$1"; }
truncated=$(esc "0102030405060708090a")                                  # 10 octets: no header
badlen=$(esc "1111111111111111000000000000000021202200000000000000ffff") # length field 65535
unknown_x=$(esc "${spi_i}${spi_r}00206300000000000000001c")            # exchange 99 on the live SA
garbage_sk=$(esc "${spi_i}${spi_r}2e202500000000000000003c2e000020$(printf 'ab%.0s' $(seq 1 28))")  # SK body of garbage
marker=$(esc "00000000")
send() { # port payload-escapes count
    local i
    exec 3>"/dev/udp/192.0.2.1/$1"
    for ((i = 0; i < $3; i++)); do printf "$2" >&3; done
    exec 3>&-
}
in_ns "$B" bash -c "$(declare -f send); send 500 '$truncated' 150; send 500 '$badlen' 150;
    send 500 '$unknown_x' 150; send 500 '$garbage_sk' 150;
    send 4500 '$marker$truncated' 150; send 4500 '$marker$badlen' 100; send 4500 '$marker$unknown_x' 100;
    send 4500 '$marker$garbage_sk' 50" && ok "1000 malformed IKE datagrams sent" || bad "1000 malformed IKE datagrams sent"
# And 100 without the non-ESP marker on 4500: the kernel takes those as ESP (UDP_ENCAP), and
# finds no SA for them; they must not disturb anything either.
in_ns "$B" bash -c "$(declare -f send); send 4500 '$truncated$truncated' 100" && ok "100 marker-less datagrams sent" ||
    bad "100 marker-less datagrams sent"
all_counted() { [ "$(dropped)" -ge $((d0 + 1000)) ]; }
if wait_for 20 all_counted; then ok "all 1000 dropped and counted ($d0 -> $(dropped))"
else bad "all 1000 dropped and counted ($d0 -> $(dropped))"; fi
ikehub_json "$A" | grep -E '"dropped_' | tr -d ' ,'
show ikehub_cli "$A" status

step "the tunnel is untouched"
[ "$(ikehub_field "$A" tunnel spi_in)" = "$before_spi_in" ] && ok "same CHILD_SA as before" || bad "same CHILD_SA as before"
ikehub_established "$A" tunnel && ok "still established" || bad "still established"
check "ping through the tunnel after the flood" in_ns "$A" ping -c 3 -i 0.2 -W 2 -I 10.1.0.1 10.2.0.1

step "SIGTERM while the peer is unreachable: A's kernel state goes anyway"
ip -n "$B" link set wan down
ikehub_stop "$A" && ok "A exits 0 after its grace period" || bad "A exits 0 after its grace period"
states=$(ip -n "$A" xfrm state | grep -c '^src')
policies=$(ip -n "$A" xfrm policy | grep -c '^src')
[ "$states" -eq 0 ] && [ "$policies" -eq 0 ] && ok "no SA or policy left in A" || bad "no SA or policy left in A ($states SAs, $policies policies)"
finish
