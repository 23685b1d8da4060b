#!/bin/bash
# ikehub killed with SIGKILL and started again, against a strongSwan peer that still holds
# the old IKE SA and CHILD_SA. The test reports how long the tunnel took to come back.
#   (a) ikehub initiates (strongSwan only listens, DPD every 30 s): the new run removes the
#       dead run's kernel objects, initiates at once with INITIAL_CONTACT, and strongSwan
#       drops its stale IKE SA for the new one: back within a few seconds, and strongSwan
#       holds one IKE SA, not two.
#   (b) strongSwan initiates (DPD every 10 s, dpd_action = restart), ikehub only listens:
#       strongSwan's liveness check reaches the new run, which answers INVALID_IKE_SPI
#       (RFC 7296 2.21.4). strongSwan 5.9 ignores that (it is unprotected) and would wait
#       for its DPD to give up (about 175 s measured); the listening connection, whose fixed
#       peer asks about an SA we lost, initiates with INITIAL_CONTACT instead: back within
#       the DPD interval and a handshake.
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

PSK=ikehub-restart-test-psk-4Rw9
CONFIG=/tmp/ikt-ikehub-restart.toml
# (a) needs no liveness check to fail: a few seconds. (b) waits for strongSwan's first
# DPD (10 s after its last inbound packet) and then a handshake.
INITIATOR_DEADLINE=20
LISTENER_DEADLINE=40

step "topology"
two_sites
IKEHUB_DIRS+=("$CONFIG")


tunnel_pings() { in_ns "$A" ping -c 2 -i 0.2 -W 1 -I 10.1.0.1 10.3.0.1; }
swan_ike_sas() { swan_sas "$C" ikehub | grep -o 'version=2 state=ESTABLISHED' | wc -l; }
# back_up: both ends hold an established tunnel, and traffic goes through it.
back_up() {
    ikehub_established "$A" peer && swan_sa_established "$C" ikehub && tunnel_pings >/dev/null 2>&1
}

write_config() {
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
start_action = "$1"
CONFIG_END
}

# kill_ikehub: SIGKILL, nothing sent to the peer; the kernel keeps the dead run's SAs.
kill_ikehub() {
    local pid=${IKEHUB_PID[$A]}
    kill -KILL "$pid" && wait_for 10 gone "$pid"
    wait "$pid" 2>/dev/null
    unset "IKEHUB_PID[$A]"
}

# restart_case WHAT DEADLINE: kill ikehub, start it again at once, and wait for the tunnel.
restart_case() {
    local what=$1 deadline=$2 started took
    check "$what: established on both ends, pings through" wait_for 30 back_up
    kill_ikehub && ok "$what: ikehub killed with SIGKILL" || bad "$what: ikehub killed with SIGKILL"
    started=$(now_ms)
    if ! ikehub_start "$A" "$CONFIG"; then
        bad "$what: ikehub started again"; ikehub_log "$A"; return
    fi
    if wait_for "$deadline" back_up; then
        took=$(($(now_ms) - started))
        ok "$what: tunnel back $((took / 1000)).$(((took % 1000) / 100)) s after the restart"
    else
        bad "$what: tunnel back within ${deadline}s of the restart"
        ikehub_cli "$A" status; ikehub_log "$A"; swan_log "$C"
    fi
}

step "(a) ikehub initiates; killed and started again"
swan_start "$C" || finish
swan_conn "$C" ikehub local=192.0.2.2 remote=192.0.2.1 psk="$PSK" \
    local_ts=10.3.0.0/24 remote_ts=10.1.0.0/24 ike= esp= dpd_delay=30 && swan_load "$C" >/dev/null &&
    ok "charon listening in C (DPD 30 s)" || finish
write_config initiate
ikehub_start "$A" "$CONFIG" || { bad "ikehub started"; ikehub_log "$A"; finish; }
restart_case "(a)" "$INITIATOR_DEADLINE"
grep -q "INITIAL_CONTACT" "$(swan_dir "$C")/charon.log" 2>/dev/null &&
    echo "    (a) charon's log mentions INITIAL_CONTACT" || echo "    (a) charon's log does not mention INITIAL_CONTACT"
[ "$(swan_ike_sas)" -eq 1 ] && ok "(a) strongSwan holds one IKE SA, the stale one gone" ||
    { bad "(a) strongSwan holds one IKE SA ($(swan_ike_sas))"; swan_sas "$C" ikehub; }

step "(b) strongSwan initiates, ikehub listens; ikehub killed and started again"
ikehub_stop "$A" && ok "ikehub stopped" || bad "ikehub stopped"
check "strongSwan's SA deleted by ikehub's stop" wait_for 10 swan_no_sa "$C" ikehub
swan_conn "$C" ikehub local=192.0.2.2 remote=192.0.2.1 psk="$PSK" \
    local_ts=10.3.0.0/24 remote_ts=10.1.0.0/24 ike= esp= dpd_delay=10 dpd_action=restart \
    start_action=start && ok "strongSwan initiates (DPD 10 s, dpd_action = restart)"
write_config listen
ikehub_start "$A" "$CONFIG" || { bad "ikehub started"; ikehub_log "$A"; finish; }
swan_load "$C" >/dev/null && ok "charon loads it and initiates" || bad "charon loads it and initiates"
restart_case "(b)" "$LISTENER_DEADLINE"
sent=$(ikehub_json "$A" | grep -oE '"invalid_spi_sent": [0-9]+' | grep -oE '[0-9]+$')
[ "${sent:-0}" -ge 1 ] && ok "(b) ikehub answered $sent request(s) for the dead run's SA with INVALID_IKE_SPI" ||
    bad "(b) ikehub answered the dead run's SA with INVALID_IKE_SPI (invalid_spi_sent ${sent:-?})"
grep -q "the peer uses an IKE SA we do not have" "$(ikehub_logfile "$A")" &&
    ok "(b) the listening connection initiated for the peer's stale SA" ||
    bad "(b) the listening connection initiated for the peer's stale SA"
[ "$(swan_ike_sas)" -eq 1 ] && ok "(b) strongSwan holds one IKE SA, the stale one gone" ||
    { bad "(b) strongSwan holds one IKE SA ($(swan_ike_sas))"; swan_sas "$C" ikehub; }
finish
