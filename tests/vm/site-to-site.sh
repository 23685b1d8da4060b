#!/bin/bash
# The first seed scenario: a VPC side (gateway and a host network behind it) and an
# on-premises side (gateway and a host network), ikehub on both gateways, configured with
# examples/site-to-site.toml and examples/site-to-site-onprem.toml as shipped.
#
#   VPCH 172.16.1.10 --- VPCGW [172.16.1.1 | 203.0.113.1] === ONPGW [198.51.100.20 | 192.168.10.1] --- ONPH 192.168.10.10
#
# The tunnel comes up, the VPC host pings the on-premises host, status shows the SAs with
# counters that move, and between the gateways ESP is seen on the wire and ICMP is not.
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/ikehub.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/ikehub.sh"
# shellcheck source=lib/site-to-site.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/site-to-site.sh"
# The examples hold inline keys: the daemons get a copy only root can read.
ikehub_examples "${IKEHUB_EXAMPLES:-/examples}" || {
    bad "private copy of the examples"
    finish
}

step "topology: two sites, two gateways"
site_to_site_topology

icmp_before=$(wire_packets icmp)

step "ikehub on both gateways (the shipped example configurations)"
check "on-premises gateway config is valid" ikehub check-config "$EXAMPLES/site-to-site-onprem.toml"
check "VPC gateway config is valid" ikehub check-config "$EXAMPLES/site-to-site.toml"
t0=$(now_ms)
ikehub_start "$ONPGW" "$EXAMPLES/site-to-site-onprem.toml" && ok "on-premises daemon ready" || bad "on-premises daemon ready"
ikehub_start "$VPCGW" "$EXAMPLES/site-to-site.toml" && ok "VPC daemon ready" || bad "VPC daemon ready"

step "tunnel up and the VPC host reaches the office"
if wait_for 20 ikehub_established "$VPCGW" office && wait_for 10 ikehub_established "$ONPGW" vpc; then
    ok "tunnel established on both gateways"
else
    bad "tunnel established on both gateways"
    ikehub_log "$VPCGW"; ikehub_log "$ONPGW"
fi
if wait_for 10 in_ns "$VPCH" ping -c 1 -W 1 192.168.10.10; then
    ok "VPC host pings the on-premises host"
    echo "@@METRIC tunnel_up_to_first_ping_ms=$(($(now_ms) - t0))"
else
    bad "VPC host pings the on-premises host"
fi
check "5 more pings, both directions" in_ns "$VPCH" ping -c 5 -i 0.2 -W 1 192.168.10.10
check "the office host pings back" in_ns "$ONPH" ping -c 3 -i 0.2 -W 1 172.16.1.10

step "status shows the SAs and counters that move"
show ikehub_cli "$VPCGW" status
in1=$(ikehub_field "$VPCGW" office packets_in)
out1=$(ikehub_field "$VPCGW" office packets_out)
in_ns "$VPCH" ping -c 3 -i 0.2 -W 1 192.168.10.10 >/dev/null
in2=$(ikehub_field "$VPCGW" office packets_in)
out2=$(ikehub_field "$VPCGW" office packets_out)
echo "VPC gateway CHILD_SA packets: in $in1 -> $in2, out $out1 -> $out2"
[ "${in2:-0}" -ge $((${in1:-0} + 3)) ] && [ "${out2:-0}" -ge $((${out1:-0} + 3)) ] &&
    ok "status counters move with traffic" || bad "status counters move with traffic"
alg=$(ikehub_field "$VPCGW" office algorithms)
[ "$alg" = "aes128gcm16-prfsha256-ecp256" ] && ok "IKE algorithms shown ($alg)" || bad "IKE algorithms shown ($alg)"
ikehub_json "$VPCGW" | grep -E '"remote_ts": \[' >/dev/null && ok "selectors shown" || bad "selectors shown"

step "on the wire between the gateways: ESP, no ICMP"
esp=$(wire_packets esp)
icmp=$(wire_packets icmp)
leaked=$(wire_packets private)
echo "packets the gateways sent on the internet link: ESP $esp, ICMP $icmp"
[ "${esp:-0}" -ge 10 ] && ok "ESP seen on the wire ($esp packets)" || bad "ESP seen on the wire ($esp)"
[ "${icmp:-1}" -eq "${icmp_before:-0}" ] && ok "no plaintext ICMP on the wire while the tunnel is up" ||
    bad "no plaintext ICMP on the wire (icmp $icmp_before -> $icmp, private destinations $leaked)"

show ikehub_cli "$ONPGW" status

step "down removes the tunnel on both sides"
check "ikehub down office" ikehub_cli "$VPCGW" down office
wait_for 10 ikehub_down_everywhere "$VPCGW" office && ok "VPC side has no SA" || bad "VPC side has no SA"
wait_for 10 ikehub_down_everywhere "$ONPGW" vpc && ok "office side has no SA" || bad "office side has no SA"
n=$(ip -n "$VPCGW" xfrm state | grep -c '^src')
[ "$n" -eq 0 ] && ok "no kernel SA left on the VPC gateway" || bad "no kernel SA left on the VPC gateway ($n)"
finish
