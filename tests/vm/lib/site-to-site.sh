# The first seed scenario's network, for the configurations of examples/site-to-site.toml
# (VPC side) and examples/site-to-site-onprem.toml (office side). Source after common.sh.
#
#   VPCH 172.16.1.10 --- VPCGW [172.16.1.1 | 203.0.113.1] === ONPGW [198.51.100.20 | 192.168.10.1] --- ONPH 192.168.10.10
#
#   site_to_site_topology   namespaces VPCH VPCGW ONPGW ONPH (their names in those variables),
#                           links, addresses, routes and forwarding; on each gateway's internet
#                           link (`wan`) an nftables egress chain counts ESP and ICMP and drops
#                           private destinations, as the internet would: the sites reach each
#                           other only through the tunnel (checked)
#   wire_packets esp|icmp|private   packets of that kind both gateways sent on the internet link

site_to_site_topology() {
    local ns dev
    ns_new VPCH || finish
    ns_new VPCGW || finish
    ns_new ONPGW || finish
    ns_new ONPH || finish
    check "VPC LAN link" ip link add lan netns "$VPCGW" type veth peer name eth0 netns "$VPCH"
    check "office LAN link" ip link add lan netns "$ONPGW" type veth peer name eth0 netns "$ONPH"
    check "internet link between the gateways" ip link add wan netns "$VPCGW" type veth peer name wan netns "$ONPGW"
    for ns in "$VPCH" "$VPCGW" "$ONPGW" "$ONPH"; do
        ip -n "$ns" link set dev lo up
        for dev in eth0 lan wan; do ip -n "$ns" link set dev "$dev" up 2>/dev/null; done
    done
    ip -n "$VPCH" addr add 172.16.1.10/24 dev eth0
    ip -n "$VPCH" route add default via 172.16.1.1
    ip -n "$VPCGW" addr add 172.16.1.1/24 dev lan
    ip -n "$VPCGW" addr add 203.0.113.1/32 dev wan
    ip -n "$VPCGW" route add default dev wan
    ip -n "$ONPGW" addr add 192.168.10.1/24 dev lan
    ip -n "$ONPGW" addr add 198.51.100.20/32 dev wan
    ip -n "$ONPGW" route add default dev wan
    ip -n "$ONPH" addr add 192.168.10.10/24 dev eth0
    ip -n "$ONPH" route add default via 192.168.10.1
    for ns in "$VPCGW" "$ONPGW"; do in_ns "$ns" sysctl -qw net.ipv4.ip_forward=1; done
    # Count what leaves each gateway on the internet link, by protocol. The egress hook sees
    # packets as they go on the wire (decapsulated packets are re-injected on receive, so an
    # ingress count would see the inner ICMP too).
    for ns in "$VPCGW" "$ONPGW"; do
        in_ns "$ns" nft -f - <<'NFT'
table netdev wire {
    chain out {
        type filter hook egress device wan priority 0;
        ip protocol esp counter comment "esp"
        ip protocol icmp counter comment "icmp"
        ip daddr { 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 } counter drop comment "private"
    }
}
NFT
    done && ok "packet counters on the internet link" || bad "packet counters on the internet link"
    # Like the internet, the link between the gateways carries no private destinations: without
    # the tunnel the sites cannot reach each other.
    if in_ns "$VPCH" ping -c 1 -W 1 192.168.10.10 >/dev/null 2>&1; then
        bad "the sites are isolated without the tunnel"
    else
        ok "the sites are isolated without the tunnel"
    fi
}

wire_packets() {
    local total=0 ns n
    for ns in "$VPCGW" "$ONPGW"; do
        n=$(in_ns "$ns" nft list chain netdev wire out | sed -n "s/.*counter packets \([0-9]*\) .*comment \"$1\".*/\1/p")
        total=$((total + ${n:-0}))
    done
    echo "$total"
}
