#!/bin/bash
# NAT traversal: the on-premises gateway sits behind a NAT (a middle namespace with nftables
# masquerade). NAT is detected, IKE moves to UDP 4500, ESP is UDP-encapsulated, keepalives
# flow, pings pass both ways, and status shows the NAT; over IKEv2, then over IKEv1 (RFC
# 3947), each tunnel torn down cleanly before the next.
#
#   VPCH 172.16.1.10 - VPCGW [203.0.113.1] --- [203.0.113.2] NAT [10.0.0.1] --- [10.0.0.2] ONPGW - ONPH 192.168.10.10
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/ikehub.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/ikehub.sh"

step "topology: the office behind a NAT"
for n in VPCH VPCGW NAT ONPGW ONPH; do ns_new "$n" || finish; done
check "links" bash -c "ip link add lan netns $VPCGW type veth peer name eth0 netns $VPCH &&
    ip link add wan netns $VPCGW type veth peer name isp netns $NAT &&
    ip link add inside netns $NAT type veth peer name wan netns $ONPGW &&
    ip link add lan netns $ONPGW type veth peer name eth0 netns $ONPH"
for ns in "$VPCH" "$VPCGW" "$NAT" "$ONPGW" "$ONPH"; do
    for dev in eth0 lan wan isp inside; do ip -n "$ns" link set dev "$dev" up 2>/dev/null; done
    in_ns "$ns" sysctl -qw net.ipv4.ip_forward=1
done
ip -n "$VPCH" addr add 172.16.1.10/24 dev eth0 && ip -n "$VPCH" route add default via 172.16.1.1
ip -n "$VPCGW" addr add 172.16.1.1/24 dev lan && ip -n "$VPCGW" addr add 203.0.113.1/24 dev wan
ip -n "$VPCGW" route add default via 203.0.113.2
ip -n "$NAT" addr add 203.0.113.2/24 dev isp && ip -n "$NAT" addr add 10.0.0.1/24 dev inside
ip -n "$ONPGW" addr add 10.0.0.2/24 dev wan && ip -n "$ONPGW" route add default via 10.0.0.1
ip -n "$ONPGW" addr add 192.168.10.1/24 dev lan
ip -n "$ONPH" addr add 192.168.10.10/24 dev eth0 && ip -n "$ONPH" route add default via 192.168.10.1
check "masquerade on the NAT" in_ns "$NAT" nft -f - <<'NFT'
table ip nat {
    chain post {
        type nat hook postrouting priority 100;
        oifname "isp" masquerade
    }
}
table ip filter {
    chain natfwd {
        type filter hook forward priority 0;
        # The internet does not route private destinations.
        oifname "isp" ip daddr { 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 } drop
    }
    chain natout {
        type filter hook postrouting priority 200;
        oifname "isp" udp dport 4500 udp length 9 counter comment "keepalive-out"
    }
}
NFT
check "office gateway reaches the VPC gateway through the NAT" in_ns "$ONPGW" ping -c 1 -W 2 203.0.113.1

# One run over IKE version $1: configurations, tunnel, checks, teardown.
run_version() {
VERSION=$1
cat >/tmp/ikt-nat-vpc.toml <<EOF2
[gateway]
name = "vpc-gw"
local_addresses = ["203.0.113.1"]
local_subnets = ["172.16.0.0/16"]
[[peer]]
name = "office"
address = "any"
identity = "office.example.net"
[[connection]]
name = "office"
peer = "office"
version = "$VERSION"
psk = "nat-test-only-9f3kQ2"
remote_subnets = ["192.168.10.0/24"]
start_action = "listen"
EOF2
cat >/tmp/ikt-nat-office.toml <<EOF2
[gateway]
name = "office-gw"
local_addresses = ["10.0.0.2"]
local_subnets = ["192.168.10.0/24"]
[[peer]]
name = "vpc"
address = "203.0.113.1"
[[connection]]
name = "vpc"
peer = "vpc"
local_identity = "office.example.net"
version = "$VERSION"
psk = "nat-test-only-9f3kQ2"
remote_subnets = ["172.16.0.0/16"]
start_action = "initiate"
EOF2

step "$VERSION: ikehub on both gateways; the office initiates through the NAT"
ikehub_start "$VPCGW" /tmp/ikt-nat-vpc.toml && ok "VPC daemon ready" || bad "VPC daemon ready"
ikehub_start "$ONPGW" /tmp/ikt-nat-office.toml && ok "office daemon ready" || bad "office daemon ready"
if wait_for 20 ikehub_established "$ONPGW" vpc && wait_for 10 ikehub_established "$VPCGW" office; then
    ok "tunnel established through the NAT"
else
    bad "tunnel established through the NAT"
    ikehub_log "$VPCGW"; ikehub_log "$ONPGW"
fi
show ikehub_cli "$ONPGW" status

step "$VERSION: NAT detected, IKE on 4500, ESP in UDP"
office=$(ikehub_json "$ONPGW" vpc)
vpc=$(ikehub_json "$VPCGW" office)
grep -E '"local_behind": true' <<<"$office" >/dev/null && ok "office sees itself behind a NAT" || bad "office sees itself behind a NAT"
grep -E '"remote_behind": true' <<<"$vpc" >/dev/null && ok "VPC sees the peer behind a NAT" || bad "VPC sees the peer behind a NAT"
grep -E '"local": "10.0.0.2:4500"' <<<"$office" >/dev/null && ok "office IKE moved to port 4500" || bad "office IKE moved to port 4500"
grep -E '"remote": "203.0.113.2:[0-9]+"' <<<"$vpc" >/dev/null && ok "VPC talks to the NAT's public address" || bad "VPC talks to the NAT's public address"
for ns in "$VPCGW" "$ONPGW"; do
    n=$(ip -n "$ns" xfrm state | grep -c 'encap type espinudp')
    [ "$n" -eq 2 ] && ok "both SAs UDP-encapsulated in $(basename "$ns")" || bad "both SAs UDP-encapsulated in $ns ($n)"
done
show ip -n "$ONPGW" xfrm state

step "$VERSION: traffic both ways"
check "VPC host pings the office host" in_ns "$VPCH" ping -c 5 -i 0.2 -W 2 192.168.10.10
check "office host pings the VPC host" in_ns "$ONPH" ping -c 5 -i 0.2 -W 2 172.16.1.10

step "$VERSION: NAT keepalives (RFC 3948, every 20 s from the NATed side)"
if wait_for 30 bash -c "[ \"\$(ip netns exec $NAT nft list table ip filter | sed -n 's/.*counter packets \([0-9]*\) .*comment \"keepalive-out\".*/\1/p')\" -gt $KEEPALIVES_BEFORE ]"; then
    ok "keepalives cross the NAT ($(keepalives))"
else
    bad "keepalives cross the NAT"
fi
sent=$(ikehub_json "$ONPGW" | sed -n 's/.*"keepalives_sent": \([0-9]*\).*/\1/p')
[ "${sent:-0}" -ge 1 ] && ok "status counts keepalives sent ($sent)" || bad "status counts keepalives sent ($sent)"
check "pings still pass after the keepalive period" in_ns "$VPCH" ping -c 3 -i 0.2 -W 2 192.168.10.10

step "$VERSION: clean teardown"
ikehub_stop "$ONPGW" && ok "office daemon stops cleanly" || bad "office daemon stops cleanly"
ikehub_stop "$VPCGW" && ok "VPC daemon stops cleanly" || bad "VPC daemon stops cleanly"
for ns in "$VPCGW" "$ONPGW"; do
    n=$(ip -n "$ns" xfrm state | grep -c '^src')
    [ "$n" -eq 0 ] && ok "no SA left in $(basename "$ns")" || bad "no SA left in $ns ($n)"
done
}

keepalives() { in_ns "$NAT" nft list table ip filter | sed -n 's/.*counter packets \([0-9]*\) .*comment "keepalive-out".*/\1/p'; }
KEEPALIVES_BEFORE=0
run_version ikev2
KEEPALIVES_BEFORE=$(keepalives)
run_version ikev1
finish
