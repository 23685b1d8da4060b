#!/bin/bash
# A hub with many spoke connections (200; IKEHUB_SPOKES changes it on a host run, where the
# environment reaches the script). The spokes are one ikehub daemon with one connection per
# spoke network, all initiating at once; the hub runs in hub
# mode: one xfrm interface per connection and one published weight-100 route per spoke
# network (spoke N: 10.(100 + N/256).(N%256).0/24 behind the spoke, 10.(N/256).(N%256).0/24
# of the head office on the hub side).
#
#   HUB [192.0.2.1 | 10.0.7.1 LAN] ======= N tunnels ======= SPOKES [198.51.100.1 | 10.100.7.1 LAN]
#
# Reports the time until every tunnel is established and every route active, and the hub's
# resident memory before and after (VmRSS), per tunnel; checks one spoke's traffic goes
# through.
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/ikehub.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/ikehub.sh"
# shellcheck source=lib/hub.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/hub.sh"
SPOKES=${IKEHUB_SPOKES:-200}
PROBE=7 # the spoke whose traffic is checked

spoke_net() { echo "10.$((100 + $1 / 256)).$(($1 % 256)).0/24"; }
hub_net() { echo "10.$(($1 / 256)).$(($1 % 256)).0/24"; }

step "hub and spokes"
ns_new HUB || finish
ns_new SPK || finish
topology() {
    ip link add wan netns "$HUB" type veth peer name wan netns "$SPK" &&
        ip -n "$HUB" addr add 192.0.2.1/24 dev wan && ip -n "$HUB" link set wan up &&
        ip -n "$SPK" addr add 198.51.100.1/24 dev wan && ip -n "$SPK" link set wan up &&
        ip -n "$HUB" route add 198.51.100.0/24 dev wan && ip -n "$SPK" route add 192.0.2.0/24 dev wan &&
        ip -n "$SPK" route add 10.0.0.0/14 via 192.0.2.1 &&
        ip -n "$HUB" link add lan type dummy && ip -n "$HUB" link set lan up &&
        ip -n "$HUB" addr add "10.0.$PROBE.1/24" dev lan &&
        ip -n "$SPK" link add lan type dummy && ip -n "$SPK" link set lan up &&
        ip -n "$SPK" addr add "10.100.$PROBE.1/24" dev lan
}
check "link and LANs" topology || finish

{
    printf '[gateway]\nname = "hub"\nlocal_addresses = ["192.0.2.1"]\nlocal_subnets = ["10.0.0.0/14"]\nhub = true\n'
    printf '[[peer]]\nname = "spokes"\naddress = "198.51.100.1"\n'
    for ((n = 0; n < SPOKES; n++)); do
        printf '[[connection]]\nname = "s%d"\npeer = "spokes"\npsk = "hub-scale-test-only-psk-4Rw9"\n' "$n"
        printf 'remote_subnets = ["%s"]\n' "$(spoke_net "$n")"
    done
    for ((n = 0; n < SPOKES; n++)); do
        printf '[[route]]\ndestination = "%s"\nconnection = "s%d"\nweight = 100\npublish = true\n' "$(spoke_net "$n")" "$n"
    done
} >/tmp/ikt-hub-scale-hub.toml
{
    printf '[gateway]\nname = "spokes"\nlocal_addresses = ["198.51.100.1"]\n'
    printf '[[peer]]\nname = "hub"\naddress = "192.0.2.1"\n'
    for ((n = 0; n < SPOKES; n++)); do
        printf '[[connection]]\nname = "s%d"\npeer = "hub"\npsk = "hub-scale-test-only-psk-4Rw9"\n' "$n"
        printf 'local_subnets = ["%s"]\nremote_subnets = ["%s"]\nstart_action = "initiate"\n' "$(spoke_net "$n")" "$(hub_net "$n")"
    done
} >/tmp/ikt-hub-scale-spokes.toml
IKEHUB_DIRS+=(/tmp/ikt-hub-scale-hub.toml /tmp/ikt-hub-scale-spokes.toml)
check "hub configuration with $SPOKES connections and routes is valid" bash -c "ikehub check-config /tmp/ikt-hub-scale-hub.toml >/dev/null"
check "spoke configuration with $SPOKES connections is valid" bash -c "ikehub check-config /tmp/ikt-hub-scale-spokes.toml >/dev/null"

rss_kib() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status" 2>/dev/null; }

step "$SPOKES spokes at once"
ikehub_start "$HUB" /tmp/ikt-hub-scale-hub.toml && ok "hub ready" || bad "hub ready"
hub_pid=${IKEHUB_PID[$HUB]:-}
# spawn starts `ip netns exec`, which execs the daemon: the PID is the daemon's
[ "$(cat "/proc/$hub_pid/comm" 2>/dev/null)" = ikehub ] && ok "hub daemon is pid $hub_pid" ||
    bad "hub daemon pid ($hub_pid is $(cat "/proc/$hub_pid/comm" 2>/dev/null))"
rss_before=$(rss_kib "$hub_pid")
echo "hub VmRSS with $SPOKES connections configured, none up: ${rss_before:-?} KiB"
t0=$(now_ms)
ikehub_start "$SPK" /tmp/ikt-hub-scale-spokes.toml && ok "spokes ready" || bad "spokes ready"
children() { ikehub_json "$1" | grep -c '"spi_in": "'; }
kernel_sas() { ip -n "$1" xfrm state | grep -c '^src'; }
all_up() {
    [ "$(children "$HUB")" -ge "$SPOKES" ] && [ "$(children "$SPK")" -ge "$SPOKES" ] &&
        [ "$(kernel_sas "$HUB")" -ge $((2 * SPOKES)) ]
}
if wait_for 150 all_up; then
    up_ms=$(($(now_ms) - t0))
    ok "$SPOKES tunnels established with their kernel SAs in $up_ms ms"
else
    up_ms=
    bad "$SPOKES tunnels established (hub: $(children "$HUB") children, $(kernel_sas "$HUB") SAs; spokes: $(children "$SPK"))"
    ikehub_log "$HUB" | tail -n 20
fi
routes_active() { [ "$(hub_routes_in_state "$HUB" active)" -ge "$SPOKES" ]; }
if wait_for 60 routes_active; then
    routes_ms=$(($(now_ms) - t0))
    ok "ikehub routes --json: all $SPOKES routes active ($routes_ms ms after the spokes started)"
else
    routes_ms=
    bad "ikehub routes --json: all $SPOKES routes active ($(hub_routes_in_state "$HUB" active) active, $(hub_routes_in_state "$HUB" down) down)"
fi
n=$(ip -n "$HUB" route show table 7220 | grep -c ' dev ikh-')
[ "$n" -ge "$SPOKES" ] && ok "table 7220: $n routes through ikh-* interfaces" || bad "table 7220: $SPOKES routes through ikh-* interfaces ($n)"
n=$(ip -n "$HUB" -d link show type xfrm | grep -c ': ikh-')
[ "$n" -ge "$SPOKES" ] && ok "$n xfrm interfaces on the hub" || bad "$SPOKES xfrm interfaces on the hub ($n)"
rss_after=$(rss_kib "$hub_pid")
spokes_rss=$(rss_kib "${IKEHUB_PID[$SPK]:-}")

step "one spoke's traffic goes through its tunnel"
probe_route=$(hub_route "$HUB" "$(spoke_net "$PROBE")" "s$PROBE")
grep -F '"state":"active"' <<<"$probe_route" >/dev/null && grep -F "\"interface\":\"ikh-s$PROBE\"" <<<"$probe_route" >/dev/null &&
    ok "route $(spoke_net "$PROBE") active on ikh-s$PROBE" || bad "route $(spoke_net "$PROBE") active on ikh-s$PROBE ($probe_route)"
before=$(ikehub_field "$HUB" "s$PROBE" packets_in)
check "spoke $PROBE (10.100.$PROBE.1) pings the hub's 10.0.$PROBE.1" in_ns "$SPK" ping -c 3 -i 0.2 -W 2 -I "10.100.$PROBE.1" "10.0.$PROBE.1"
after=$(ikehub_field "$HUB" "s$PROBE" packets_in)
[ "${after:-0}" -ge $((${before:-0} + 3)) ] && ok "the hub's s$PROBE CHILD_SA counted them ($before -> $after)" ||
    bad "the hub's s$PROBE CHILD_SA counted them ($before -> $after)"
show ikehub_cli "$HUB" status "s$PROBE"

step "measurements"
started=$(now_ms)
ikehub_cli "$HUB" routes --json >/dev/null && routes_json_ms=$(($(now_ms) - started))
echo "all $SPOKES tunnels up in ${up_ms:-n/a} ms, all routes active in ${routes_ms:-n/a} ms"
if [ -n "$rss_before" ] && [ -n "$rss_after" ]; then
    per_tunnel=$(awk -v a="$rss_after" -v b="$rss_before" -v n="$SPOKES" 'BEGIN { printf "%.1f", (a - b) / n }')
    echo "hub VmRSS: $rss_before KiB before, $rss_after KiB with $SPOKES tunnels up: $per_tunnel KiB per tunnel (spoke daemon: ${spokes_rss:-?} KiB)"
    echo "@@METRIC spokes=$SPOKES all_up_ms=${up_ms:-none} routes_active_ms=${routes_ms:-none} hub_rss_before_kib=$rss_before hub_rss_after_kib=$rss_after rss_per_tunnel_kib=$per_tunnel routes_json_ms=${routes_json_ms:-none}"
    ok "hub memory measured"
else
    bad "hub memory measured (VmRSS of pid $hub_pid: before ${rss_before:-?}, after ${rss_after:-?})"
fi

step "the spokes stop; the hub's routes go down"
ikehub_stop "$SPK" && ok "spokes stop cleanly, deleting their SAs" || bad "spokes stop cleanly"
all_down() { [ "$(hub_routes_in_state "$HUB" down)" -ge "$SPOKES" ]; }
wait_for 60 all_down && ok "all $SPOKES hub routes down after the deletes" ||
    bad "all $SPOKES hub routes down ($(hub_routes_in_state "$HUB" active) still active)"
wait_for 30 bash -c "[ \$(ip -n $HUB xfrm state | grep -c '^src') -eq 0 ]" && ok "the hub removed every SA" ||
    bad "the hub removed every SA ($(kernel_sas "$HUB") left)"
ikehub_stop "$HUB" && ok "hub stops cleanly" || bad "hub stops cleanly"
finish
