#!/bin/bash
# Peers as they ship against ikehub as it ships, through many rekeys: no proposal is
# configured on either end (ikehub's defaults, Libreswan's, strongSwan's), only short
# lifetimes, set on both ends. IKEv2, each side initiating once:
#   Libreswan 4.10: proposes PFS on every CHILD_SA rekey; ikehub's defaults propose it too
#   strongSwan 5.9: its default ESP proposals have no group: it rekeys without a key
#                   exchange and refuses ours (ikehub then asks again without one)
# In each case a ping stream runs through the tunnel while at least three CHILD_SA rekeys
# and two IKE SA rekeys happen (counted in ikehub's log, and the SPIs in `ikehub status`
# change); no ping may be lost, and once the rekeys settle the kernel holds one SA pair.
# guest-payload: strongswan libreswan
#
#   A (ikehub):     vA1 192.0.2.1 (to B)  vA2 198.51.100.1 (to C)  inner 10.1.0.1/24
#   B (Libreswan):  192.0.2.2                                       inner 10.2.0.1/24
#   C (strongSwan): 198.51.100.2                                    inner 10.3.0.1/24
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/strongswan.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/strongswan.sh"
# shellcheck source=lib/libreswan.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/libreswan.sh"
# shellcheck source=lib/ikehub.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/ikehub.sh"

PSK=interop-defaults-test-psk-4Rk9
CHILD_LIFE=12      # seconds, CHILD_SA rekey time on both ends
IKE_LIFE=20        # seconds, IKE SA rekey time on both ends
CHILD_REKEYS=3     # at least this many CHILD_SA rekeys ...
IKE_REKEYS=2       # ... and IKE SA rekeys per case
REKEY_DEADLINE=80  # seconds for them to happen
CONFIG=/tmp/ikt-interop-defaults.toml
PINGS=/tmp/ikt-interop-defaults.ping
STOP=/tmp/ikt-interop-defaults.stop

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
IKEHUB_DIRS+=("$CONFIG" "$PINGS" "$STOP")
lsw_start "$B" || finish
ok "pluto running in B"
swan_start "$C" || finish
ok "charon running in C"

kernel_sa_count() { ip -n "$1" xfrm state | grep -c '^src'; }

# ikehub_config LOCAL PEER_ADDR REMOTE_NET START: one connection "peer", no proposals.
ikehub_config() {
    cat >"$CONFIG" <<EOF
[gateway]
name = "ikehub"
local_addresses = ["$1"]
local_subnets = ["10.1.0.0/24"]
[[peer]]
name = "peer"
address = "$2"
[[connection]]
name = "peer"
peer = "peer"
psk = "$PSK"
remote_subnets = ["$3"]
ike_lifetime = "${IKE_LIFE}s"
child_lifetime = "${CHILD_LIFE}s"
start_action = "$4"
EOF
}

# log_count PATTERN: lines of ikehub's log (of this case) that match.
log_count() {
    tail -n "+$LOG_FROM" "$(ikehub_logfile "$A")" | grep -c -E "$1"
}

# rekeyed_enough: the CHILD_SA was installed CHILD_REKEYS times after the first and the IKE
# SA rekeyed IKE_REKEYS times.
rekeyed_enough() {
    [ "$(log_count 'peer: tunnel up')" -gt "$CHILD_REKEYS" ] &&
        [ "$(log_count 'peer: IKE SA rekeyed')" -ge "$IKE_REKEYS" ]
}

# pinger DST: 5-second ping rounds until $STOP exists, so stopping loses no ping in flight.
pinger() {
    while [ ! -e "$STOP" ]; do
        ip netns exec "$A" ping -c 25 -i 0.2 -W 2 -I 10.1.0.1 "$1"
    done
}

# sum_pings WHAT: packets transmitted or received over all rounds ("25 packets
# transmitted, 25 received" from iputils, "25 packets received" from busybox).
sum_pings() {
    grep -o -E "[0-9]+ (packets )?$1" "$PINGS" | awk '{ n += $1 } END { print n + 0 }'
}

# run CASE PEER(libreswan|strongswan) INITIATOR(ikehub|peer)
run() {
    local case=$1 peer=$2 initiator=$3 ns local peer_addr net start=listen
    step "$case: $initiator initiates, both at their defaults"
    if [ "$peer" = libreswan ]; then
        ns=$B local=192.0.2.1 peer_addr=192.0.2.2 net=10.2.0.0/24
        lsw_conn "$B" ikehub version=2 local=192.0.2.2 remote=192.0.2.1 psk="$PSK" \
            local_ts=10.2.0.0/24 remote_ts=10.1.0.0/24 ike= esp= pfs= \
            salifetime="${CHILD_LIFE}s" ikelifetime="${IKE_LIFE}s" rekeymargin=3s rekeyfuzz=50% &&
            lsw_load "$B" ikehub >/dev/null || { bad "$case: Libreswan connection loaded"; return; }
    else
        ns=$C local=198.51.100.1 peer_addr=198.51.100.2 net=10.3.0.0/24
        swan_conn "$C" ikehub local=198.51.100.2 remote=198.51.100.1 psk="$PSK" \
            local_ts=10.3.0.0/24 remote_ts=10.1.0.0/24 ike= esp= \
            rekey_time="${CHILD_LIFE}s" ike_rekey_time="${IKE_LIFE}s" && swan_load "$C" >/dev/null ||
            { bad "$case: strongSwan connection loaded"; return; }
    fi
    [ "$initiator" = ikehub ] && start=initiate
    ikehub_config "$local" "$peer_addr" "$net" "$start"
    LOG_FROM=$(($(wc -l <"$(ikehub_logfile "$A")" 2>/dev/null || echo 0) + 1))
    ikehub_start "$A" "$CONFIG" || { bad "$case: ikehub started"; ikehub_log "$A"; return; }
    local init_pid=""
    if [ "$initiator" = peer ]; then
        if [ "$peer" = libreswan ]; then spawn init_pid lsw_initiate "$B" ikehub >/dev/null 2>&1
        else swan_initiate "$C" ikehub >/dev/null; fi
    fi
    local established=0
    if [ "$peer" = libreswan ]; then
        wait_for 30 ikehub_established "$A" peer && wait_for 15 lsw_sa_established "$B" ikehub &&
            established=1
    else
        wait_for 30 ikehub_established "$A" peer && wait_for 15 swan_sa_established "$C" ikehub &&
            established=1
    fi
    # lsw_initiate returns once the SA is up or failed
    [ -z "$init_pid" ] || wait "$init_pid"
    if [ "$established" = 1 ]; then
        ok "$case: established on both ends ($(ikehub_field "$A" peer algorithms))"
    else
        bad "$case: established on both ends"
        ikehub_log "$A"; [ "$peer" = libreswan ] && lsw_log "$B" || swan_log "$C"
        ikehub_stop "$A"
        return
    fi
    local child0 ike0 pinger_pid
    child0=$(ikehub_field "$A" peer spi_in)
    ike0=$(ikehub_field "$A" peer spi_i)
    rm -f "$STOP" "$PINGS"
    spawn pinger_pid pinger "${net%.0/24}.1" >"$PINGS" 2>&1
    if wait_for "$REKEY_DEADLINE" rekeyed_enough; then
        ok "$case: $(($(log_count 'peer: tunnel up') - 1)) CHILD_SA rekeys and $(log_count 'peer: IKE SA rekeyed') IKE SA rekeys"
    else
        bad "$case: $CHILD_REKEYS CHILD_SA and $IKE_REKEYS IKE SA rekeys within ${REKEY_DEADLINE}s ($(($(log_count 'peer: tunnel up') - 1)) and $(log_count 'peer: IKE SA rekeyed'))"
        ikehub_log "$A"; [ "$peer" = libreswan ] && lsw_log "$B" || swan_log "$C"
    fi
    touch "$STOP"
    wait "$pinger_pid"
    local sent received
    sent=$(sum_pings transmitted)
    received=$(sum_pings received)
    if [ "$sent" -gt 0 ] && [ "$sent" = "$received" ]; then
        ok "$case: no ping lost ($received of $sent)"
    else
        bad "$case: no ping lost ($received of $sent received)"
        ikehub_log "$A"
    fi
    local child1 ike1
    child1=$(ikehub_field "$A" peer spi_in)
    ike1=$(ikehub_field "$A" peer spi_i)
    if [ -n "$child1" ] && [ "$child1" != "$child0" ] && [ -n "$ike1" ] && [ "$ike1" != "$ike0" ]; then
        ok "$case: status shows new SPIs (CHILD_SA in $child0 -> $child1, IKE SA $ike0 -> $ike1)"
    else
        bad "$case: status shows new SPIs (CHILD_SA in $child0 -> $child1, IKE SA $ike0 -> $ike1)"
    fi
    local failures='CHILD_SA not established|negotiation failed|authentication failed|kernel refused|stopped answering'
    if [ "$(log_count "$failures")" = 0 ]; then
        ok "$case: no SA refused or lost on ikehub's side"
    else
        bad "$case: no SA refused or lost on ikehub's side"
        tail -n "+$LOG_FROM" "$(ikehub_logfile "$A")" | grep -E "$failures"
    fi
    # Rekeys go on: a moment with exactly one pair on both ends shows nothing stale remains.
    if wait_for 20 bash -c "[ \$(ip -n $A xfrm state | grep -c '^src') -eq 2 ] && [ \$(ip -n $ns xfrm state | grep -c '^src') -eq 2 ]"; then
        ok "$case: one kernel SA pair on each end once rekeys settle"
    else
        bad "$case: one kernel SA pair on each end ($(kernel_sa_count "$A") in A, $(kernel_sa_count "$ns") in the peer)"
        ip -n "$A" xfrm state
    fi
    ikehub_stop "$A" && ok "$case: ikehub stops cleanly" || bad "$case: ikehub stops cleanly"
    if [ "$peer" = libreswan ] && [ "$initiator" = peer ]; then
        # Libreswan revives a connection it brought up once the peer deletes it: its new
        # attempts go unanswered, but no established SA may remain.
        wait_for 15 lsw_no_established_sa "$B" ikehub && ok "$case: no established SA left in Libreswan" ||
            bad "$case: no established SA left in Libreswan"
        lsw_whack "$B" --terminate --name ikehub >/dev/null 2>&1
    elif [ "$peer" = libreswan ]; then
        wait_for 15 lsw_no_sa "$B" ikehub && ok "$case: no SA left in Libreswan" ||
            { bad "$case: no SA left in Libreswan"; lsw_whack "$B" --terminate --name ikehub >/dev/null 2>&1; }
    else
        wait_for 15 swan_no_sa "$C" ikehub && ok "$case: no SA left in strongSwan" ||
            { bad "$case: no SA left in strongSwan"; swan_terminate "$C" ikehub >/dev/null; }
    fi
}

run libreswan-i libreswan ikehub
run libreswan-r libreswan peer
run strongswan-i strongswan ikehub
run strongswan-r strongswan peer
finish
