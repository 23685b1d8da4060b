#!/bin/bash
# NAT traversal: the on-premises gateway sits behind a NAT (a middle namespace with nftables
# masquerade). NAT is detected, IKE moves to UDP 4500, ESP is UDP-encapsulated, keepalives
# flow, pings pass both ways, and status shows the NAT; over IKEv2, then over IKEv1 (RFC
# 3947), each tunnel torn down cleanly before the next. Then IKEv1 against Debian's
# strongSwan: strongSwan behind the NAT initiating to ikehub, and ikehub behind the NAT
# initiating to strongSwan.
# guest-payload: strongswan
#
#   VPCH 172.16.1.10 - VPCGW [203.0.113.1] --- [203.0.113.2] NAT [10.0.0.1] --- [10.0.0.2] ONPGW - ONPH 192.168.10.10
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/ikehub.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/ikehub.sh"
# shellcheck source=lib/strongswan.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/strongswan.sh"

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

SWAN_PSK=nat-test-only-swan-4Rt8
# swan_nat_case SIDE: IKEv1 with strongSwan on SIDE (office: behind the NAT, initiating;
# vpc: in front of it, answering) and ikehub on the other gateway.
swan_nat_case() {
    local side=$1 swan_ns ikehub_ns conn case
    if [ "$side" = office ]; then
        swan_ns=$ONPGW ikehub_ns=$VPCGW conn=office case="strongSwan behind the NAT initiates"
    else
        swan_ns=$VPCGW ikehub_ns=$ONPGW conn=vpc case="ikehub behind the NAT initiates to strongSwan"
    fi
    step "ikev1: $case"
    swan_start "$swan_ns" || { bad "$case: charon running"; return 1; }
    if [ "$side" = office ]; then
        swan_conn "$swan_ns" office version=1 local=10.0.0.2 remote=203.0.113.1 \
            local_id=office.example.net remote_id=203.0.113.1 psk="$SWAN_PSK" \
            local_ts=192.168.10.0/24 remote_ts=172.16.0.0/16 \
            ike=aes128-sha256-modp2048 esp=aes128-sha256
        cat >/tmp/ikt-nat-ikehub.toml <<EOF2
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
version = "ikev1"
psk = "$SWAN_PSK"
remote_subnets = ["192.168.10.0/24"]
ike_proposals = ["aes128-sha256-modp2048"]
esp_proposals = ["aes128-sha256"]
start_action = "listen"
EOF2
    else
        swan_conn "$swan_ns" vpc version=1 local=203.0.113.1 remote=%any \
            local_id=203.0.113.1 remote_id=office.example.net psk="$SWAN_PSK" \
            local_ts=172.16.0.0/16 remote_ts=192.168.10.0/24 \
            ike=aes128-sha256-modp2048 esp=aes128-sha256
        cat >/tmp/ikt-nat-ikehub.toml <<EOF2
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
version = "ikev1"
psk = "$SWAN_PSK"
remote_subnets = ["172.16.0.0/16"]
ike_proposals = ["aes128-sha256-modp2048"]
esp_proposals = ["aes128-sha256"]
start_action = "initiate"
EOF2
    fi
    IKEHUB_DIRS+=(/tmp/ikt-nat-ikehub.toml)
    swan_load "$swan_ns" >/dev/null || bad "$case: strongSwan connection loaded"
    ikehub_start "$ikehub_ns" /tmp/ikt-nat-ikehub.toml && ok "$case: ikehub ready" ||
        bad "$case: ikehub ready"
    [ "$side" = office ] && swan_initiate "$swan_ns" office >/dev/null
    if wait_for 30 ikehub_established "$ikehub_ns" "$conn" &&
        wait_for 10 swan_sa_established "$swan_ns" "$conn"; then
        ok "$case: ISAKMP SA and IPsec SA up on both ends"
    else
        bad "$case: ISAKMP SA and IPsec SA up on both ends"
        ikehub_log "$ikehub_ns"
        swan_log "$swan_ns"
    fi
    local status
    status=$(ikehub_json "$ikehub_ns" "$conn")
    if [ "$side" = office ]; then
        grep -E '"remote_behind": true' <<<"$status" >/dev/null && ok "$case: ikehub sees the peer behind a NAT" ||
            bad "$case: ikehub sees the peer behind a NAT"
        grep -E '"remote": "203.0.113.2:[0-9]+"' <<<"$status" >/dev/null &&
            ok "$case: ikehub talks to the NAT's public address" ||
            bad "$case: ikehub talks to the NAT's public address"
    else
        grep -E '"local_behind": true' <<<"$status" >/dev/null && ok "$case: ikehub sees itself behind a NAT" ||
            bad "$case: ikehub sees itself behind a NAT"
        grep -E '"local": "10.0.0.2:4500"' <<<"$status" >/dev/null && ok "$case: ikehub's IKE moved to port 4500" ||
            bad "$case: ikehub's IKE moved to port 4500"
    fi
    local ns n
    for ns in "$VPCGW" "$ONPGW"; do
        n=$(ip -n "$ns" xfrm state | grep -c 'encap type espinudp')
        [ "$n" -eq 2 ] && ok "$case: both SAs UDP-encapsulated in $(basename "$ns")" ||
            bad "$case: both SAs UDP-encapsulated in $(basename "$ns") ($n)"
    done
    check "$case: VPC host pings the office host" in_ns "$VPCH" ping -c 5 -i 0.2 -W 2 192.168.10.10
    check "$case: office host pings the VPC host" in_ns "$ONPH" ping -c 5 -i 0.2 -W 2 172.16.1.10
    if [ "$IKEHUB_FAILED" -gt 0 ]; then
        ip -n "$VPCGW" xfrm state
        ip -n "$ONPGW" xfrm state
    fi
    check "$case: strongSwan deletes the ISAKMP SA" swan_terminate "$swan_ns" "$conn"
    if wait_for 15 ikehub_down_everywhere "$ikehub_ns" "$conn" && wait_for 10 no_esp_state "$ikehub_ns"; then
        ok "$case: ikehub removed its SAs"
    else
        bad "$case: ikehub removed its SAs ($(ip -n "$ikehub_ns" xfrm state | grep -c '^src') left)"
        ikehub_log "$ikehub_ns"
    fi
    ikehub_stop "$ikehub_ns" && ok "$case: ikehub stops cleanly" || bad "$case: ikehub stops cleanly"
    swan_stop "$swan_ns"
}
no_esp_state() { [ "$(ip -n "$1" xfrm state | grep -c '^src')" -eq 0 ]; }

swan_nat_case office
swan_nat_case vpc
finish
