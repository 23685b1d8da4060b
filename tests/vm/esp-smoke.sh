#!/bin/bash
# Proves the harness and the kernel datapath: an ESP tunnel between two
# namespaces, keyed by hand with ip xfrm, carries pings, and the SA counters
# on both ends see them. Also checks that the ikehub binary runs here.
#
#   A: outer 192.0.2.1 (veth vA)   inner 10.1.0.1/24 (dummy dA)
#   B: outer 192.0.2.2 (veth vB)   inner 10.2.0.1/24 (dummy dB)
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

# AES-GCM-128 for ESP (RFC 4106): 16-byte key followed by the 4-byte salt
KEY_AB=0x0102030405060708090a0b0c0d0e0f1011121314
KEY_BA=0x2122232425262728292a2b2c2d2e2f3031323334
SPI_AB=0x0000a001
SPI_BA=0x0000b001
OUTER_A=192.0.2.1
OUTER_B=192.0.2.2
INNER_A=10.1.0.0/24
INNER_B=10.2.0.0/24
PINGS=5

step "ikehub binary"
check "ikehub is on PATH" command -v ikehub
check "ikehub --help exits 0" ikehub --help

step "topology: two namespaces over veth, inner networks on dummies"
ns_new A || finish
ns_new B || finish
check "veth pair A<->B" ip link add vA netns "$A" type veth peer name vB netns "$B"

outer_addresses() {
    ip -n "$A" addr add "$OUTER_A/24" dev vA && ip -n "$A" link set vA up &&
        ip -n "$B" addr add "$OUTER_B/24" dev vB && ip -n "$B" link set vB up
}
inner_networks() {
    ip -n "$A" link add dA type dummy && ip -n "$A" addr add 10.1.0.1/24 dev dA &&
        ip -n "$A" link set dA up &&
        ip -n "$B" link add dB type dummy && ip -n "$B" addr add 10.2.0.1/24 dev dB &&
        ip -n "$B" link set dB up &&
        ip -n "$A" route add "$INNER_B" via "$OUTER_B" &&
        ip -n "$B" route add "$INNER_A" via "$OUTER_A"
}
check "outer addresses on the veth" outer_addresses
check "inner networks on dummy interfaces" inner_networks
check "plain ping over the veth" in_ns "$A" ping -c 1 -W 5 "$OUTER_B"

step "ESP tunnel mode, AES-GCM-128 (rfc4106), keyed with ip xfrm"
# sa NS SRC DST SPI KEY: one tunnel-mode SA
sa() {
    ip -n "$1" xfrm state add src "$2" dst "$3" proto esp spi "$4" reqid 1 mode tunnel \
        aead 'rfc4106(gcm(aes))' "$5" 128
}
# policy NS SRC_NET DST_NET DIR TUNNEL_SRC TUNNEL_DST
policy() {
    ip -n "$1" xfrm policy add src "$2" dst "$3" dir "$4" \
        tmpl src "$5" dst "$6" proto esp reqid 1 mode tunnel
}
# the same SA pair on both ends: A->B and B->A
sa_pair() {
    sa "$1" "$OUTER_A" "$OUTER_B" "$SPI_AB" "$KEY_AB" &&
        sa "$1" "$OUTER_B" "$OUTER_A" "$SPI_BA" "$KEY_BA"
}
policies_a() {
    policy "$A" "$INNER_A" "$INNER_B" out "$OUTER_A" "$OUTER_B" &&
        policy "$A" "$INNER_B" "$INNER_A" in "$OUTER_B" "$OUTER_A"
}
policies_b() {
    policy "$B" "$INNER_B" "$INNER_A" out "$OUTER_B" "$OUTER_A" &&
        policy "$B" "$INNER_A" "$INNER_B" in "$OUTER_A" "$OUTER_B" &&
        policy "$B" "$INNER_A" "$INNER_B" fwd "$OUTER_A" "$OUTER_B"
}
check "SA pair in A" sa_pair "$A"
check "SA pair in B" sa_pair "$B"
check "policies in A" policies_a
check "policies in B" policies_b
show ip -n "$A" xfrm state
show ip -n "$A" xfrm policy

step "traffic through the tunnel"
check "$PINGS pings 10.1.0.1 -> 10.2.0.1 through ESP" \
    in_ns "$A" ping -c "$PINGS" -i 0.2 -W 5 -I 10.1.0.1 10.2.0.1

# counter_at_least WHAT NS SRC DST SPI: the SA counted every ping
counter_at_least() {
    local what=$1 n
    n=$(xfrm_sa_packets "$2" "$3" "$4" "$5")
    if [ "${n:-0}" -ge "$PINGS" ]; then
        ok "$what counted $n packets"
    else
        bad "$what counted ${n:-no} packets, expected at least $PINGS"
    fi
}
counter_at_least "A->B SA on the sender (A, out)" "$A" "$OUTER_A" "$OUTER_B" "$SPI_AB"
counter_at_least "A->B SA on the receiver (B, in)" "$B" "$OUTER_A" "$OUTER_B" "$SPI_AB"
counter_at_least "B->A SA on the sender (B, out)" "$B" "$OUTER_B" "$OUTER_A" "$SPI_BA"
counter_at_least "B->A SA on the receiver (A, in)" "$A" "$OUTER_B" "$OUTER_A" "$SPI_BA"
show ip -n "$B" -s xfrm state

# Without the SAs the out policy must hold the traffic back (counted as
# XfrmOutNoStates): proves the pings above could not go around the tunnel.
ip -n "$A" xfrm state flush
no_states_before=$(xfrm_stat "$A" XfrmOutNoStates)
if in_ns "$A" ping -c 1 -W 1 -I 10.1.0.1 10.2.0.1 >/dev/null 2>&1; then
    bad "no SA: a ping got through without ESP"
elif [ -z "$no_states_before" ]; then
    # a kernel without CONFIG_XFRM_STATISTICS cannot say where it was dropped
    ok "no SA: the ping is blocked (no /proc/net/xfrm_stat to confirm where)"
else
    no_states_after=$(xfrm_stat "$A" XfrmOutNoStates)
    if [ "${no_states_after:-0}" -gt "$no_states_before" ]; then
        ok "no SA: the out policy drops the ping (XfrmOutNoStates $no_states_before -> $no_states_after)"
    else
        bad "no SA: the ping failed, but not at the policy (XfrmOutNoStates $no_states_before -> ${no_states_after:-?})"
    fi
fi

finish
