#!/bin/bash
# Proves the Libreswan peer helpers against strongSwan over IKEv1: Main Mode
# and Quick Mode with PSK (aes256-sha256-modp2048, PFS modp2048; Debian's
# Libreswan has no modp1024), in both directions, with pings through the
# kernel SAs both daemons installed.
# guest-payload: strongswan libreswan
#
#   A: strongSwan, outer 192.0.2.1 (veth vA), inner 10.1.0.1/24 (dummy dA)
#   B: Libreswan,  outer 192.0.2.2 (veth vB), inner 10.2.0.1/24 (dummy dB)
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/strongswan.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/strongswan.sh"
# shellcheck source=lib/libreswan.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/libreswan.sh"

OUTER_A=192.0.2.1
OUTER_B=192.0.2.2
INNER_A=10.1.0.0/24
INNER_B=10.2.0.0/24
PSK=interop-ikev1-psk-0123456789
PINGS=5

step "topology: two namespaces over veth, inner networks on dummies"
ns_new A || finish
ns_new B || finish
check "veth pair A<->B" ip link add vA netns "$A" type veth peer name vB netns "$B"
topology() {
    ip -n "$A" addr add "$OUTER_A/24" dev vA && ip -n "$A" link set vA up &&
        ip -n "$B" addr add "$OUTER_B/24" dev vB && ip -n "$B" link set vB up &&
        ip -n "$A" link add dA type dummy && ip -n "$A" addr add 10.1.0.1/24 dev dA &&
        ip -n "$A" link set dA up &&
        ip -n "$B" link add dB type dummy && ip -n "$B" addr add 10.2.0.1/24 dev dB &&
        ip -n "$B" link set dB up &&
        ip -n "$A" route add "$INNER_B" via "$OUTER_B" &&
        ip -n "$B" route add "$INNER_A" via "$OUTER_A"
}
check "addresses, inner networks and routes" topology
check "plain ping over the veth" in_ns "$A" ping -c 1 -W 5 "$OUTER_B"

step "strongSwan in A, Libreswan in B"
swan_start "$A" || finish
lsw_start "$B" || finish
ok "charon and pluto answer"

configure() {
    swan_conn "$A" v1 version=1 local="$OUTER_A" remote="$OUTER_B" psk="$PSK" \
        local_ts="$INNER_A" remote_ts="$INNER_B" \
        ike=aes256-sha256-modp2048 esp=aes256-sha256-modp2048 &&
        swan_load "$A" &&
        lsw_conn "$B" v1 version=1 local="$OUTER_B" remote="$OUTER_A" psk="$PSK" \
            local_ts="$INNER_B" remote_ts="$INNER_A" \
            ike=aes256-sha2_256-modp2048 esp=aes256-sha2_256-modp2048 pfs=yes &&
        lsw_load "$B" v1
}
check "IKEv1 PSK connection loaded on both ends" configure

both_up() {
    swan_sa_established "$A" v1 && lsw_sa_established "$B" v1
}
both_down() {
    swan_no_sa "$A" v1 && lsw_no_sa "$B" v1
}
no_kernel_sas() {
    [ -z "$(ip -n "$A" xfrm state)" ] && [ -z "$(ip -n "$B" xfrm state)" ]
}

# tunnel_carries WHO: pings both ways and the kernel SAs on both ends count them
tunnel_carries() {
    local who=$1 spis spi_in spi_out n label ns src dst spi
    check "$who: $PINGS pings 10.1.0.1 -> 10.2.0.1 through the tunnel" \
        in_ns "$A" ping -c "$PINGS" -i 0.2 -W 5 -I 10.1.0.1 10.2.0.1
    check "$who: $PINGS pings 10.2.0.1 -> 10.1.0.1 through the tunnel" \
        in_ns "$B" ping -c "$PINGS" -i 0.2 -W 5 -I 10.2.0.1 10.1.0.1
    spis=$(swan_child_spis "$A" v1)
    spi_in=${spis% *}
    spi_out=${spis#* }
    for what in "A out:$A:$OUTER_A:$OUTER_B:$spi_out" "B in:$B:$OUTER_A:$OUTER_B:$spi_out" \
        "B out:$B:$OUTER_B:$OUTER_A:$spi_in" "A in:$A:$OUTER_B:$OUTER_A:$spi_in"; do
        IFS=: read -r label ns src dst spi <<<"$what"
        n=$(xfrm_sa_packets "$ns" "$src" "$dst" "$spi")
        if [ "${n:-0}" -ge $((2 * PINGS)) ]; then
            ok "$who: kernel SA $label (spi $spi) counted $n packets"
        else
            bad "$who: kernel SA $label (spi $spi) counted ${n:-no} packets, expected at least $((2 * PINGS))"
        fi
    done
}

step "strongSwan initiates: Main Mode + Quick Mode"
started=$(now_ms)
if check "strongSwan initiates v1" swan_initiate "$A" v1 &&
    wait_for 15 both_up; then
    ok "IKEv1 SA and IPsec SA up on both ends ($(($(now_ms) - started)) ms)"
    tunnel_carries "strongSwan-initiated"
else
    bad "IKEv1 SA and IPsec SA up on both ends"
    swan_log "$A"
    lsw_log "$B"
fi
check "strongSwan terminates v1" swan_terminate "$A" v1
check "no SA left on either end" wait_for 15 both_down
check "no kernel SA left" wait_for 15 no_kernel_sas

step "Libreswan initiates: Main Mode + Quick Mode"
started=$(now_ms)
if check "Libreswan initiates v1" lsw_initiate "$B" v1 &&
    wait_for 15 both_up; then
    ok "IKEv1 SA and IPsec SA up on both ends ($(($(now_ms) - started)) ms)"
    tunnel_carries "Libreswan-initiated"
else
    bad "IKEv1 SA and IPsec SA up on both ends"
    swan_log "$A"
    lsw_log "$B"
fi
check "Libreswan terminates v1" lsw_terminate "$B" v1
check "no SA left on either end" wait_for 15 both_down
check "no kernel SA left" wait_for 15 no_kernel_sas

finish
