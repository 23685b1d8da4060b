#!/bin/bash
# IKEv1 interoperability over real kernel ESP: ikehub in namespace A against Debian's
# strongSwan (charon + swanctl) in B and Libreswan (pluto) in C, PSK, tunnel mode. Each
# case runs twice, ikehub initiating and ikehub responding:
#   mm-modp1024   strongSwan, Main Mode aes128-sha1-modp1024, ESP aes128-sha1 + PFS modp1024
#   mm-modp2048   strongSwan, Main Mode aes256-sha256-modp2048, ESP aes256-sha256 (no PFS)
#   lsw-modp2048  Libreswan, Main Mode aes128-sha256-modp2048, ESP aes128-sha256 + PFS
#                 modp2048 (Debian's Libreswan has no modp1024)
#   am-modp2048   strongSwan, Aggressive Mode aes256-sha256-modp2048, ESP aes256-sha256 + PFS
# In each: both ends report the ISAKMP SA and the IPsec SA; pings pass both ways; the
# kernel SAs of both ends (one pair each) count them, bytes and packets; then one side
# deletes (ikehub `down` when it initiated, the peer otherwise), no SA and no kernel SA
# stays on either end and ikehub stops cleanly.
# Then the rekeys against strongSwan under a continuous ping, with short lifetimes (IPsec
# SA REKEY_CHILD, ISAKMP SA REKEY_IKE: IKEv1 has no ISAKMP rekey, the SA is
# re-authenticated with a new Main Mode and the old one deleted) set on ikehub, then on
# strongSwan: the IPsec SA and ISAKMP SA SPIs change, pings lost are counted, and once
# settled each kernel holds exactly one SA pair and strongSwan one ISAKMP SA.
# guest-payload: strongswan libreswan
#
#   A (ikehub):     vA1 192.0.2.1 (to B)  vA2 198.51.100.1 (to C)  inner 10.1.0.1/24
#   B (strongSwan): 192.0.2.2                                       inner 10.2.0.1/24
#   C (Libreswan):  198.51.100.2                                    inner 10.3.0.1/24
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/strongswan.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/strongswan.sh"
# shellcheck source=lib/libreswan.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/libreswan.sh"
# shellcheck source=lib/ikehub.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/ikehub.sh"

PSK=interop-ikev1-test-psk-Wd83
PINGS=5
CONFIG=/tmp/ikt-interop-ikev1.toml
PINGLOG=/tmp/ikt-interop-ikev1.ping
REKEY_CHILD=20     # seconds, ikehub's IPsec SA lifetime in the rekey case
REKEY_IKE=45       # seconds, ikehub's ISAKMP SA lifetime in the rekey case
REKEY_SECONDS=100  # length of the ping stream that spans the rekeys
export IKEHUB_LOG=${IKEHUB_LOG:-info,ikehub::ike=debug}

step "topology"
ns_new A || finish
ns_new B || finish
ns_new C || finish
check "veth A<->B" ip link add vA1 netns "$A" type veth peer name vB netns "$B"
check "veth A<->C" ip link add vA2 netns "$A" type veth peer name vC netns "$C"
ip -n "$A" addr add 192.0.2.1/24 dev vA1 && ip -n "$A" link set vA1 up
ip -n "$A" addr add 198.51.100.1/24 dev vA2 && ip -n "$A" link set vA2 up
ip -n "$B" addr add 192.0.2.2/24 dev vB && ip -n "$B" link set vB up
ip -n "$C" addr add 198.51.100.2/24 dev vC && ip -n "$C" link set vC up
for ns in "$A" "$B" "$C"; do ip -n "$ns" link add d0 type dummy; done
ip -n "$A" addr add 10.1.0.1/24 dev d0 && ip -n "$A" link set d0 up
ip -n "$B" addr add 10.2.0.1/24 dev d0 && ip -n "$B" link set d0 up
ip -n "$C" addr add 10.3.0.1/24 dev d0 && ip -n "$C" link set d0 up
ip -n "$A" route add 10.2.0.0/24 via 192.0.2.2
ip -n "$A" route add 10.3.0.0/24 via 198.51.100.2
ip -n "$B" route add 10.1.0.0/24 via 192.0.2.1
ip -n "$C" route add 10.1.0.0/24 via 198.51.100.1
check "plain ping A->B" in_ns "$A" ping -c 1 -W 5 192.0.2.2
check "plain ping A->C" in_ns "$A" ping -c 1 -W 5 198.51.100.2
IKEHUB_DIRS+=("$CONFIG" "$PINGLOG")
# charon answers Aggressive Mode with a PSK only when told to
swan_start "$B" "    i_dont_care_about_security_and_use_aggressive_mode_psk = yes" || finish
ok "charon running in B"
lsw_start "$C" || finish
ok "pluto running in C"

# kernel_esp NS: one line "SRC DST SPI" per ESP state of NS.
kernel_esp() {
    ip -n "$1" xfrm state | awk '/^src / { s = $2; d = $4 } /^[[:space:]]+proto esp spi / { print s, d, $4 }'
}
kernel_sa_count() { kernel_esp "$1" | wc -l; }
# sa_counters NS SRC DST SPI: "BYTES PACKETS" of one ESP state.
sa_counters() {
    ip -n "$1" -s xfrm state get src "$2" dst "$3" proto esp spi "$4" 2>/dev/null |
        sed -n 's/^[[:space:]]*\([0-9]*\)(bytes), *\([0-9]*\)(packets).*/\1 \2/p' | head -n 1
}
no_kernel_sa() { [ "$(kernel_sa_count "$1")" -eq 0 ]; }
two_sas() { [ "$(kernel_sa_count "$1")" -eq 2 ]; }
one_swan_isakmp_sa() { [ "$(swan_sas "$B" v1 | grep -o "v1 {" | wc -l)" -eq 1 ]; }

# peer_* PEER(swan|lsw): the peer's namespace, addresses, and its SA checks.
peer_ns() { if [ "$1" = swan ]; then echo "$B"; else echo "$C"; fi; }
peer_outer() { if [ "$1" = swan ]; then echo 192.0.2.2; else echo 198.51.100.2; fi; }
peer_local() { if [ "$1" = swan ]; then echo 192.0.2.1; else echo 198.51.100.1; fi; }
peer_inner() { if [ "$1" = swan ]; then echo 10.2.0.1; else echo 10.3.0.1; fi; }
peer_net() { if [ "$1" = swan ]; then echo 10.2.0.0/24; else echo 10.3.0.0/24; fi; }
peer_up() { if [ "$1" = swan ]; then swan_sa_established "$B" v1; else lsw_sa_established "$C" v1; fi; }
peer_gone() { if [ "$1" = swan ]; then swan_no_sa "$B" v1; else lsw_no_established_sa "$C" v1; fi; }
peer_log() { if [ "$1" = swan ]; then swan_log "$B"; else lsw_log "$C"; fi; }
peer_name() { if [ "$1" = swan ]; then echo strongSwan; else echo Libreswan; fi; }

# write_ikehub PEER START IKE ESP [EXTRA_LINE...]: ikehub's configuration, one IKEv1
# connection "v1" to PEER.
write_ikehub() {
    local peer=$1 start=$2 ike=$3 esp=$4 line
    shift 4
    {
        cat <<EOF
[gateway]
name = "ikehub"
local_addresses = ["192.0.2.1", "198.51.100.1"]
local_subnets = ["10.1.0.0/24"]
[[peer]]
name = "$peer"
address = "$(peer_outer "$peer")"
[[connection]]
name = "v1"
peer = "$peer"
version = "ikev1"
psk = "$PSK"
local_address = "$(peer_local "$peer")"
remote_subnets = ["$(peer_net "$peer")"]
ike_proposals = ["$ike"]
esp_proposals = ["$esp"]
start_action = "$start"
EOF
        for line in "$@"; do echo "$line"; done
    } >"$CONFIG"
}

# tunnel_carries CASE PEER: pings both ways; one SA pair in each kernel, every one of its
# four states counted at least 2*PINGS packets (requests one way, replies the other).
tunnel_carries() {
    local case=$1 peer=$2 ns src dst spi a b n
    ns=$(peer_ns "$peer")
    check "$case: $PINGS pings 10.1.0.1 -> $(peer_inner "$peer")" \
        in_ns "$A" ping -c "$PINGS" -i 0.2 -W 3 -I 10.1.0.1 "$(peer_inner "$peer")"
    check "$case: $PINGS pings $(peer_inner "$peer") -> 10.1.0.1" \
        in_ns "$ns" ping -c "$PINGS" -i 0.2 -W 3 -I "$(peer_inner "$peer")" 10.1.0.1
    a=$(kernel_sa_count "$A")
    b=$(kernel_sa_count "$ns")
    if [ "$a" -eq 2 ] && [ "$b" -eq 2 ]; then
        ok "$case: one ESP SA pair in each kernel"
    else
        bad "$case: one ESP SA pair in each kernel ($a states in ikehub's, $b in the peer's)"
        ip -n "$A" xfrm state
        ip -n "$ns" xfrm state
    fi
    while read -r src dst spi; do
        a=$(sa_counters "$A" "$src" "$dst" "$spi")
        b=$(sa_counters "$ns" "$src" "$dst" "$spi")
        n=$((2 * PINGS))
        if [ "${a#* }" -ge "$n" ] 2>/dev/null && [ "${b#* }" -ge "$n" ] 2>/dev/null &&
            [ "${a% *}" -gt 0 ] && [ "${b% *}" -gt 0 ]; then
            ok "$case: SA $src -> $dst spi $spi: ikehub ${a% *} bytes ${a#* } packets, peer ${b% *} bytes ${b#* } packets"
        else
            bad "$case: SA $src -> $dst spi $spi counted ikehub '${a:-none}', peer '${b:-none}' (bytes packets), expected >= $n packets"
        fi
    done < <(kernel_esp "$A")
}

# run CASE PEER INITIATOR(ikehub|peer) IKEHUB_IKE IKEHUB_ESP PEER_CONN_ARGS [IKEHUB_LINE...]
run() {
    local case=$1 peer=$2 initiator=$3 ike=$4 esp=$5 peer_args=$6 ns t0 start=listen ipid=
    shift 6
    ns=$(peer_ns "$peer")
    [ "$initiator" = ikehub ] && start=initiate
    case="$case-$initiator"
    step "$case: $([ "$initiator" = ikehub ] && echo ikehub || peer_name "$peer") initiates, $ike / $esp"
    write_ikehub "$peer" "$start" "$ike" "$esp" "$@"
    # shellcheck disable=SC2086 # the peer's key=value words
    if [ "$peer" = swan ]; then
        swan_conn "$B" v1 version=1 local=192.0.2.2 remote=192.0.2.1 psk="$PSK" \
            local_ts=10.2.0.0/24 remote_ts=10.1.0.0/24 $peer_args && swan_load "$B" >/dev/null
    else
        lsw_conn "$C" v1 version=1 local=198.51.100.2 remote=198.51.100.1 psk="$PSK" \
            local_ts=10.3.0.0/24 remote_ts=10.1.0.0/24 $peer_args && lsw_load "$C" v1 >/dev/null
    fi || { bad "$case: $(peer_name "$peer") connection loaded"; return 1; }
    : >"$(ikehub_logfile "$A")"
    ikehub_start "$A" "$CONFIG" || { bad "$case: ikehub started"; ikehub_log "$A"; return 1; }
    t0=$(now_ms)
    if [ "$initiator" = peer ]; then
        if [ "$peer" = swan ]; then
            swan_initiate "$B" v1 >/dev/null &
        else
            lsw_initiate "$C" v1 >/dev/null &
        fi
        ipid=$!
    fi
    if wait_for 30 ikehub_established "$A" v1 && wait_for 10 peer_up "$peer"; then
        ok "$case: ISAKMP SA and IPsec SA up on both ends ($(($(now_ms) - t0)) ms)"
    else
        bad "$case: ISAKMP SA and IPsec SA up on both ends"
        ikehub_json "$A" v1
        ikehub_log "$A"
        peer_log "$peer"
        [ -n "$ipid" ] && wait "$ipid"
        ikehub_stop "$A"
        cleanup_peer "$peer"
        return 1
    fi
    [ -n "$ipid" ] && wait "$ipid"
    ok "$case: ikehub reports $(ikehub_field "$A" v1 algorithms), IPsec SA $(ikehub_json "$A" v1 |
        sed -n 's/^ *"algorithms": "\(.*\)",*$/\1/p' | tail -n 1)"
    tunnel_carries "$case" "$peer"
    [ -n "${RUN_HOOK:-}" ] && "$RUN_HOOK" "$case" "$peer"

    if [ "$initiator" = ikehub ]; then
        check "$case: ikehub down" ikehub_cli "$A" down v1
    elif [ "$peer" = swan ]; then
        check "$case: swanctl --terminate" swan_terminate "$B" v1
    else
        check "$case: ipsec whack --terminate" lsw_terminate "$C" v1
    fi
    if wait_for 15 ikehub_down_everywhere "$A" v1 && wait_for 15 peer_gone "$peer"; then
        ok "$case: no ISAKMP or IPsec SA left on either end"
    else
        bad "$case: no ISAKMP or IPsec SA left on either end"
        ikehub_json "$A" v1
        peer_log "$peer"
    fi
    if wait_for 10 no_kernel_sa "$A" && wait_for 10 no_kernel_sa "$ns"; then
        ok "$case: no kernel SA left on either end"
    else
        bad "$case: no kernel SA left ($(kernel_sa_count "$A") in ikehub's kernel, $(kernel_sa_count "$ns") in the peer's)"
        ip -n "$A" xfrm state
        ip -n "$ns" xfrm state
    fi
    if [ "$IKEHUB_FAILED" -gt "${FAILED_BEFORE:-0}" ]; then
        ikehub_log "$A"
        peer_log "$peer"
    fi
    FAILED_BEFORE=$IKEHUB_FAILED
    ikehub_stop "$A" && ok "$case: ikehub stops cleanly" || bad "$case: ikehub stops cleanly"
    check "$case: no kernel SA left after ikehub stopped" wait_for 5 no_kernel_sa "$A"
    cleanup_peer "$peer"
}

# cleanup_peer PEER: forget the peer's connection and any SA it still holds.
cleanup_peer() {
    if [ "$1" = swan ]; then
        swan_terminate "$B" v1 >/dev/null 2>&1
        swan_unconn "$B" v1
        swan_load "$B" >/dev/null
    else
        lsw_terminate "$C" v1 >/dev/null 2>&1
        lsw_whack "$C" --delete --name v1 >/dev/null 2>&1
    fi
}

for who in ikehub peer; do
    run mm-modp1024 swan "$who" aes128-sha1-modp1024 aes128-sha1-modp1024 \
        "ike=aes128-sha1-modp1024 esp=aes128-sha1-modp1024"
    run mm-modp2048 swan "$who" aes256-sha256-modp2048 aes256-sha256 \
        "ike=aes256-sha256-modp2048 esp=aes256-sha256"
    run lsw-modp2048 lsw "$who" aes128-sha256-modp2048 aes128-sha256-modp2048 \
        "ike=aes128-sha2_256-modp2048 esp=aes128-sha2_256-modp2048 pfs=yes"
    run am-modp2048 swan "$who" aes256-sha256-modp2048 aes256-sha256-modp2048 \
        "ike=aes256-sha256-modp2048 esp=aes256-sha256-modp2048 aggressive=yes" \
        "aggressive = true"
done

# rekeys CASE PEER: a ping stream through REKEY_SECONDS while ikehub's short lifetimes
# make it replace the IPsec SA and re-authenticate the ISAKMP SA.
rekeys() {
    local case=$1 peer=$2 ns child0 ike0 child1 ike1 out sent received lost
    ns=$(peer_ns "$peer")
    child0=$(ikehub_field "$A" v1 spi_in)
    ike0=$(ikehub_field "$A" v1 spi_i)
    out=$(in_ns "$A" ping -c $((REKEY_SECONDS * 5)) -i 0.2 -W 2 -I 10.1.0.1 "$(peer_inner "$peer")" 2>&1 |
        tail -n 2)
    echo "$out" | tee "$PINGLOG"
    child1=$(ikehub_field "$A" v1 spi_in)
    ike1=$(ikehub_field "$A" v1 spi_i)
    sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' <<<"$out")
    received=$(sed -n 's/.* \([0-9]*\) packets received.*/\1/p' <<<"$out")
    lost=$((${sent:-0} - ${received:-0}))
    local rekeyed reauthed
    rekeyed=$(grep -ci 'rekey\|replac' "$(ikehub_logfile "$A")")
    reauthed=$(grep -ci 're-auth\|reauth' "$(ikehub_logfile "$A")")
    echo "ikehub log: $rekeyed lines on IPsec SA rekeys, $reauthed on re-authentication"
    if [ -n "$child0" ] && [ -n "$child1" ] && [ "$child0" != "$child1" ]; then
        ok "$case: IPsec SA replaced (inbound SPI $child0 -> $child1)"
    else
        bad "$case: IPsec SA replaced (inbound SPI $child0 -> $child1)"
    fi
    if [ -n "$ike0" ] && [ -n "$ike1" ] && [ "$ike0" != "$ike1" ]; then
        ok "$case: ISAKMP SA re-authenticated (initiator cookie $ike0 -> $ike1)"
    else
        bad "$case: ISAKMP SA re-authenticated (initiator cookie $ike0 -> $ike1)"
    fi
    if [ "${sent:-0}" -gt 0 ] && [ "$lost" -eq 0 ]; then
        ok "$case: no ping lost across the rekeys ($received of $sent)"
    else
        bad "$case: pings lost across the rekeys: $lost of ${sent:-none}"
    fi
    check "$case: traffic still flows both ways" \
        in_ns "$ns" ping -c 3 -i 0.2 -W 2 -I "$(peer_inner "$peer")" 10.1.0.1
    # a replaced pair goes a moment after its successor came, a replaced ISAKMP SA seconds
    # later; strongSwan leaves a pair it replaced to expire (`delete_rekeyed = no`, its
    # IKEv1 default) and ikehub keeps its side of it until then: let them settle, up to the
    # hard lifetime
    if wait_for 30 two_sas "$A" && wait_for 30 two_sas "$ns"; then
        ok "$case: one ESP SA pair left in each kernel"
    else
        bad "$case: one ESP SA pair left in each kernel ($(kernel_sa_count "$A") in ikehub's, $(kernel_sa_count "$ns") in the peer's)"
        ip -n "$A" xfrm state
        ip -n "$ns" xfrm state
    fi
    if [ "$peer" = swan ]; then
        local n
        wait_for 15 one_swan_isakmp_sa
        n=$(swan_sas "$B" v1 | grep -o "v1 {" | wc -l)
        [ "$n" -eq 1 ] && ok "$case: strongSwan holds one ISAKMP SA" ||
            bad "$case: strongSwan holds one ISAKMP SA ($n)"
        swan_ctl "$B" --list-sas
    fi
    ikehub_json "$A" v1
}

RUN_HOOK=rekeys run rekey swan ikehub aes128-sha1-modp1024 aes128-sha1-modp1024 \
    "ike=aes128-sha1-modp1024 esp=aes128-sha1-modp1024" \
    "child_lifetime = \"${REKEY_CHILD}s\"" "ike_lifetime = \"${REKEY_IKE}s\""
RUN_HOOK=rekeys run rekey swan peer aes128-sha1-modp1024 aes128-sha1-modp1024 \
    "ike=aes128-sha1-modp1024 esp=aes128-sha1-modp1024 rekey_time=${REKEY_CHILD}s ike_rekey_time=${REKEY_IKE}s"
finish
