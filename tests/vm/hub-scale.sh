#!/bin/bash
# A hub with many spoke connections, in rounds of growing size (IKEHUB_SPOKES, comma
# separated; default 200,1000). In each round the spokes are one ikehub daemon with one
# connection per spoke network, all initiating at once; the hub runs in hub mode: one xfrm
# interface per connection and one published weight-100 route per spoke network (spoke N:
# 10.(100 + N/256).(N%256).0/24 behind the spoke, 10.(N/256).(N%256).0/24 of the head office
# on the hub side).
#
#   HUB [192.0.2.1 | 10.0.7.1 LAN] ======= N tunnels ======= SPOKES [198.51.100.1 | 10.100.7.1 LAN]
#
# Reports the time until every tunnel is established and every route active (per tunnel),
# and the hub's resident memory before and after (VmRSS), per tunnel; checks one spoke's
# traffic goes through. Then the spoke daemon is stopped (SIGTERM): its deletes, one per
# tunnel, must all reach the hub, so that within 10 s the hub has every route down and no
# kernel SA left; reports how long that took and the datagrams the kernel dropped on the
# hub's IKE sockets (`dropped_by_kernel` in status, the sockets' /proc/net/udp drops).
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/ikehub.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/ikehub.sh"
# shellcheck source=lib/hub.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/hub.sh"
ROUNDS=${IKEHUB_SPOKES:-200,1000}
PROBE=7          # the spoke whose traffic is checked
TEARDOWN_LIMIT=10 # seconds from the spokes' SIGTERM to a hub without routes up or SAs

spoke_net() { echo "10.$((100 + $1 / 256)).$(($1 % 256)).0/24"; }
rss_kib() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status" 2>/dev/null; }
# Kernel SAs of a namespace, from the SAD's own count (cheap at thousands of SAs).
kernel_sas() { ip -n "$1" xfrm state count | sed -n 's/^[[:space:]]*SAD count \([0-9]*\).*/\1/p'; }
children() { ikehub_json "$1" | grep -c '"spi_in": "'; }
counter() { ikehub_json "$1" | sed -n "s/^ *\"$2\": \([0-9]*\),\{0,1\}$/\1/p" | head -n 1; }
METRICS=()

# round N: N spokes against a fresh hub, from bring-up to teardown.
round() {
    local SPOKES=$1 n var HUB SPK
    var="HUB$SPOKES"
    ns_new "$var" || return 1
    HUB=${!var}
    var="SPK$SPOKES"
    ns_new "$var" || return 1
    SPK=${!var}
    step "$SPOKES spokes: hub and spokes"
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
    check "link and LANs" topology || return 1

    local hub_conf=/tmp/ikt-hub-scale-hub-$SPOKES.toml spk_conf=/tmp/ikt-hub-scale-spokes-$SPOKES.toml
    # awk, not a shell loop: a thousand $(...) cost minutes under emulation.
    awk -v n="$SPOKES" 'BEGIN {
        printf "[gateway]\nname = \"hub\"\nlocal_addresses = [\"192.0.2.1\"]\nlocal_subnets = [\"10.0.0.0/14\"]\nhub = true\n"
        printf "[[peer]]\nname = \"spokes\"\naddress = \"198.51.100.1\"\n"
        for (i = 0; i < n; i++) {
            printf "[[connection]]\nname = \"s%d\"\npeer = \"spokes\"\npsk = \"hub-scale-test-only-psk-4Rw9\"\n", i
            printf "remote_subnets = [\"10.%d.%d.0/24\"]\n", 100 + int(i / 256), i % 256
        }
        for (i = 0; i < n; i++) {
            printf "[[route]]\ndestination = \"10.%d.%d.0/24\"\nconnection = \"s%d\"\nweight = 100\npublish = true\n", 100 + int(i / 256), i % 256, i
        }
    }' >"$hub_conf"
    awk -v n="$SPOKES" 'BEGIN {
        printf "[gateway]\nname = \"spokes\"\nlocal_addresses = [\"198.51.100.1\"]\n"
        printf "[[peer]]\nname = \"hub\"\naddress = \"192.0.2.1\"\n"
        for (i = 0; i < n; i++) {
            printf "[[connection]]\nname = \"s%d\"\npeer = \"hub\"\npsk = \"hub-scale-test-only-psk-4Rw9\"\n", i
            printf "local_subnets = [\"10.%d.%d.0/24\"]\nremote_subnets = [\"10.%d.%d.0/24\"]\nstart_action = \"initiate\"\n", 100 + int(i / 256), i % 256, int(i / 256), i % 256
        }
    }' >"$spk_conf"
    IKEHUB_DIRS+=("$hub_conf" "$spk_conf")
    check "hub configuration with $SPOKES connections and routes is valid" bash -c "ikehub check-config $hub_conf >/dev/null"
    check "spoke configuration with $SPOKES connections is valid" bash -c "ikehub check-config $spk_conf >/dev/null"

    step "$SPOKES spokes at once"
    ikehub_start "$HUB" "$hub_conf" 60 && ok "hub ready" || bad "hub ready"
    local hub_pid=${IKEHUB_PID[$HUB]:-}
    # spawn starts `ip netns exec`, which execs the daemon: the PID is the daemon's
    [ "$(cat "/proc/$hub_pid/comm" 2>/dev/null)" = ikehub ] && ok "hub daemon is pid $hub_pid" ||
        bad "hub daemon pid ($hub_pid is $(cat "/proc/$hub_pid/comm" 2>/dev/null))"
    local rss_before rss_after spokes_rss t0 up_ms routes_ms
    rss_before=$(rss_kib "$hub_pid")
    echo "hub VmRSS with $SPOKES connections configured, none up: ${rss_before:-?} KiB"
    t0=$(now_ms)
    ikehub_start "$SPK" "$spk_conf" 60 && ok "spokes ready" || bad "spokes ready"
    # Polled from the kernels only: a status of thousands of SAs every 100 ms would load
    # the daemons being measured. The daemons' view is checked once after.
    kernels_up() {
        [ "$(kernel_sas "$HUB")" -ge $((2 * SPOKES)) ] && [ "$(kernel_sas "$SPK")" -ge $((2 * SPOKES)) ]
    }
    if wait_for 150 kernels_up; then
        up_ms=$(($(now_ms) - t0))
        ok "$SPOKES tunnels' kernel SAs installed on both ends in $up_ms ms"
    else
        up_ms=
        bad "$SPOKES tunnels' kernel SAs installed (hub: $(kernel_sas "$HUB") SAs; spokes: $(kernel_sas "$SPK"))"
        ikehub_log "$HUB" | tail -n 20
        for ns in "$HUB" "$SPK"; do
            echo "counters of $ns:"
            ikehub_json "$ns" | sed -n '/"counters"/,/}/p' | tr -d ' \n'
            echo
            echo "log lines of $ns by kind:"
            sed -e 's/^[^ ]* *[A-Z]* [^ ]* //' -e 's/^s[0-9]*: //' -e 's/[0-9]\{1,\}/N/g' "$(ikehub_logfile "$ns")" | sort | uniq -c | sort -rn | head -n 12
        done
    fi
    all_up() { [ "$(children "$HUB")" -ge "$SPOKES" ] && [ "$(children "$SPK")" -ge "$SPOKES" ]; }
    wait_for 30 all_up && ok "status: $SPOKES CHILD_SAs on each end" ||
        bad "status: $SPOKES CHILD_SAs on each end (hub: $(children "$HUB"), spokes: $(children "$SPK"))"
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

    step "$SPOKES spokes: one spoke's traffic goes through its tunnel"
    local probe_route before after
    probe_route=$(hub_route "$HUB" "$(spoke_net "$PROBE")" "s$PROBE")
    grep -F '"state":"active"' <<<"$probe_route" >/dev/null && grep -F "\"interface\":\"ikh-s$PROBE\"" <<<"$probe_route" >/dev/null &&
        ok "route $(spoke_net "$PROBE") active on ikh-s$PROBE" || bad "route $(spoke_net "$PROBE") active on ikh-s$PROBE ($probe_route)"
    before=$(ikehub_field "$HUB" "s$PROBE" packets_in)
    check "spoke $PROBE (10.100.$PROBE.1) pings the hub's 10.0.$PROBE.1" in_ns "$SPK" ping -c 3 -i 0.2 -W 2 -I "10.100.$PROBE.1" "10.0.$PROBE.1"
    after=$(ikehub_field "$HUB" "s$PROBE" packets_in)
    [ "${after:-0}" -ge $((${before:-0} + 3)) ] && ok "the hub's s$PROBE CHILD_SA counted them ($before -> $after)" ||
        bad "the hub's s$PROBE CHILD_SA counted them ($before -> $after)"
    show ikehub_cli "$HUB" status "s$PROBE"

    step "$SPOKES spokes: the spoke daemon stops (SIGTERM); the hub's routes go down, its SAs go"
    local spk_pid=${IKEHUB_PID[$SPK]:-} drops_before drops_after t_stop teardown_ms rc retransmits
    drops_before=$(counter "$HUB" dropped_by_kernel)
    t_stop=$(now_ms)
    kill -TERM "$spk_pid"
    hub_clear() { [ "$(kernel_sas "$HUB")" -eq 0 ] && [ "$(hub_routes_in_state "$HUB" down)" -ge "$SPOKES" ]; }
    if wait_for "$TEARDOWN_LIMIT" hub_clear; then
        teardown_ms=$(($(now_ms) - t_stop))
        ok "within ${TEARDOWN_LIMIT} s of the SIGTERM ($teardown_ms ms): all $SPOKES hub routes down, no kernel SA left"
    else
        teardown_ms=
        bad "within ${TEARDOWN_LIMIT} s of the SIGTERM: all $SPOKES hub routes down ($(hub_routes_in_state "$HUB" active) active), no kernel SA left ($(kernel_sas "$HUB") left)"
    fi
    wait "$spk_pid"
    rc=$?
    unset "IKEHUB_PID[$SPK]"
    [ "$rc" -eq 0 ] && ok "the spoke daemon exited cleanly ($(($(now_ms) - t_stop)) ms after the SIGTERM)" ||
        bad "the spoke daemon exited cleanly (status $rc)"
    grep -E 'SIGTERM|every IKE SA is deleted|not deleted within|deletes done' "$(ikehub_logfile "$SPK")" | tail -n 4
    retransmits=$(sed -n 's/.*deletes done in .* \([0-9]*\) request(s) retransmitted.*/\1/p' "$(ikehub_logfile "$SPK")" | tail -n 1)
    drops_after=$(counter "$HUB" dropped_by_kernel)
    [ -n "$drops_after" ] && ok "hub status shows dropped_by_kernel ($drops_before before the deletes, $drops_after after)" ||
        bad "hub status shows dropped_by_kernel"
    echo "hub's IKE sockets in /proc/net/udp (drops last):"
    ip netns exec "$HUB" awk 'NR == 1 || $2 ~ /:(01F4|1194)$/ { print $2, $5, $NF }' /proc/net/udp
    ikehub_stop "$HUB" && ok "hub stops cleanly" || bad "hub stops cleanly"

    local per_tunnel_ms rss_per_tunnel
    per_tunnel_ms=$(awk -v t="${up_ms:-0}" -v n="$SPOKES" 'BEGIN { printf "%.1f", t / n }')
    rss_per_tunnel=$(awk -v a="${rss_after:-0}" -v b="${rss_before:-0}" -v n="$SPOKES" 'BEGIN { printf "%.1f", (a - b) / n }')
    echo "$SPOKES tunnels up in ${up_ms:-n/a} ms (${per_tunnel_ms} ms per tunnel), all routes active in ${routes_ms:-n/a} ms"
    echo "hub VmRSS: ${rss_before:-?} KiB before, ${rss_after:-?} KiB with $SPOKES tunnels up: $rss_per_tunnel KiB per tunnel (spoke daemon: ${spokes_rss:-?} KiB)"
    METRICS+=("@@METRIC spokes=$SPOKES all_up_ms=${up_ms:-none} ms_per_tunnel=$per_tunnel_ms routes_active_ms=${routes_ms:-none} hub_rss_before_kib=${rss_before:-none} hub_rss_after_kib=${rss_after:-none} rss_per_tunnel_kib=$rss_per_tunnel teardown_ms=${teardown_ms:-none} spoke_retransmits_stopping=${retransmits:-none} hub_dropped_by_kernel=${drops_after:-none}")
    ip netns del "$HUB" 2>/dev/null
    ip netns del "$SPK" 2>/dev/null
}

IFS=, read -r -a sizes <<<"$ROUNDS"
for size in "${sizes[@]}"; do
    round "$size"
done
step "measurements"
printf '%s\n' "${METRICS[@]}"
finish
