#!/bin/bash
# Proves the strongSwan peer helpers: two charon instances, one per namespace,
# bring up IKEv2 PSK tunnels whose CHILD_SAs the kernel carries (pings across
# the inner networks move the SA counters), a CHILD_SA rekey loses no ping,
# and a terminate removes the SAs on both ends.
# guest-payload: strongswan
#
#   A: outer 192.0.2.1 (veth vA)   inner 10.1.0.1/24 (dummy dA)
#   B: outer 192.0.2.2 (veth vB)   inner 10.2.0.1/24 (dummy dB)
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/strongswan.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/strongswan.sh"

OUTER_A=192.0.2.1
OUTER_B=192.0.2.2
INNER_A=10.1.0.0/24
INNER_B=10.2.0.0/24
PSK=interop-smoke-psk-0123456789
PINGS=5
REKEY_PINGS=80

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

step "charon in each namespace"
started=$(now_ms)
swan_start "$A" || finish
swan_start "$B" || finish
ok "charon answers on vici in A and B ($(($(now_ms) - started)) ms)"

# conns NAME IKE ESP [KEY=VALUE...]: the same connection on both ends, B responds
conns() {
    local name=$1 ike=$2 esp=$3
    shift 3
    swan_conn "$A" "$name" local="$OUTER_A" remote="$OUTER_B" local_id=a.example \
        remote_id=b.example psk="$PSK" local_ts="$INNER_A" remote_ts="$INNER_B" \
        ike="$ike" esp="$esp" "$@" &&
        swan_conn "$B" "$name" local="$OUTER_B" remote="$OUTER_A" local_id=b.example \
            remote_id=a.example psk="$PSK" local_ts="$INNER_B" remote_ts="$INNER_A" \
            ike="$ike" esp="$esp" "$@" &&
        swan_load "$A" && swan_load "$B"
}

# up NAME: initiate from A, both ends report the IKE SA and CHILD_SA
up() {
    local name=$1 started
    started=$(now_ms)
    if ! check "$name: A initiates" swan_initiate "$A" "$name"; then
        swan_log "$A"
        swan_log "$B"
        return 1
    fi
    if wait_for 10 swan_sa_established "$A" "$name" && wait_for 10 swan_sa_established "$B" "$name"; then
        ok "$name: IKE SA and CHILD_SA up on both ends ($(($(now_ms) - started)) ms)"
    else
        bad "$name: IKE SA and CHILD_SA up on both ends"
        swan_log "$B"
        return 1
    fi
}

# esp_counters NAME MIN: the kernel SAs of the CHILD_SA counted at least MIN
# packets in each direction on both ends
esp_counters() {
    local name=$1 min=$2 spis spi_in spi_out n what
    spis=$(swan_child_spis "$A" "$name")
    spi_in=${spis% *}
    spi_out=${spis#* }
    if [ -z "$spis" ]; then
        bad "$name: A lists no installed CHILD_SA"
        return 1
    fi
    for what in "A out:$A:$OUTER_A:$OUTER_B:$spi_out" "B in:$B:$OUTER_A:$OUTER_B:$spi_out" \
        "B out:$B:$OUTER_B:$OUTER_A:$spi_in" "A in:$A:$OUTER_B:$OUTER_A:$spi_in"; do
        IFS=: read -r label ns src dst spi <<<"$what"
        n=$(xfrm_sa_packets "$ns" "$src" "$dst" "$spi")
        if [ "${n:-0}" -ge "$min" ]; then
            ok "$name: kernel SA $label (spi $spi) counted $n packets"
        else
            bad "$name: kernel SA $label (spi $spi) counted ${n:-no} packets, expected at least $min"
        fi
    done
}

# kernel_alg NS TEXT: the kernel holds an SA using TEXT (e.g. rfc4106(gcm(aes)))
kernel_alg() {
    ip -n "$1" xfrm state | grep -F "$2" >/dev/null
}

no_kernel_sas() {
    [ -z "$(ip -n "$1" xfrm state)" ]
}

# down NAME: terminate from A; both charons and both kernels forget the SAs
down() {
    local name=$1
    check "$name: A terminates" swan_terminate "$A" "$name"
    if wait_for 10 swan_no_sa "$A" "$name" && wait_for 10 swan_no_sa "$B" "$name"; then
        ok "$name: no IKE SA left on either end"
    else
        bad "$name: no IKE SA left on either end"
    fi
    if wait_for 10 no_kernel_sas "$A" && wait_for 10 no_kernel_sas "$B"; then
        ok "$name: no kernel SA left in A or B"
    else
        bad "$name: no kernel SA left in A or B"
        ip -n "$A" xfrm state
        ip -n "$B" xfrm state
    fi
}

step "IKEv2 aes128gcm16-prfsha256-ecp256, ESP aes128gcm16"
check "gcm: connections loaded on both ends" \
    conns gcm aes128gcm16-prfsha256-ecp256 aes128gcm16
if up gcm; then
    check "gcm: kernel SAs use rfc4106(gcm(aes))" kernel_alg "$A" 'rfc4106(gcm(aes))'
    check "gcm: $PINGS pings 10.1.0.1 -> 10.2.0.1 through the tunnel" \
        in_ns "$A" ping -c "$PINGS" -i 0.2 -W 5 -I 10.1.0.1 10.2.0.1
    esp_counters gcm "$PINGS"
    down gcm
fi
swan_unconn "$A" gcm
swan_unconn "$B" gcm

step "IKEv2 aes256-sha256-modp2048, ESP aes256-sha256; CHILD_SA rekey under traffic"
check "cbc: connections loaded on both ends" \
    conns cbc aes256-sha256-modp2048 aes256-sha256
if up cbc; then
    check "cbc: kernel SAs use cbc(aes) with hmac(sha256)" kernel_alg "$A" 'hmac(sha256)'
    check "cbc: $PINGS pings 10.1.0.1 -> 10.2.0.1 through the tunnel" \
        in_ns "$A" ping -c "$PINGS" -i 0.2 -W 5 -I 10.1.0.1 10.2.0.1
    esp_counters cbc "$PINGS"

    old_spis=$(swan_child_spis "$A" cbc)
    ping_log=$(swan_dir "$A")/rekey-ping.log
    # 80 pings over ~8 s, the rekey early among them (busybox and iputils
    # ping print seq= and icmp_seq=)
    ping_pid=""
    spawn ping_pid in_ns "$A" ping -c "$REKEY_PINGS" -i 0.1 -W 5 -I 10.1.0.1 10.2.0.1 >"$ping_log" 2>&1
    wait_for 10 grep -E 'seq=5 ' "$ping_log" || bad "cbc: the ping across the rekey started"
    check "cbc: A rekeys the CHILD_SA" swan_rekey_child "$A" cbc
    spis_changed() {
        local now
        now=$(swan_child_spis "$A" cbc)
        [ -n "$now" ] && [ "$now" != "$old_spis" ] && swan_sa_established "$A" cbc
    }
    if wait_for 15 spis_changed; then
        ok "cbc: new CHILD_SA installed ($old_spis -> $(swan_child_spis "$A" cbc))"
    else
        bad "cbc: new CHILD_SA installed (still $old_spis)"
        swan_log "$A"
    fi
    # the new SAs carry the ping's later packets
    rekeyed_spis=$(swan_child_spis "$A" cbc)
    new_sa_used() {
        [ "$(xfrm_sa_packets "$A" "$OUTER_A" "$OUTER_B" "${rekeyed_spis#* }")" -ge 5 ]
    }
    check "cbc: the ping flows through the new outbound SA" wait_for 10 new_sa_used
    wait "$ping_pid"
    ping_rc=$?
    summary=$(grep 'packets transmitted' "$ping_log")
    sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$ping_log")
    received=$(sed -n 's/.* \([0-9]*\) \(packets \)\{0,1\}received.*/\1/p' "$ping_log")
    if [ "$ping_rc" -eq 0 ] && [ "${sent:-0}" -eq "$REKEY_PINGS" ] &&
        [ "${received:-0}" -eq "$REKEY_PINGS" ]; then
        ok "cbc: no ping lost across the rekey ($summary)"
    else
        bad "cbc: no ping lost across the rekey (rc $ping_rc: ${summary:-no summary})"
        cat "$ping_log"
    fi
    old_gone() {
        ! ip -n "$A" xfrm state | grep -F "spi ${old_spis#* }" >/dev/null
    }
    check "cbc: the old outbound SA (spi ${old_spis#* }) is gone from A's kernel" wait_for 10 old_gone
    esp_counters cbc 5
    down cbc
fi

finish
