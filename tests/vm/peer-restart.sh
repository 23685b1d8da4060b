#!/bin/bash
# A peer that goes away cleanly and comes back: ikehub initiates to strongSwan, which only
# listens (as a hub or a cloud gateway does). strongSwan deletes the IKE SA twice, with
# `swanctl --terminate` and by stopping with SIGTERM (charon sends DELETE) and starting
# again. Each time ikehub, with `close_action = "restart"` (the default of
# `start_action = "initiate"`), must bring the tunnel back by itself within
# RESTART_DEADLINE seconds, which the test reports, and pings must go through again.
# guest-payload: strongswan
#
#   A (ikehub):     192.0.2.1   inner 10.1.0.1/24
#   C (strongSwan): 192.0.2.2   inner 10.3.0.1/24
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/strongswan.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/strongswan.sh"
# shellcheck source=lib/ikehub.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/ikehub.sh"

PSK=peer-restart-test-psk-7Hq2
CONFIG=/tmp/ikt-peer-restart.toml
# ikehub's backoff after a failed attempt is 1, 2, 4, 8 ... s: a peer down for a few
# seconds is back in reach well within this.
RESTART_DEADLINE=40

step "topology"
two_sites
IKEHUB_DIRS+=("$CONFIG")

# strongswan_up: charon in C with the connection, listening only.
strongswan_up() {
    swan_start "$C" || return 1
    swan_conn "$C" ikehub local=192.0.2.2 remote=192.0.2.1 psk="$PSK" \
        local_ts=10.3.0.0/24 remote_ts=10.1.0.0/24 ike= esp= && swan_load "$C" >/dev/null
}

# strongswan_stop: SIGTERM to charon (it deletes its IKE SAs), and wait for it to exit.
strongswan_stop() {
    local pid
    pid=$(cat "$(swan_dir "$C")/pid") || return 1
    kill -TERM "$pid" && wait_for 20 gone "$pid"
}


tunnel_pings() { in_ns "$A" ping -c 3 -i 0.2 -W 2 -I 10.1.0.1 10.3.0.1; }
old_ike_spi=""
ike_spi() { ikehub_field "$A" peer spi_i; }
# back_up: ikehub holds a new IKE SA with its CHILD_SA, and so does strongSwan.
back_up() {
    ikehub_established "$A" peer && [ "$(ike_spi)" != "$old_ike_spi" ] &&
        swan_sa_established "$C" ikehub
}

cat >"$CONFIG" <<CONFIG_END
[gateway]
name = "ikehub"
local_addresses = ["192.0.2.1"]
local_subnets = ["10.1.0.0/24"]
[[peer]]
name = "peer"
address = "192.0.2.2"
[[connection]]
name = "peer"
peer = "peer"
psk = "$PSK"
remote_subnets = ["10.3.0.0/24"]
start_action = "initiate"
CONFIG_END

step "ikehub initiates to a listening strongSwan"
strongswan_up && ok "charon running in C with its connection" || finish
ikehub_start "$A" "$CONFIG" || { bad "ikehub started"; ikehub_log "$A"; finish; }
if wait_for 30 back_up; then
    ok "established on both ends"
else
    bad "established on both ends"; ikehub_log "$A"; swan_log "$C"; finish
fi
check "pings through the tunnel" tunnel_pings

# recovers STARTED_MS WHAT: after the peer's delete, the tunnel is back within
# RESTART_DEADLINE; the time it took is reported.
recovers() {
    local started=$1 what=$2 took
    if wait_for "$RESTART_DEADLINE" back_up; then
        took=$(($(now_ms) - started))
        ok "$what: ikehub re-established by itself in $((took / 1000)).$(((took % 1000) / 100)) s"
        check "$what: pings go through again" tunnel_pings
        old_ike_spi=$(ike_spi)
    else
        bad "$what: ikehub re-established by itself within ${RESTART_DEADLINE}s"
        ikehub_cli "$A" status; ikehub_log "$A"; swan_log "$C"
    fi
}

step "strongSwan terminates the IKE SA"
old_ike_spi=$(ike_spi)
started=$(now_ms)
check "swanctl --terminate" swan_terminate "$C" ikehub
recovers "$started" "after swanctl --terminate"
grep -q "peer: IKE SA down: deleted by the peer" "$(ikehub_logfile "$A")" &&
    ok "ikehub logged the peer's delete" || bad "ikehub logged the peer's delete"

step "strongSwan stops with SIGTERM and starts again"
started=$(now_ms)
check "charon stopped with SIGTERM" strongswan_stop
wait_for 10 bash -c "! ip -n $A xfrm state | grep -q '^src'" &&
    ok "ikehub removed the SAs the peer deleted" || bad "ikehub removed the SAs the peer deleted"
# not through `check`: its subshell would keep charon's pid and directory from the cleanup
strongswan_up && ok "charon started again" || bad "charon started again"
recovers "$started" "after charon's restart"
finish
