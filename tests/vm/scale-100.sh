#!/bin/bash
# 100 tunnels between two ikehub daemons: A initiates 100 connections (10.1.N.0/24 <->
# 10.2.N.0/24) to B at once. Reports the time until all are established on both sides with
# their kernel SAs installed, and checks one of them carries traffic.
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/ikehub.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/ikehub.sh"
TUNNELS=${IKEHUB_TUNNELS:-100}

step "two gateways"
ns_new A || finish
ns_new B || finish
check "link" ip link add wan netns "$A" type veth peer name wan netns "$B"
ip -n "$A" addr add 192.0.2.1/24 dev wan && ip -n "$A" link set wan up
ip -n "$B" addr add 192.0.2.2/24 dev wan && ip -n "$B" link set wan up
ip -n "$A" link add lan type dummy && ip -n "$A" addr add 10.1.7.1/24 dev lan && ip -n "$A" link set lan up
ip -n "$B" link add lan type dummy && ip -n "$B" addr add 10.2.7.1/24 dev lan && ip -n "$B" link set lan up
ip -n "$A" route add 10.2.0.0/16 via 192.0.2.2
ip -n "$B" route add 10.1.0.0/16 via 192.0.2.1

config() { # side me peer mine theirs start
    echo "[gateway]"
    echo "name = \"gw-$1\""
    echo "local_addresses = [\"$2\"]"
    echo "[[peer]]"
    echo "name = \"peer\""
    echo "address = \"$3\""
    local n
    for ((n = 0; n < TUNNELS; n++)); do
        echo "[[connection]]"
        echo "name = \"t$n\""
        echo "peer = \"peer\""
        echo "psk = \"scale-test-only-psk-8d2J\""
        echo "local_subnets = [\"$4.$n.0/24\"]"
        echo "remote_subnets = [\"$5.$n.0/24\"]"
        echo "start_action = \"$6\""
    done
}
config a 192.0.2.1 192.0.2.2 10.1 10.2 initiate >/tmp/ikt-scale-a.toml
config b 192.0.2.2 192.0.2.1 10.2 10.1 listen >/tmp/ikt-scale-b.toml
check "configurations with $TUNNELS connections are valid" bash -c "ikehub check-config /tmp/ikt-scale-a.toml >/dev/null && ikehub check-config /tmp/ikt-scale-b.toml >/dev/null"

step "$TUNNELS tunnels at once"
ikehub_start "$B" /tmp/ikt-scale-b.toml && ok "daemon B ready" || bad "daemon B ready"
t0=$(now_ms)
ikehub_start "$A" /tmp/ikt-scale-a.toml && ok "daemon A ready" || bad "daemon A ready"
children() { ikehub_json "$1" | grep -c '"spi_in": "'; }
kernel_sas() { ip -n "$1" xfrm state | grep -c '^src'; }
all_up() {
    [ "$(children "$A")" -ge "$TUNNELS" ] && [ "$(children "$B")" -ge "$TUNNELS" ] &&
        [ "$(kernel_sas "$A")" -ge $((2 * TUNNELS)) ] && [ "$(kernel_sas "$B")" -ge $((2 * TUNNELS)) ]
}
if wait_for 120 all_up; then
    took=$(($(now_ms) - t0))
    ok "$TUNNELS tunnels established with their kernel SAs on both sides in $took ms"
    echo "@@METRIC tunnels=$TUNNELS all_up_ms=$took"
else
    bad "$TUNNELS tunnels established (A: $(children "$A") children, $(kernel_sas "$A") SAs; B: $(children "$B"), $(kernel_sas "$B"))"
    ikehub_log "$A" | tail -20
fi
check "tunnel t7 carries traffic" in_ns "$A" ping -c 3 -i 0.2 -W 2 -I 10.1.7.1 10.2.7.1
show ikehub_cli "$A" status t7
started=$(now_ms)
ikehub_json "$A" >/dev/null && echo "@@METRIC status_json_ms=$(($(now_ms) - started)) tunnels=$TUNNELS"
ikehub_stop "$A" && ok "A stops cleanly, deleting its SAs" || bad "A stops cleanly"
wait_for 30 bash -c "[ \$(ip -n $B xfrm state | grep -c '^src') -eq 0 ]" && ok "B removed every SA after the deletes" ||
    bad "B removed every SA ($(kernel_sas "$B") left)"
finish
