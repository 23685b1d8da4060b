#!/bin/bash
# One daemon per instance, and only its own kernel state.
#
#   A (ikehub): 192.0.2.1  inner 10.1.0.0/24  ===  B (ikehub): 192.0.2.2  inner 10.2.0.0/24
#
# (a) With the tunnel up, a second daemon for A's instance (same control socket, another
#     configuration) exits non-zero naming the running daemon's pid, and A's XFRM states and
#     policies are unchanged.
# (b) Beside the tunnel, an SA and a policy of another program in ikehub's reqid range
#     (reqid 0x40000123, as another IKE daemon configured with that reqid would make them).
#     A is killed with SIGKILL and started again: exactly the dead run's SAs and policies are
#     removed, the other program's SA and policy stay.
# (c) strongSwan in A's namespace (its IKE on ports 1500/14500, beside ikehub's 500/4500) with
#     a tunnel to D whose CHILD_SA has reqid 0x40000124, in ikehub's range. ikehub's A is
#     killed with SIGKILL while its tunnel with B is up, and started again: strongSwan's SAs
#     and policies are unchanged and its tunnel still carries pings.
# (d) A hub daemon (E, two connections, xfrm interfaces ikh-c1 and ikh-c2) is killed with
#     SIGKILL; beside its objects an xfrm interface ikh-other with a route of ikehub's
#     protocol, made by hand. The next run removes exactly the dead run's interfaces, routes
#     and rules (its links record, control.links.state) and leaves ikh-other and its route
#     alone, and a clean stop empties that record.
# guest-payload: strongswan
#
#   A 198.51.100.1 inner 10.7.0.1/24 (strongSwan)  ===  D 198.51.100.2 inner 10.6.0.1/24
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/strongswan.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/strongswan.sh"
# shellcheck source=lib/ikehub.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/ikehub.sh"

PSK=second-daemon-test-psk-4Kd9
CONFIG_A=/tmp/ikt-second-a.toml
CONFIG_A2=/tmp/ikt-second-a2.toml
CONFIG_B=/tmp/ikt-second-b.toml
SECOND_LOG=/tmp/ikt-second-daemon.log
IKEHUB_DIRS+=("$CONFIG_A" "$CONFIG_A2" "$CONFIG_B" "$SECOND_LOG")

step "topology"
ns_new A || finish
ns_new B || finish
check "veth A<->B" ip link add vA netns "$A" type veth peer name vB netns "$B"
ip -n "$A" addr add 192.0.2.1/24 dev vA && ip -n "$A" link set vA up
ip -n "$B" addr add 192.0.2.2/24 dev vB && ip -n "$B" link set vB up
for ns in "$A" "$B"; do ip -n "$ns" link set lo up; done
check "plain ping A->B" in_ns "$A" ping -c 1 -W 5 192.0.2.2

# config LOCAL REMOTE LOCAL_NET REMOTE_NET START_ACTION [CONNECTION]
config() {
    cat <<CONFIG_END
[gateway]
name = "ikehub"
local_addresses = ["$1"]
local_subnets = ["$3"]
[[peer]]
name = "peer"
address = "$2"
[[connection]]
name = "${6:-tunnel}"
peer = "peer"
psk = "$PSK"
remote_subnets = ["$4"]
start_action = "$5"
CONFIG_END
}
config 192.0.2.1 192.0.2.2 10.1.0.0/24 10.2.0.0/24 initiate >"$CONFIG_A"
config 192.0.2.2 192.0.2.1 10.2.0.0/24 10.1.0.0/24 listen >"$CONFIG_B"
# The second daemon's: another connection, other subnets.
config 192.0.2.1 192.0.2.2 10.11.0.0/24 10.12.0.0/24 initiate other >"$CONFIG_A2"

# xfrm_view NS: the SAs and policies, without what moves with traffic and time (replay
# counters, lifetimes in use).
xfrm_view() {
    echo "== states"
    ip -n "$1" xfrm state | grep -vE 'anti-replay|lifetime|current|lastused|bytes|packets'
    echo "== policies"
    ip -n "$1" xfrm policy | grep -vE 'lifetime|current|lastused|bytes|packets'
}
# spis NS: the SPIs of NS's ESP SAs, one a line, sorted.
spis() { ip -n "$1" xfrm state | sed -n 's/.*proto esp spi \(0x[0-9a-f]*\).*/\1/p' | sort; }
# log_says NS TEXT: the daemon's log has TEXT.
log_says() { grep -F -- "$2" "$(ikehub_logfile "$1")" >/dev/null; }

step "a tunnel between two ikehub daemons"
ikehub_start "$B" "$CONFIG_B" || { bad "B's daemon started"; ikehub_log "$B"; finish; }
ikehub_start "$A" "$CONFIG_A" || { bad "A's daemon started"; ikehub_log "$A"; finish; }
if wait_for 30 ikehub_established "$A" tunnel; then
    ok "tunnel established"
else
    bad "tunnel established"; ikehub_log "$A"; ikehub_log "$B"; finish
fi
[ "$(spis "$A" | wc -l)" -eq 2 ] && ok "A holds the tunnel's 2 SAs" || bad "A holds the tunnel's 2 SAs ($(spis "$A" | tr '\n' ' '))"
# The instance's files sit beside its control socket.
socket=$(ikehub_socket "$A")
lock=${socket%.sock}.lock
record=${socket%.sock}.state
IKEHUB_DIRS+=("$lock" "$record")
first_pid=${IKEHUB_PID[$A]}
[ "$(cat "$lock" 2>/dev/null)" = "$first_pid" ] && ok "the lock file $lock holds the daemon's pid" ||
    bad "the lock file $lock holds the daemon's pid $first_pid (has: $(cat "$lock" 2>/dev/null))"

step "(a) a second daemon for the same instance changes nothing"
before=$(xfrm_view "$A")
# iproute2's ip by its path: busybox's timeout would run its own ip applet
timeout 20 "$(type -P ip)" netns exec "$A" ikehub daemon --config "$CONFIG_A2" --socket "$(ikehub_socket "$A")" \
    2>"$SECOND_LOG"
rc=$?
cat "$SECOND_LOG"
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && ok "the second daemon exits non-zero ($rc)" ||
    bad "the second daemon exits non-zero (status $rc)"
grep -F "another ikehub daemon (pid $first_pid) runs for this instance:" "$SECOND_LOG" >/dev/null &&
    ok "it names the running daemon's pid" || bad "it names the running daemon's pid $first_pid"
after=$(xfrm_view "$A")
if [ "$before" = "$after" ]; then
    ok "A's XFRM states and policies are unchanged"
else
    bad "A's XFRM states and policies are unchanged"
    diff <(echo "$before") <(echo "$after")
fi
check "the first daemon still answers" ikehub_cli "$A" status
check "and its tunnel is still established" ikehub_established "$A" tunnel

step "(b) after SIGKILL, the next run removes exactly the dead run's objects"
check "another program's SA, reqid 0x40000123" ip -n "$A" xfrm state add src 192.0.2.9 dst 192.0.2.8 \
    proto esp spi 0x123 reqid 0x40000123 mode tunnel \
    aead 'rfc4106(gcm(aes))' 0x0102030405060708090a0b0c0d0e0f1011121314 128
check "its policy, reqid 0x40000123" ip -n "$A" xfrm policy add src 10.9.0.0/24 dst 10.8.0.0/24 dir out \
    tmpl src 192.0.2.9 dst 192.0.2.8 proto esp reqid 0x40000123 mode tunnel
foreign_state=$(ip -n "$A" xfrm state get src 192.0.2.9 dst 192.0.2.8 proto esp spi 0x123 |
    grep -vE 'anti-replay|lifetime|current|lastused|bytes|packets')
foreign_policy=$(ip -n "$A" xfrm policy get src 10.9.0.0/24 dst 10.8.0.0/24 dir out)
dead_spis=$(spis "$A" | grep -vx 0x00000123)
echo "ikehub's SPIs in A: $(echo "$dead_spis" | tr '\n' ' ')"
kill -KILL "$first_pid"
wait_for 10 gone "$first_pid" && ok "A's daemon killed with SIGKILL" || bad "A's daemon killed with SIGKILL"
wait "$first_pid" 2>/dev/null
unset "IKEHUB_PID[$A]"
[ "$(spis "$A" | grep -cvx 0x00000123)" -eq 2 ] && [ "$(ip -n "$A" xfrm policy | grep -c '^src 10\.[12]\.0\.0/24')" -eq 3 ] &&
    ok "the dead run's 2 SAs and 3 policies are still in the kernel" ||
    bad "the dead run's 2 SAs and 3 policies are still in the kernel"
# B goes too, so that the restarted A makes no new tunnel: what is left afterwards is
# exactly what the cleanup left.
ikehub_stop "$B" && ok "B's daemon stopped" || bad "B's daemon stopped"
: >"$(ikehub_logfile "$A")"
ikehub_start "$A" "$CONFIG_A" && ok "A's daemon starts again (the lock went with the killed one)" ||
    { bad "A's daemon starts again"; ikehub_log "$A"; finish; }
log_says "$A" "removed 5 stale kernel object(s)" && ok "the start-up cleanup removed 5 objects" ||
    { bad "the start-up cleanup removed 5 objects"; ikehub_log "$A"; }
log_says "$A" "left alone 2 XFRM object(s)" && ok "it reports the 2 objects it left alone" ||
    bad "it reports the 2 objects it left alone"
left=$(spis "$A")
[ "$left" = "0x00000123" ] && ok "of the SAs only the other program's is left" ||
    bad "of the SAs only the other program's is left (SPIs: $(echo "$left" | tr '\n' ' '))"
for spi in $dead_spis; do
    ip -n "$A" xfrm state | grep -F "spi $spi " >/dev/null && bad "the dead run's SA $spi is gone"
done
[ "$(ip -n "$A" xfrm state get src 192.0.2.9 dst 192.0.2.8 proto esp spi 0x123 |
    grep -vE 'anti-replay|lifetime|current|lastused|bytes|packets')" = "$foreign_state" ] &&
    ok "the other program's SA is unchanged" || bad "the other program's SA is unchanged"
[ "$(ip -n "$A" xfrm policy get src 10.9.0.0/24 dst 10.8.0.0/24 dir out)" = "$foreign_policy" ] &&
    ok "the other program's policy is unchanged" || bad "the other program's policy is unchanged"
policies=$(ip -n "$A" xfrm policy | grep -c '^src')
[ "$policies" -eq 1 ] && ok "no other policy is left" || { bad "no other policy is left ($policies)"; ip -n "$A" xfrm policy; }

step "a clean stop empties the record"
ikehub_stop "$A" && ok "A's daemon stopped with status 0" || bad "A's daemon stopped with status 0"
[ "$(cat "$record" 2>/dev/null)" = "ikehub-record 1" ] && ok "the record $record is empty" ||
    { bad "the record $record is empty"; cat "$record"; }
[ "$(spis "$A")" = "0x00000123" ] && ok "the other program's SA is still there" || bad "the other program's SA is still there"
step "(c) strongSwan's tunnel in the same namespace, reqid 0x40000124, survives ikehub's crash"
ns_new D || finish
check "veth A<->D" ip link add vA2 netns "$A" type veth peer name vD netns "$D"
ip -n "$A" addr add 198.51.100.1/24 dev vA2 && ip -n "$A" link set vA2 up
ip -n "$D" addr add 198.51.100.2/24 dev vD && ip -n "$D" link set vD up && ip -n "$D" link set lo up
ip -n "$A" link add d7 type dummy && ip -n "$A" addr add 10.7.0.1/24 dev d7 && ip -n "$A" link set d7 up
ip -n "$D" link add d6 type dummy && ip -n "$D" addr add 10.6.0.1/24 dev d6 && ip -n "$D" link set d6 up
ip -n "$A" route add 10.6.0.0/24 via 198.51.100.2
ip -n "$D" route add 10.7.0.0/24 via 198.51.100.1
SWAN_PORTS="port = 1500
    port_nat_t = 14500"
swan_start "$A" "$SWAN_PORTS" && swan_start "$D" "$SWAN_PORTS" || finish
swan_conn "$A" swan local=198.51.100.1 remote=198.51.100.2 psk="$PSK" remote_port=1500 \
    local_ts=10.7.0.0/24 remote_ts=10.6.0.0/24 reqid=1073742116 && swan_load "$A" >/dev/null
swan_conn "$D" swan local=198.51.100.2 remote=198.51.100.1 psk="$PSK" remote_port=1500 \
    local_ts=10.6.0.0/24 remote_ts=10.7.0.0/24 && swan_load "$D" >/dev/null
check "strongSwan's tunnel A-D up" swan_initiate "$A" swan
swan_pings() { in_ns "$A" ping -c 2 -i 0.2 -W 2 -I 10.7.0.1 10.6.0.1; }
check "pings through strongSwan's tunnel" swan_pings
ip -n "$A" xfrm state | grep -q "reqid 1073742116 " && ok "strongSwan's SAs in A have reqid 0x40000124" ||
    { bad "strongSwan's SAs in A have reqid 0x40000124"; ip -n "$A" xfrm state; }
# swan_view: strongSwan's SAs and policies in A, without what moves with traffic and time.
swan_view() {
    ip -n "$A" xfrm state | grep -A3 -B1 "reqid 1073742116 " | grep -vE 'anti-replay|lifetime|current|lastused|bytes|packets'
    ip -n "$A" xfrm policy | grep -A2 -E '^src 10\.(7|6)\.0\.0/24' | grep -vE 'lifetime|current|lastused|bytes|packets'
}
swan_before=$(swan_view)
ikehub_start "$B" "$CONFIG_B" || { bad "B's daemon started again"; ikehub_log "$B"; finish; }
ikehub_start "$A" "$CONFIG_A" || { bad "A's daemon started"; ikehub_log "$A"; finish; }
check "ikehub's tunnel A-B up again" wait_for 30 ikehub_established "$A" tunnel
pid=${IKEHUB_PID[$A]}
kill -KILL "$pid"
wait_for 10 gone "$pid" && ok "A's daemon killed with SIGKILL" || bad "A's daemon killed with SIGKILL"
wait "$pid" 2>/dev/null
unset "IKEHUB_PID[$A]"
ikehub_stop "$B" && ok "B's daemon stopped" || bad "B's daemon stopped"
: >"$(ikehub_logfile "$A")"
ikehub_start "$A" "$CONFIG_A" && ok "A's daemon starts again" || { bad "A's daemon starts again"; ikehub_log "$A"; finish; }
log_says "$A" "removed 5 stale kernel object(s)" && ok "the start-up cleanup removed the dead run's 5 objects" ||
    { bad "the start-up cleanup removed the dead run's 5 objects"; ikehub_log "$A"; }
if [ "$(swan_view)" = "$swan_before" ]; then
    ok "strongSwan's SAs and policies are unchanged"
else
    bad "strongSwan's SAs and policies are unchanged"
    diff <(echo "$swan_before") <(swan_view)
fi
check "strongSwan's tunnel still carries pings" swan_pings
check "and charon still holds its CHILD_SA" swan_sa_established "$A" swan

ikehub_stop "$A" && ok "A's daemon stopped" || bad "A's daemon stopped"

step "(d) a hub daemon killed with SIGKILL: the next run removes exactly its links"
CONFIG_E=/tmp/ikt-second-hub.toml
IKEHUB_DIRS+=("$CONFIG_E")
ns_new E || finish
ip -n "$E" link set lo up
ip -n "$E" link add d0 type dummy && ip -n "$E" addr add 192.0.2.51/24 dev d0 && ip -n "$E" link set d0 up
{
    printf '[gateway]\nname = "hub"\nlocal_addresses = ["192.0.2.51"]\nlocal_subnets = ["10.50.0.0/24"]\nhub = true\n'
    for n in 1 2; do
        printf '[[peer]]\nname = "p%s"\naddress = "192.0.2.5%s"\n' "$n" "$((n + 1))"
        printf '[[connection]]\nname = "c%s"\npeer = "p%s"\npsk = "%s"\nremote_subnets = ["10.5%s.0.0/24"]\nstart_action = "listen"\n' \
            "$n" "$n" "$PSK" "$n"
        printf '[[route]]\ndestination = "10.5%s.0.0/24"\nconnection = "c%s"\nweight = 100\npublish = true\n' "$n" "$n"
    done
} >"$CONFIG_E"
check "hub configuration is valid" ikehub check-config "$CONFIG_E"
ikehub_start "$E" "$CONFIG_E" || { bad "E's hub daemon started"; ikehub_log "$E"; finish; }
hub_socket=$(ikehub_socket "$E")
links_record=${hub_socket%.sock}.links.state
IKEHUB_DIRS+=("${hub_socket%.sock}.lock" "${hub_socket%.sock}.state" "$links_record")
xfrm_links() { ip -n "$E" -o link show type xfrm | sed -n 's/^[0-9]*: \([^:@]*\).*/\1/p' | sort | tr '\n' ' '; }
[ "$(xfrm_links)" = "ikh-c1 ikh-c2 " ] && ok "the hub made ikh-c1 and ikh-c2" || bad "the hub made ikh-c1 and ikh-c2 ($(xfrm_links))"
grep -F "+	link ikh-c1	if_id " "$links_record" >/dev/null && ok "ikh-c1 is in the links record $links_record" ||
    { bad "ikh-c1 is in the links record $links_record"; cat "$links_record"; }
dead_c1=$(ip -n "$E" -o link show ikh-c1 | cut -d: -f1)
# Objects of the dead run that are not removed with its interfaces: unreachable routes, rules.
unreachable=$(( $(ip -n "$E" route show table all proto 226 | grep -c '^unreachable') ))
rules=$(( $(ip -n "$E" -4 rule | grep -c '^7220:') + $(ip -n "$E" -6 rule | grep -c '^7220:') ))
expected=$((2 + unreachable + rules))
echo "the dead run's objects: 2 interfaces, $unreachable unreachable route(s), $rules rule(s)"
check "another instance's interface ikh-other" ip -n "$E" link add ikh-other type xfrm dev d0 if_id 98
ip -n "$E" link set ikh-other up
check "and its route, protocol 226" ip -n "$E" route add 10.59.0.0/24 dev ikh-other table 7220 proto 226
hub_pid=${IKEHUB_PID[$E]}
kill -KILL "$hub_pid"
wait_for 10 gone "$hub_pid" && ok "E's hub daemon killed with SIGKILL" || bad "E's hub daemon killed with SIGKILL"
wait "$hub_pid" 2>/dev/null
unset "IKEHUB_PID[$E]"
[ "$(xfrm_links)" = "ikh-c1 ikh-c2 ikh-other " ] && ok "the dead run's interfaces are still there" ||
    bad "the dead run's interfaces are still there ($(xfrm_links))"
: >"$(ikehub_logfile "$E")"
ikehub_start "$E" "$CONFIG_E" && ok "E's hub daemon starts again" || { bad "E's hub daemon starts again"; ikehub_log "$E"; finish; }
log_says "$E" "hub: removed $expected stale interface(s), route(s) and rule(s)" &&
    ok "the start-up cleanup removed the dead run's $expected links, routes and rules" ||
    { bad "the start-up cleanup removed the dead run's $expected links, routes and rules"; ikehub_log "$E"; }
log_says "$E" "left alone 2 hub object(s)" && ok "it reports ikh-other and its route, left alone" ||
    { bad "it reports ikh-other and its route, left alone"; ikehub_log "$E"; }
[ "$(xfrm_links)" = "ikh-c1 ikh-c2 ikh-other " ] && ok "the new run's interfaces and ikh-other" ||
    bad "the new run's interfaces and ikh-other ($(xfrm_links))"
[ "$(ip -n "$E" -o link show ikh-c1 | cut -d: -f1)" != "$dead_c1" ] && ok "ikh-c1 was made again (a new ifindex)" ||
    bad "ikh-c1 was made again (a new ifindex)"
ip -n "$E" route show table 7220 | grep -F "10.59.0.0/24 dev ikh-other" >/dev/null &&
    ok "ikh-other's route is still there" || { bad "ikh-other's route is still there"; ip -n "$E" route show table 7220; }
ikehub_stop "$E" && ok "E's hub daemon stopped" || bad "E's hub daemon stopped"
[ "$(xfrm_links)" = "ikh-other " ] && ok "only ikh-other is left" || bad "only ikh-other is left ($(xfrm_links))"
ip -n "$E" route show table 7220 | grep -F "10.59.0.0/24 dev ikh-other" >/dev/null &&
    ok "with its route" || bad "with its route"
[ "$(ip -n "$E" rule | grep -c '^7220:')" -eq 0 ] && ok "the hub's rules are gone" || bad "the hub's rules are gone"
[ "$(cat "$links_record" 2>/dev/null)" = "ikehub-record 1" ] && ok "the links record is empty" ||
    { bad "the links record is empty"; cat "$links_record"; }
finish
