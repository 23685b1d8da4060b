#!/bin/bash
# Interoperability with Debian's strongSwan (charon + swanctl, kernel-netlink, real kernel
# SAs): ikehub in namespace A, strongSwan in namespace B. Both directions (ikehub initiates,
# strongSwan initiates) with two proposals each:
#   aes128gcm16-prfsha256-ecp256 / ESP aes128gcm16
#   aes256-sha256-modp2048       / ESP aes256-sha256
# In each case: pings pass both ways; a CHILD_SA rekey forced by a short lifetime (on the
# side that initiated) keeps a ping stream flowing with no loss; `down` on one side (ikehub
# in one direction, strongSwan in the other) deletes cleanly on both.
# guest-payload: strongswan
#
#   A (ikehub):     outer 192.0.2.1   inner 10.1.0.1/24
#   B (strongSwan): outer 192.0.2.2   inner 10.2.0.1/24
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/strongswan.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/strongswan.sh"
# shellcheck source=lib/ikehub.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/ikehub.sh"

PSK=interop-strongswan-test-psk-7Qx2
REKEY=12s          # short CHILD_SA lifetime on the side that rekeys
PING_SECONDS=16    # a ping stream that spans the rekey

step "topology"
ns_new A || finish
ns_new B || finish
check "veth A<->B" ip link add vA netns "$A" type veth peer name vB netns "$B"
ip -n "$A" addr add 192.0.2.1/24 dev vA && ip -n "$A" link set vA up
ip -n "$B" addr add 192.0.2.2/24 dev vB && ip -n "$B" link set vB up
ip -n "$A" link add dA type dummy && ip -n "$A" addr add 10.1.0.1/24 dev dA && ip -n "$A" link set dA up
ip -n "$B" link add dB type dummy && ip -n "$B" addr add 10.2.0.1/24 dev dB && ip -n "$B" link set dB up
ip -n "$A" route add 10.2.0.0/24 via 192.0.2.2
ip -n "$B" route add 10.1.0.0/24 via 192.0.2.1
check "plain ping over the veth" in_ns "$A" ping -c 1 -W 5 192.0.2.2
swan_start "$B" || finish
ok "charon running in B"

kernel_sa_count() { ip -n "$1" xfrm state | grep -c '^src'; }

# run CASE INITIATOR(ikehub|strongswan) IKE ESP NEGOTIATED (as ikehub's status writes it)
run() {
    local case=$1 initiator=$2 ike=$3 esp=$4 negotiated=$5 ikehub_life=1h swan_rekey=1h start=listen
    step "$case: $initiator initiates, $ike / $esp"
    if [ "$initiator" = ikehub ]; then ikehub_life=$REKEY start=initiate; else swan_rekey=$REKEY; fi
    cat >/tmp/ikt-interop.toml <<EOF2
[gateway]
name = "ikehub"
local_addresses = ["192.0.2.1"]
local_subnets = ["10.1.0.0/24"]
[[peer]]
name = "strongswan"
address = "192.0.2.2"
[[connection]]
name = "swan"
peer = "strongswan"
psk = "$PSK"
remote_subnets = ["10.2.0.0/24"]
ike_proposals = ["$ike"]
esp_proposals = ["$esp"]
child_lifetime = "$ikehub_life"
start_action = "$start"
EOF2
    swan_conn "$B" hub local=192.0.2.2 remote=192.0.2.1 psk="$PSK" local_ts=10.2.0.0/24 \
        remote_ts=10.1.0.0/24 ike="$ike" esp="$esp" rekey_time="$swan_rekey" && swan_load "$B" ||
        { bad "$case: strongSwan connection loaded"; return; }
    ikehub_start "$A" /tmp/ikt-interop.toml || { bad "$case: ikehub started"; ikehub_log "$A"; return; }
    local t0
    t0=$(now_ms)
    [ "$initiator" = strongswan ] && swan_initiate "$B" hub >/dev/null
    if wait_for 20 ikehub_established "$A" swan && wait_for 10 swan_sa_established "$B" hub; then
        ok "$case: established on both ends ($(($(now_ms) - t0)) ms)"
    else
        bad "$case: established on both ends"
        ikehub_log "$A"; swan_log "$B"
        ikehub_stop "$A"; swan_unconn "$B" hub; swan_load "$B"
        return
    fi
    local alg
    alg=$(ikehub_field "$A" swan algorithms)
    [ "$alg" = "$negotiated" ] && ok "$case: ikehub reports $alg" || bad "$case: ikehub reports the IKE algorithms ($alg)"
    alg=$(ikehub_json "$A" swan | sed -n 's/^ *"algorithms": "\(.*\)",*$/\1/p' | tail -n 1)
    [ "$alg" = "$esp" ] && ok "$case: CHILD_SA uses $alg" || bad "$case: CHILD_SA algorithms ($alg)"
    check "$case: ping ikehub side -> strongSwan side" in_ns "$A" ping -c 3 -i 0.2 -W 2 -I 10.1.0.1 10.2.0.1
    check "$case: ping strongSwan side -> ikehub side" in_ns "$B" ping -c 3 -i 0.2 -W 2 -I 10.2.0.1 10.1.0.1

    local before after out
    before=$(swan_child_spis "$B" hub)
    out=$(in_ns "$A" ping -c $((PING_SECONDS * 5)) -i 0.2 -W 2 -I 10.1.0.1 10.2.0.1 2>&1 | tail -n 2)
    after=$(swan_child_spis "$B" hub)
    echo "$out"
    if [ -n "$before" ] && [ -n "$after" ] && [ "$before" != "$after" ]; then
        ok "$case: CHILD_SA rekeyed by the $initiator side ($before -> $after)"
    else
        bad "$case: CHILD_SA rekeyed by the $initiator side ($before -> $after)"
        ikehub_log "$A"; swan_log "$B"
    fi
    grep -E ' 0% packet loss' <<<"$out" >/dev/null && ok "$case: no ping lost across the rekey" ||
        bad "$case: no ping lost across the rekey"
    check "$case: traffic still flows after the rekey" in_ns "$B" ping -c 3 -i 0.2 -W 2 -I 10.2.0.1 10.1.0.1

    if [ "$initiator" = ikehub ]; then
        check "$case: ikehub down" ikehub_cli "$A" down swan
    else
        check "$case: swanctl --terminate" swan_terminate "$B" hub
    fi
    if wait_for 10 swan_no_sa "$B" hub && wait_for 10 ikehub_down_everywhere "$A" swan; then
        ok "$case: no IKE SA left on either side"
    else
        bad "$case: no IKE SA left on either side"
    fi
    if wait_for 5 bash -c "[ \$(ip -n $A xfrm state | grep -c '^src') -eq 0 ] && [ \$(ip -n $B xfrm state | grep -c '^src') -eq 0 ]"; then
        ok "$case: no kernel SA left on either side"
    else
        bad "$case: no kernel SA left ($(kernel_sa_count "$A") in A, $(kernel_sa_count "$B") in B)"
    fi
    ikehub_stop "$A" && ok "$case: ikehub stops cleanly" || bad "$case: ikehub stops cleanly"
    swan_unconn "$B" hub
    swan_load "$B" >/dev/null
}

run gcm-i ikehub aes128gcm16-prfsha256-ecp256 aes128gcm16 aes128gcm16-prfsha256-ecp256
run cbc-i ikehub aes256-sha256-modp2048 aes256-sha256 aes256-sha256-prfsha256-modp2048
run gcm-r strongswan aes128gcm16-prfsha256-ecp256 aes128gcm16 aes128gcm16-prfsha256-ecp256
run cbc-r strongswan aes256-sha256-modp2048 aes256-sha256 aes256-sha256-prfsha256-modp2048
finish
