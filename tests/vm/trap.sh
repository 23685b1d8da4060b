#!/bin/bash
# On-demand tunnels (start_action = "trap"): gateway A installs its policies without SAs at
# start, and the first packet from its inner address to B's network brings the tunnel up
# (the kernel's ACQUIRE). B listens. When B takes the tunnel down, A's policies stay, and
# the next packet brings it up again; when A stops, its policies go. Then the same against
# strongSwan as B.
# guest-payload: strongswan
#
#   A [10.1.0.1 | 192.0.2.1] === [192.0.2.2 | 10.2.0.1] B
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/ikehub.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/ikehub.sh"
# shellcheck source=lib/strongswan.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/strongswan.sh"

step "topology: two gateways, each with an inner address"
ns_new A || finish
ns_new B || finish
check "link between the gateways" ip link add wan netns "$A" type veth peer name wan netns "$B"
check "inner networks" bash -c "ip -n $A link add inner type dummy && ip -n $B link add inner type dummy"
for ns in "$A" "$B"; do
    ip -n "$ns" link set dev wan up
    ip -n "$ns" link set dev inner up
done
ip -n "$A" addr add 192.0.2.1/24 dev wan
ip -n "$B" addr add 192.0.2.2/24 dev wan
ip -n "$A" addr add 10.1.0.1/24 dev inner
ip -n "$B" addr add 10.2.0.1/24 dev inner
ip -n "$A" route add 10.2.0.0/24 via 192.0.2.2
ip -n "$B" route add 10.1.0.0/24 via 192.0.2.1

dir=$(mktemp -d /tmp/ikt-trap.XXXXXX)
IKEHUB_DIRS+=("$dir")
# config NAME ADDRESS SUBNET PEER PEER_ADDRESS PEER_SUBNET START_ACTION
config() {
    cat <<EOF2
[gateway]
name = "$1"
local_addresses = ["$2"]
local_subnets = ["$3"]
[[peer]]
name = "$4"
address = "$5"
[[connection]]
name = "$4"
peer = "$4"
psk = "trap-test-only-7Hq2xPw"
remote_subnets = ["$6"]
start_action = "$7"
EOF2
}
config a 192.0.2.1 10.1.0.0/24 b 192.0.2.2 10.2.0.0/24 trap >"$dir/a.toml"
config b 192.0.2.2 10.2.0.0/24 a 192.0.2.1 10.1.0.0/24 listen >"$dir/b.toml"

# Pings from A's inner address to B's; passes when all COUNT are answered.
ping_all() {
    local count=$1 out received
    out=$(in_ns "$A" ping -c "$count" -i 0.2 -W 1 -I 10.1.0.1 10.2.0.1 2>&1)
    received=$(sed -n 's/.* \([0-9]*\) \(packets \)\{0,1\}received.*/\1/p' <<<"$out")
    if [ "${received:-0}" = "$count" ]; then
        ok "$count pings through the tunnel, all answered"
    else
        printf '%s\n' "$out"
        bad "$count pings through the tunnel, all answered (${received:-0} received)"
    fi
}

trapped() {
    ikehub_json "$A" b | grep -E '"state": "trapped"' >/dev/null
}

policies() { ip -n "$A" xfrm policy | grep -c '^src'; }
trap_policies() { ip -n "$A" xfrm policy | grep -c 'proto esp reqid [0-9]* mode tunnel'; }
states() { ip -n "$A" xfrm state | grep -c '^src'; }

# The trap: out, in and fwd policies for 10.1.0.0/24 <-> 10.2.0.0/24, with a template.
trap_in_place() {
    [ "$(policies)" -eq 3 ] && [ "$(trap_policies)" -eq 3 ]
}

step "ikehub on both gateways"
check "A's configuration is valid and shows the trap" bash -c "ikehub check-config $dir/a.toml | grep -E ', trap' >/dev/null"
ikehub_start "$B" "$dir/b.toml" && ok "B's daemon ready" || bad "B's daemon ready"
ikehub_start "$A" "$dir/a.toml" && ok "A's daemon ready" || bad "A's daemon ready"

step "before any traffic: policies, no SA, no IKE SA"
wait_for 10 trapped && ok "A shows the connection as trapped" || { bad "A shows the connection as trapped"; show ikehub_cli "$A" status; }
ikehub_down_everywhere "$A" b && ok "A has no IKE SA" || bad "A has no IKE SA"
ikehub_down_everywhere "$B" a && ok "B has no IKE SA" || bad "B has no IKE SA"
trap_in_place && ok "A's trap policies are installed" || { bad "A's trap policies are installed"; ip -n "$A" xfrm policy; }
[ "$(states)" -eq 0 ] && ok "A holds no SA" || { bad "A holds no SA"; ip -n "$A" xfrm state; }

step "the first packet brings the tunnel up"
t0=$(now_ms)
# Dropped while the SAs are negotiated (the kernel holds no SA yet); it starts them.
in_ns "$A" ping -c 1 -W 1 -I 10.1.0.1 10.2.0.1 >/dev/null 2>&1
if wait_for 20 ikehub_established "$A" b && wait_for 10 ikehub_established "$B" a; then
    ok "tunnel established on both gateways"
    echo "@@METRIC first_packet_to_established_ms=$(($(now_ms) - t0))"
else
    bad "tunnel established on both gateways"
    ikehub_log "$A"; ikehub_log "$B"
fi
grep "traffic for b: initiating" "$(ikehub_logfile "$A")" >/dev/null &&
    ok "A logged the traffic that initiated" || bad "A logged the traffic that initiated"
ping_all 5
[ "$(states)" -eq 2 ] && ok "A holds the CHILD_SA's two SAs" || { bad "A holds the CHILD_SA's two SAs"; ip -n "$A" xfrm state; }
trap_in_place && ok "the CHILD_SA uses the trap's policies" || { bad "the CHILD_SA uses the trap's policies"; ip -n "$A" xfrm policy; }
reqid_policy=$(ip -n "$A" xfrm policy | sed -n 's/.*proto esp reqid \([0-9]*\) mode tunnel.*/\1/p' | sort -u)
reqid_state=$(ip -n "$A" xfrm state | sed -n 's/.*reqid \([0-9]*\) mode tunnel.*/\1/p' | sort -u)
[ -n "$reqid_policy" ] && [ "$reqid_policy" = "$reqid_state" ] &&
    ok "SAs and policies share the trap's reqid ($reqid_policy)" ||
    bad "SAs and policies share the trap's reqid (policies $reqid_policy, SAs $reqid_state)"

step "B takes the tunnel down: A's trap stays"
check "ikehub down on B" ikehub_cli "$B" down a
wait_for 10 ikehub_down_everywhere "$A" b && ok "A has no IKE SA" || bad "A has no IKE SA"
wait_for 10 trapped && ok "A shows the connection as trapped again" || bad "A shows the connection as trapped again"
wait_for 5 bash -c "[ \"\$(ip -n $A xfrm state | grep -c '^src')\" -eq 0 ]" && ok "A's SAs are gone" ||
    { bad "A's SAs are gone"; ip -n "$A" xfrm state; }
trap_in_place && ok "A's trap policies remain" || { bad "A's trap policies remain"; ip -n "$A" xfrm policy; }
after=$(ip -n "$A" xfrm policy | sed -n 's/.*proto esp reqid \([0-9]*\) mode tunnel.*/\1/p' | sort -u)
[ "$after" = "$reqid_policy" ] && ok "with the same reqid" || bad "with the same reqid ($reqid_policy -> $after)"

step "the next packet brings it up again"
in_ns "$A" ping -c 1 -W 1 -I 10.1.0.1 10.2.0.1 >/dev/null 2>&1
if wait_for 20 ikehub_established "$A" b; then
    ok "tunnel established again"
else
    bad "tunnel established again"
    ikehub_log "$A"; ikehub_log "$B"
fi
ping_all 5

step "A stops: its policies go"
ikehub_stop "$A" && ok "A's daemon stopped cleanly" || bad "A's daemon stopped cleanly"
[ "$(policies)" -eq 0 ] && ok "no policy left on A" || { bad "no policy left on A"; ip -n "$A" xfrm policy; }
[ "$(states)" -eq 0 ] && ok "no SA left on A" || { bad "no SA left on A"; ip -n "$A" xfrm state; }

step "strongSwan as B"
ikehub_stop "$B" && ok "B's ikehub stopped" || bad "B's ikehub stopped"
swan_start "$B" || finish
swan_conn "$B" b local=192.0.2.2 remote=192.0.2.1 psk=trap-test-only-7Hq2xPw \
    local_ts=10.2.0.0/24 remote_ts=10.1.0.0/24 && swan_load "$B" &&
    ok "strongSwan listens" || bad "strongSwan listens"
ikehub_start "$A" "$dir/a.toml" && ok "A's daemon ready" || bad "A's daemon ready"
wait_for 10 trapped && trap_in_place && [ "$(states)" -eq 0 ] &&
    ok "A is trapped: policies, no SA" || bad "A is trapped: policies, no SA"
in_ns "$A" ping -c 1 -W 1 -I 10.1.0.1 10.2.0.1 >/dev/null 2>&1
if wait_for 20 ikehub_established "$A" b && wait_for 10 swan_sa_established "$B" b; then
    ok "the first packet brings the tunnel to strongSwan up"
else
    bad "the first packet brings the tunnel to strongSwan up"
    ikehub_log "$A"; swan_log "$B"
fi
ping_all 5
check "strongSwan takes the tunnel down" swan_terminate "$B" b
wait_for 10 ikehub_down_everywhere "$A" b && wait_for 10 trapped && trap_in_place &&
    ok "A is trapped again" || { bad "A is trapped again"; ip -n "$A" xfrm policy; }
in_ns "$A" ping -c 1 -W 1 -I 10.1.0.1 10.2.0.1 >/dev/null 2>&1
wait_for 20 ikehub_established "$A" b && ok "the next packet brings it up again" ||
    { bad "the next packet brings it up again"; ikehub_log "$A"; swan_log "$B"; }
ping_all 5
ikehub_stop "$A" && [ "$(policies)" -eq 0 ] && ok "A stopped; no policy left" || bad "A stopped; no policy left"
finish
