#!/bin/bash
# The hub scenario: a head office hub and three branch offices, configured with the shipped
# examples as they are. The hub runs examples/hub.toml (hub mode: one xfrm interface per
# connection, routes in table 7220); Shanghai and Hangzhou run ikehub with
# examples/hub-office-shanghai.toml and hub-office-hangzhou.toml (Hangzhou over IKEv1: one
# IPsec SA pair per pair of subnets, whose counters are summed); Ningbo runs strongSwan with
# examples/strongswan/ningbo.swanctl.conf (narrow traffic selectors).
# guest-payload: strongswan
#
#                              NET (a router: the internet)
#   HQ 10.0.1.10 --- HUB [10.0.0.1/16 | 192.0.2.1] --+-- SH [198.51.100.10 | 10.10.10.1/24 LAN]
#                                                    +-- HZ [198.51.100.20 | 10.10.20.1/24 LAN]
#                                                    +-- NB [198.51.100.30 | 10.10.30.1/24 LAN] strongSwan
#
# All three tunnels come up; `ikehub routes --json` shows three active published routes on
# ikh-shanghai, ikh-hangzhou, ikh-ningbo and table 7220 holds them; every office reaches the
# head office and every other office (through the hub), from its LAN address; the hub's ESP
# counters move; nothing private leaves the hub unencrypted.
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/strongswan.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/strongswan.sh"
# shellcheck source=lib/ikehub.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/ikehub.sh"
# shellcheck source=lib/hub.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/hub.sh"
# The examples hold inline keys: the daemons get a copy only root can read.
ikehub_examples "${IKEHUB_EXAMPLES:-/examples}" || {
    bad "private copy of the examples"
    finish
}
HUB_TABLE=7220

# office name -> namespace variable, public address, LAN address
OFFICES=(shanghai hangzhou ningbo)
declare -A OFFICE_WAN=([shanghai]=198.51.100.10 [hangzhou]=198.51.100.20 [ningbo]=198.51.100.30)
declare -A OFFICE_LAN=([shanghai]=10.10.10.1 [hangzhou]=10.10.20.1 [ningbo]=10.10.30.1)
declare -A OFFICE_NET=([shanghai]=10.10.10.0/24 [hangzhou]=10.10.20.0/24 [ningbo]=10.10.30.0/24)
declare -A OFFICE_NS
HQ_HOST=10.0.1.10

step "topology: the hub, its head-office network and three offices on one internet"
ns_new NET || finish
ns_new HQ || finish
ns_new HUB || finish
ns_new SH || finish
ns_new HZ || finish
ns_new NB || finish
OFFICE_NS=([shanghai]=$SH [hangzhou]=$HZ [ningbo]=$NB)
# NET routes between the sites' public addresses (a /32 each, reached with proxy ARP).
declare -A PUBLIC
topology() {
    PUBLIC=([$HUB]=192.0.2.1 [$SH]=${OFFICE_WAN[shanghai]} [$HZ]=${OFFICE_WAN[hangzhou]} [$NB]=${OFFICE_WAN[ningbo]})
    in_ns "$NET" sysctl -qw net.ipv4.ip_forward=1 && in_ns "$NET" sysctl -qw net.ipv4.conf.all.proxy_arp=1 || return 1
    local ns i=0
    for ns in "$HUB" "$SH" "$HZ" "$NB"; do
        i=$((i + 1))
        ip link add wan netns "$ns" type veth peer name "port$i" netns "$NET" &&
            ip -n "$NET" link set "port$i" up && ip -n "$NET" addr add 100.64.0.1/32 dev "port$i" &&
            in_ns "$NET" sysctl -qw "net.ipv4.conf.port$i.proxy_arp=1" &&
            ip -n "$NET" route add "${PUBLIC[$ns]}/32" dev "port$i" &&
            ip -n "$ns" link set wan up && ip -n "$ns" route add default dev wan || return 1
    done
    ip -n "$HUB" addr add 192.0.2.1/32 dev wan || return 1
    ip link add lan netns "$HUB" type veth peer name eth0 netns "$HQ" &&
        ip -n "$HUB" addr add 10.0.0.1/16 dev lan && ip -n "$HUB" link set lan up &&
        ip -n "$HQ" addr add "$HQ_HOST/16" dev eth0 && ip -n "$HQ" link set eth0 up &&
        ip -n "$HQ" route add default via 10.0.0.1 || return 1
    in_ns "$HUB" sysctl -qw net.ipv4.ip_forward=1 || return 1
    local office
    for office in "${OFFICES[@]}"; do
        ns=${OFFICE_NS[$office]}
        ip -n "$ns" addr add "${OFFICE_WAN[$office]}/32" dev wan &&
            ip -n "$ns" link add lan type dummy && ip -n "$ns" link set lan up &&
            ip -n "$ns" addr add "${OFFICE_LAN[$office]}/24" dev lan || return 1
    done
}
check "router, links, addresses" topology || finish
check "the hub reaches the offices' public addresses" in_ns "$HUB" ping -c 1 -W 5 198.51.100.30
# Like the internet, nothing leaving the hub's public link may carry a private destination:
# count (and drop) any that would leak past the tunnels.
in_ns "$HUB" nft -f - <<'NFT' && ok "leak counter on the hub's internet link" || bad "leak counter on the hub's internet link"
table netdev wire {
    chain out {
        type filter hook egress device wan priority 0;
        ip daddr 10.0.0.0/8 counter drop comment "private"
    }
}
NFT
leaked() {
    in_ns "$HUB" nft list chain netdev wire out | sed -n 's/.*counter packets \([0-9]*\) .*comment "private".*/\1/p'
}
if in_ns "$SH" ping -c 1 -W 1 -I 10.10.10.1 "$HQ_HOST" >/dev/null 2>&1; then
    bad "offices cannot reach the head office without the tunnels"
else
    ok "offices cannot reach the head office without the tunnels"
fi

step "the hub and the offices start with the shipped examples"
for f in hub.toml hub-office-shanghai.toml hub-office-hangzhou.toml; do
    check "$f is valid" ikehub check-config "$EXAMPLES/$f"
done
t0=$(now_ms)
ikehub_start "$HUB" "$EXAMPLES/hub.toml" && ok "hub daemon ready" || bad "hub daemon ready"
ikehub_start "$SH" "$EXAMPLES/hub-office-shanghai.toml" && ok "Shanghai daemon ready" || bad "Shanghai daemon ready"
ikehub_start "$HZ" "$EXAMPLES/hub-office-hangzhou.toml" && ok "Hangzhou daemon ready" || bad "Hangzhou daemon ready"
swan_start "$NB" && ok "Ningbo strongSwan ready" || bad "Ningbo strongSwan ready"
cp "$EXAMPLES/strongswan/ningbo.swanctl.conf" "$(swan_dir "$NB")/swanctl/conf.d/hub.conf" &&
    check "Ningbo loads ningbo.swanctl.conf (start_action = start initiates)" swan_load "$NB"

step "three tunnels up"
all_up() {
    ikehub_established "$HUB" shanghai && ikehub_established "$HUB" hangzhou &&
        ikehub_established "$HUB" ningbo
}
if wait_for 40 all_up; then
    ok "the hub has all three tunnels established ($(($(now_ms) - t0)) ms)"
    echo "@@METRIC hub_three_offices_up_ms=$(($(now_ms) - t0))"
else
    bad "the hub has all three tunnels established"
    ikehub_log "$HUB"; ikehub_log "$SH"; swan_log "$NB"
fi
wait_for 10 ikehub_established "$SH" hub && ok "Shanghai: tunnel established" || bad "Shanghai: tunnel established"
wait_for 10 ikehub_established "$HZ" hub && ok "Hangzhou: tunnel established" || bad "Hangzhou: tunnel established"
wait_for 10 swan_sa_established "$NB" hub && ok "Ningbo (strongSwan): IKE SA and CHILD_SA installed" ||
    bad "Ningbo (strongSwan): IKE SA and CHILD_SA installed"

step "status: each connection has its xfrm interface and if_id"
for office in "${OFFICES[@]}"; do
    iface=$(ikehub_field "$HUB" "$office" interface)
    if_id=$(ikehub_field "$HUB" "$office" if_id)
    if [ "$iface" = "ikh-$office" ] && [[ $if_id =~ ^[1-9][0-9]*$ ]]; then
        ok "$office: interface $iface, if_id $if_id"
    else
        bad "$office: interface ikh-$office and a non-zero if_id (got \"$iface\", \"$if_id\")"
    fi
    # iproute2 prints the xfrm interface's if_id in hex
    if [[ $if_id =~ ^[0-9]+$ ]] && ip -n "$HUB" -d link show "ikh-$office" 2>/dev/null |
        grep -E "xfrm .*if_id $(printf '0x%x' "$if_id")( |$)" >/dev/null; then
        ok "$office: ikh-$office is an xfrm interface with if_id $if_id"
    else
        bad "$office: ikh-$office is an xfrm interface with if_id $if_id"
        ip -n "$HUB" -d link show "ikh-$office"
    fi
done

step "routes: three active published routes, on the right interfaces"
show ikehub_cli "$HUB" routes
routes_active() { [ "$(hub_routes_in_state "$HUB" active)" -eq 3 ]; }
wait_for 10 routes_active && ok "ikehub routes --json: 3 routes active" ||
    bad "ikehub routes --json: 3 routes active ($(hub_routes "$HUB"))"
for office in "${OFFICES[@]}"; do
    net=${OFFICE_NET[$office]}
    route=$(hub_route "$HUB" "$net" "$office")
    if grep -F '"state":"active"' <<<"$route" >/dev/null && grep -F "\"interface\":\"ikh-$office\"" <<<"$route" >/dev/null &&
        grep -F '"weight":100' <<<"$route" >/dev/null && grep -F '"published":true' <<<"$route" >/dev/null; then
        ok "route $net -> $office: active, weight 100, published, on ikh-$office"
    else
        bad "route $net -> $office: active, weight 100, published, on ikh-$office (got: $route)"
    fi
    if ip -n "$HUB" route show table "$HUB_TABLE" "$net" | grep -E "^$net dev ikh-$office .*proto 226" >/dev/null; then
        ok "table $HUB_TABLE: $net dev ikh-$office"
    else
        bad "table $HUB_TABLE: $net dev ikh-$office"
        ip -n "$HUB" route show table "$HUB_TABLE"
    fi
    ip -n "$HUB" route show "$net" | grep -E "dev ikh-$office" >/dev/null &&
        ok "main table: $net published via ikh-$office" || bad "main table: $net published via ikh-$office"
done
ip -n "$HUB" rule show | grep -E "^$HUB_TABLE:.*lookup $HUB_TABLE" >/dev/null &&
    ok "lookup rule $HUB_TABLE" || bad "lookup rule $HUB_TABLE ($(ip -n "$HUB" rule show | tr '\n' ';'))"
show ip -n "$HUB" route show table "$HUB_TABLE"

step "every office reaches the head office and every other office, from its LAN"
declare -A IN_BEFORE OUT_BEFORE
for office in "${OFFICES[@]}"; do
    IN_BEFORE[$office]=$(ikehub_sum "$HUB" "$office" packets_in)
    OUT_BEFORE[$office]=$(ikehub_sum "$HUB" "$office" packets_out)
done
for office in "${OFFICES[@]}"; do
    ns=${OFFICE_NS[$office]}
    src=${OFFICE_LAN[$office]}
    if wait_for 10 in_ns "$ns" ping -c 1 -W 1 -I "$src" "$HQ_HOST"; then
        ok "$office ($src) pings the head office host $HQ_HOST"
    else
        bad "$office ($src) pings the head office host $HQ_HOST"
    fi
    for other in "${OFFICES[@]}"; do
        [ "$other" = "$office" ] && continue
        check "$office ($src) pings $other (${OFFICE_LAN[$other]}) through the hub" \
            in_ns "$ns" ping -c 2 -i 0.2 -W 2 -I "$src" "${OFFICE_LAN[$other]}"
    done
done
for office in "${OFFICES[@]}"; do
    check "the head office host pings $office (${OFFICE_LAN[$office]})" in_ns "$HQ" ping -c 2 -i 0.2 -W 2 "${OFFICE_LAN[$office]}"
done

step "the hub's ESP counters moved on every connection"
for office in "${OFFICES[@]}"; do
    in_now=$(ikehub_sum "$HUB" "$office" packets_in)
    out_now=$(ikehub_sum "$HUB" "$office" packets_out)
    # Each office sent at least 1 + 2 + 2 echo requests and got as many replies, and was
    # pinged 2 + 2 + 2 times by the others and the head office.
    if [ "${in_now:-0}" -ge $((${IN_BEFORE[$office]:-0} + 9)) ] && [ "${out_now:-0}" -ge $((${OUT_BEFORE[$office]:-0} + 9)) ]; then
        ok "$office: hub CHILD_SA packets in ${IN_BEFORE[$office]} -> $in_now, out ${OUT_BEFORE[$office]} -> $out_now"
    else
        bad "$office: hub CHILD_SA packets moved (in ${IN_BEFORE[$office]} -> $in_now, out ${OUT_BEFORE[$office]} -> $out_now)"
    fi
done
n=$(leaked)
[ "${n:-1}" -eq 0 ] && ok "no private destination left the hub unencrypted" ||
    bad "no private destination left the hub unencrypted ($n packets)"

step "Ningbo's narrow selectors, as negotiated"
remote_ts=$(hub_child_ts "$HUB" ningbo remote)
local_ts=$(hub_child_ts "$HUB" ningbo local)
[ "$remote_ts" = "10.10.30.0/24" ] && ok "hub side: remote_ts $remote_ts" || bad "hub side: remote_ts 10.10.30.0/24 (got $remote_ts)"
narrow=1
for net in 10.0.0.0/16 10.10.10.0/24 10.10.20.0/24; do
    [[ ",$local_ts," == *",$net,"* ]] || narrow=0
done
[[ ",$local_ts," == *",0.0.0.0/0,"* ]] && narrow=0
[ "$narrow" = 1 ] && ok "hub side: local_ts narrowed to Ningbo's remote_ts ($local_ts)" ||
    bad "hub side: local_ts narrowed to 10.0.0.0/16, 10.10.10.0/24, 10.10.20.0/24 (got $local_ts)"
sas=$(swan_sas "$NB" hub)
swan_local_ts=$(grep -o 'local-ts=\[[^]]*\]' <<<"$sas" | head -n 1)
swan_remote_ts=$(grep -o 'remote-ts=\[[^]]*\]' <<<"$sas" | head -n 1)
if [ "$swan_local_ts" = "local-ts=[10.10.30.0/24]" ] && [ "$(grep -o '10\.[0-9./]*' <<<"$swan_remote_ts" | sort | tr '\n' ' ')" = "10.0.0.0/16 10.10.10.0/24 10.10.20.0/24 " ]; then
    ok "strongSwan side: $swan_local_ts $swan_remote_ts"
else
    bad "strongSwan side: the CHILD_SA keeps its narrow selectors"
    echo "$sas"
fi
show swan_ctl "$NB" --list-sas

step "status on the hub"
show ikehub_cli "$HUB" status
show ikehub_cli "$HUB" routes
finish
