#!/bin/bash
# Hub failover: an office with two uplinks to the hub, both ikehub in hub mode (route-based).
# Uplink 1 runs IKE and ESP over IPv4, uplink 2 over IPv6 (a second line of another kind; a
# connection's local address is the gateway's first one of the peer's family, so two uplinks
# of one gateway differ in family). Both carry the office's IPv4 traffic.
#
#   HQ 10.0.1.10 --- HUB [10.0.0.1/16] ==uplink1: 192.0.2.1 <-> 198.51.100.40 (link wan1/up1)== OFFICE [10.20.0.1/24 LAN]
#                                      ==uplink2: 2001:db8:2::1 <-> 2001:db8:2::40 (wan2/up2)==
#
# Hub: 10.20.0.0/24 via uplink1 (weight 100) and uplink2 (weight 0). Office: 10.0.0.0/16 via
# uplink1 (100) and uplink2 (0). DPD every second on both sides, and a request unanswered for
# 3 s declares the peer dead (dpd_timeout).
#
# A continuous ping runs from the head office host to the office LAN. Uplink 1 is cut by
# dropping its IKE and ESP with nftables on the office's link; the test waits until the
# routes show the standby active and the pings pass again, and measures both times from the
# cut ("failover: N.N s"). Then the drop rule goes, the active route comes back and uplink 1's
# SA counters move again while uplink 2's stand still.
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/ikehub.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/ikehub.sh"
# shellcheck source=lib/hub.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/hub.sh"
HQ_HOST=10.0.1.10
OFFICE_LAN=10.20.0.1
OFFICE_NET=10.20.0.0/24
HQ_NET=10.0.0.0/16
# A dead peer is declared at most dpd_interval + dpd_timeout (1 + 3 s) after the cut; allow
# for TCG's slowness.
DPD_TIMEOUT_S=3
FAILOVER_DEADLINE=${IKEHUB_FAILOVER_DEADLINE:-40}
PSK1=failover-test-only-uplink1-Hq7Zs3
PSK2=failover-test-only-uplink2-Lm2Wd8

step "topology: head office, hub, office with two uplinks"
ns_new HQ || finish
ns_new HUB || finish
ns_new OFFICE || finish
topology() {
    ip link add wan1 netns "$HUB" type veth peer name up1 netns "$OFFICE" &&
        ip link add wan2 netns "$HUB" type veth peer name up2 netns "$OFFICE" &&
        ip link add lan netns "$HUB" type veth peer name eth0 netns "$HQ" || return 1
    ip -n "$HUB" link set wan1 up && ip -n "$HUB" link set wan2 up && ip -n "$HUB" link set lan up &&
        ip -n "$OFFICE" link set up1 up && ip -n "$OFFICE" link set up2 up && ip -n "$HQ" link set eth0 up || return 1
    # uplink 1: IPv4
    ip -n "$HUB" addr add 192.0.2.1/32 dev wan1 && ip -n "$HUB" route add 198.51.100.40/32 dev wan1 &&
        ip -n "$OFFICE" addr add 198.51.100.40/32 dev up1 && ip -n "$OFFICE" route add 192.0.2.1/32 dev up1 || return 1
    # uplink 2: IPv6
    ip -n "$HUB" addr add 2001:db8:2::1/64 dev wan2 nodad &&
        ip -n "$OFFICE" addr add 2001:db8:2::40/64 dev up2 nodad || return 1
    # head office network and the office LAN
    ip -n "$HUB" addr add 10.0.0.1/16 dev lan && ip -n "$HQ" addr add "$HQ_HOST/16" dev eth0 &&
        ip -n "$HQ" route add default via 10.0.0.1 || return 1
    ip -n "$OFFICE" link add lan type dummy && ip -n "$OFFICE" link set lan up &&
        ip -n "$OFFICE" addr add "$OFFICE_LAN/24" dev lan || return 1
    in_ns "$HUB" sysctl -qw net.ipv4.ip_forward=1
}
check "links and addresses" topology || finish
check "uplink 1 (IPv4) carries packets" in_ns "$HUB" ping -c 1 -W 5 198.51.100.40
wait_for 10 in_ns "$HUB" ping -6 -c 1 -W 1 2001:db8:2::40 && ok "uplink 2 (IPv6) carries packets" ||
    bad "uplink 2 (IPv6) carries packets"

# connection NAME PEER PSK REMOTE START
connection() {
    cat <<EOF
[[connection]]
name = "$1"
peer = "$2"
psk = "$3"
remote_subnets = ["$4"]
dpd_interval = "1s"
dpd_timeout = "${DPD_TIMEOUT_S}s"
start_action = "$5"
EOF
}
# route_entry DESTINATION CONNECTION WEIGHT
route_entry() {
    printf '[[route]]\ndestination = "%s"\nconnection = "%s"\nweight = %s\npublish = true\n' "$1" "$2" "$3"
}
{
    printf '[gateway]\nname = "hub"\nlocal_addresses = ["192.0.2.1", "2001:db8:2::1"]\n'
    printf 'local_subnets = ["%s"]\nhub = true\n' "$HQ_NET"
    printf '[[peer]]\nname = "office-v4"\naddress = "198.51.100.40"\n'
    printf '[[peer]]\nname = "office-v6"\naddress = "2001:db8:2::40"\n'
    connection uplink1 office-v4 "$PSK1" "$OFFICE_NET" listen
    connection uplink2 office-v6 "$PSK2" "$OFFICE_NET" listen
    route_entry "$OFFICE_NET" uplink1 100
    route_entry "$OFFICE_NET" uplink2 0
} >/tmp/ikt-failover-hub.toml
{
    printf '[gateway]\nname = "office"\nlocal_addresses = ["198.51.100.40", "2001:db8:2::40"]\n'
    printf 'local_subnets = ["%s"]\nhub = true\n' "$OFFICE_NET"
    printf '[[peer]]\nname = "hub-v4"\naddress = "192.0.2.1"\n'
    printf '[[peer]]\nname = "hub-v6"\naddress = "2001:db8:2::1"\n'
    connection uplink1 hub-v4 "$PSK1" "$HQ_NET" initiate
    connection uplink2 hub-v6 "$PSK2" "$HQ_NET" initiate
    route_entry "$HQ_NET" uplink1 100
    route_entry "$HQ_NET" uplink2 0
} >/tmp/ikt-failover-office.toml
IKEHUB_DIRS+=(/tmp/ikt-failover-hub.toml /tmp/ikt-failover-office.toml)
check "hub configuration is valid" ikehub check-config /tmp/ikt-failover-hub.toml
check "office configuration is valid" ikehub check-config /tmp/ikt-failover-office.toml

step "both uplinks up; uplink 1 active, uplink 2 standby"
ikehub_start "$HUB" /tmp/ikt-failover-hub.toml && ok "hub daemon ready" || bad "hub daemon ready"
ikehub_start "$OFFICE" /tmp/ikt-failover-office.toml && ok "office daemon ready" || bad "office daemon ready"
both_up() {
    ikehub_established "$HUB" uplink1 && ikehub_established "$HUB" uplink2 &&
        ikehub_established "$OFFICE" uplink1 && ikehub_established "$OFFICE" uplink2
}
if wait_for 40 both_up; then
    ok "both uplinks established on both sides"
else
    bad "both uplinks established on both sides"
    ikehub_log "$HUB"; ikehub_log "$OFFICE"
fi
# routes_are NS DEST STATE1 STATE2: uplink1's entry is STATE1 and uplink2's STATE2
routes_are() {
    hub_route_is "$1" "$2" uplink1 "$3" && hub_route_is "$1" "$2" uplink2 "$4"
}
if wait_for 10 routes_are "$HUB" "$OFFICE_NET" active standby; then
    ok "hub: $OFFICE_NET active via uplink1, standby via uplink2"
else
    # Without an active and a standby route there is no failover to measure: stop here
    # rather than wait minutes for a switch that cannot happen.
    bad "hub: $OFFICE_NET active via uplink1, standby via uplink2 ($(hub_routes "$HUB" | tr '\n' ' '))"
    ikehub_log "$HUB" | tail -n 20
    finish
fi
wait_for 10 routes_are "$OFFICE" "$HQ_NET" active standby && ok "office: $HQ_NET active via uplink1, standby via uplink2" ||
    bad "office: $HQ_NET active via uplink1, standby via uplink2 ($(hub_routes "$OFFICE" | tr '\n' ' '))"
show ikehub_cli "$HUB" routes
show ip -n "$HUB" route show table 7220
check "the head office reaches the office" in_ns "$HQ" ping -c 2 -i 0.2 -W 2 "$OFFICE_LAN"

packets() { ikehub_field "$HUB" "$1" packets_out; }
u1=$(packets uplink1)
u2=$(packets uplink2)
in_ns "$HQ" ping -c 5 -i 0.2 -W 2 "$OFFICE_LAN" >/dev/null
u1b=$(packets uplink1)
u2b=$(packets uplink2)
[ "${u1b:-0}" -ge $((${u1:-0} + 5)) ] && [ "${u2b:-x}" = "${u2:-y}" ] &&
    ok "traffic takes uplink 1 (hub out: uplink1 $u1 -> $u1b, uplink2 $u2 -> $u2b)" ||
    bad "traffic takes uplink 1 (hub out: uplink1 $u1 -> $u1b, uplink2 $u2 -> $u2b)"

step "a continuous ping from the head office to the office"
PING_LOG=/tmp/ikt-failover-ping.log
IKEHUB_DIRS+=("$PING_LOG")
: >"$PING_LOG"
# Every reply line gets a millisecond timestamp (busybox ping has no -D).
# shellcheck disable=SC2016 # expanded by the inner bash
spawn PINGER bash -c 'ip netns exec "$1" ping -i 0.2 "$2" 2>&1 | while IFS= read -r line; do
    t=${EPOCHREALTIME/./}; echo "$((t / 1000)) $line"; done' ping "$HQ" "$OFFICE_LAN" >>"$PING_LOG"
replies() { grep -c 'bytes from' "$PING_LOG"; }
wait_for 10 bash -c "[ \$(grep -c 'bytes from' $PING_LOG) -ge 5 ]" && ok "ping stream flowing ($(replies) replies)" ||
    bad "ping stream flowing"

step "cut uplink 1: drop its IKE and ESP on the office's link"
cut_uplink1() {
    in_ns "$OFFICE" nft -f - <<'NFT'
table netdev cut {
    chain in {
        type filter hook ingress device up1 priority 0;
        ip protocol esp counter drop
        udp sport { 500, 4500 } counter drop
        udp dport { 500, 4500 } counter drop
    }
    chain out {
        type filter hook egress device up1 priority 0;
        ip protocol esp counter drop
        udp sport { 500, 4500 } counter drop
        udp dport { 500, 4500 } counter drop
    }
}
NFT
}
cut_at=$(now_ms)
check "nftables drop rule on up1" cut_uplink1
hub_switched() { routes_are "$HUB" "$OFFICE_NET" down active; }
if wait_for "$FAILOVER_DEADLINE" hub_switched; then
    route_ms=$(($(now_ms) - cut_at))
    ok "hub: uplink1 down, uplink2 active $((route_ms / 1000)).$((route_ms % 1000 / 100)) s after the cut"
else
    route_ms=
    bad "hub: uplink1 down, uplink2 active within ${FAILOVER_DEADLINE}s ($(hub_routes "$HUB" | tr '\n' ' '))"
    ikehub_log "$HUB" | tail -n 30
fi
wait_for 20 routes_are "$OFFICE" "$HQ_NET" down active && ok "office: uplink1 down, uplink2 active" ||
    bad "office: uplink1 down, uplink2 active ($(hub_routes "$OFFICE" | tr '\n' ' '))"
show ikehub_cli "$HUB" routes
show ip -n "$HUB" route show table 7220
dropped=$(in_ns "$OFFICE" nft list table netdev cut | sed -n 's/.*counter packets \([0-9]*\) .*/\1/p' | awk '{ s += $1 } END { print s + 0 }')
[ "$dropped" -gt 0 ] && ok "the cut dropped $dropped IKE/ESP packets on uplink 1" || bad "the cut dropped IKE/ESP packets on uplink 1"

# The first reply after the cut that follows a gap in the sequence numbers: traffic through
# uplink 2. Prints "MS_SINCE_CUT SEQ".
first_reply_after_gap() {
    awk -v cut="$cut_at" '/bytes from/ {
        seq = -1
        for (i = 1; i <= NF; i++) if ($i ~ /^seq=/) { seq = substr($i, 5) + 0 }
        if ($1 > cut && have && seq > prev + 1) { print $1 - cut, seq; exit }
        prev = seq; have = 1
    }' "$PING_LOG"
}
ping_passes_again() { [ -n "$(first_reply_after_gap)" ]; }
if wait_for 30 ping_passes_again; then
    read -r ping_ms seq < <(first_reply_after_gap)
    ok "pings pass again through uplink 2 (first answered: seq $seq)"
else
    ping_ms=
    bad "pings pass again through uplink 2"
    tail -n 5 "$PING_LOG"
fi
seconds() { [ -n "$1" ] && echo "$(($1 / 1000)).$(($1 % 1000 / 100)) s" || echo "n/a"; }
echo "failover: $(seconds "$ping_ms") (cut to the first ping answered after it)"
echo "failover: route switch on the hub $(seconds "$route_ms") after the cut"
echo "@@METRIC failover_ping_ms=${ping_ms:-none} failover_route_ms=${route_ms:-none} dpd_interval_s=1 dpd_timeout_s=$DPD_TIMEOUT_S"
u2=$(packets uplink2)
check "5 pings through uplink 2" in_ns "$HQ" ping -c 5 -i 0.2 -W 2 "$OFFICE_LAN"
u2b=$(packets uplink2)
[ "${u2b:-0}" -ge $((${u2:-0} + 5)) ] && ok "uplink 2 counters move (hub out $u2 -> $u2b)" ||
    bad "uplink 2 counters move (hub out $u2 -> $u2b)"

step "repair uplink 1: the active route comes back"
repaired_at=$(now_ms)
check "drop rule removed" in_ns "$OFFICE" nft delete table netdev cut
hub_back() { routes_are "$HUB" "$OFFICE_NET" active standby && routes_are "$OFFICE" "$HQ_NET" active standby; }
if wait_for 45 hub_back; then
    back_ms=$(($(now_ms) - repaired_at))
    ok "uplink1 active and uplink2 standby again on both sides, $(seconds "$back_ms") after the repair"
    echo "@@METRIC failback_ms=$back_ms"
else
    bad "uplink1 active again on both sides ($(hub_routes "$HUB" | tr '\n' ' '); $(hub_routes "$OFFICE" | tr '\n' ' '))"
    ikehub_log "$OFFICE" | tail -n 30
fi
show ikehub_cli "$HUB" routes
u1=$(packets uplink1)
u2=$(packets uplink2)
check "5 pings after the repair" in_ns "$HQ" ping -c 5 -i 0.2 -W 2 "$OFFICE_LAN"
u1b=$(packets uplink1)
u2b=$(packets uplink2)
[ "${u1b:-0}" -ge $((${u1:-0} + 5)) ] && ok "uplink 1 carries the traffic again (hub out $u1 -> $u1b)" ||
    bad "uplink 1 carries the traffic again (hub out $u1 -> $u1b)"
[ -n "$u2b" ] && [ "$u2b" = "$u2" ] && ok "uplink 2 is idle again (hub out stays $u2b)" ||
    bad "uplink 2 is idle again (hub out $u2 -> $u2b)"
# The stream's sequence numbers count the requests sent so far; the replies missing are the
# outage (and the stream goes on through the repair: no loss expected there).
awk '/bytes from/ { n++; for (i = 1; i <= NF; i++) if ($i ~ /^seq=/) last = substr($i, 5) + 0 }
    END { printf "continuous ping: %d requests answered of %d sent (%d lost)\n", n, last + 1, last + 1 - n }' "$PING_LOG"
show ikehub_cli "$HUB" status
echo "failover: $(seconds "$ping_ms") (cut to the first ping answered after it); route switch $(seconds "$route_ms"); failback $(seconds "${back_ms:-}")"
finish
