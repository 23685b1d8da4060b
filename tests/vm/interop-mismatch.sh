#!/bin/bash
# Mismatched configurations between ikehub and Debian's strongSwan (charon + swanctl,
# kernel-netlink): what ikehub says about a refusal must read as it does between two ikehub
# daemons (tests/daemon_recording.rs), whichever side initiates. ikehub in namespace A,
# strongSwan in namespace B, PSK. Four cases:
#   proposal-i: IKE proposals disjoint, ikehub initiates: strongSwan refuses IKE_SA_INIT with
#               NO_PROPOSAL_CHOSEN; ikehub's last_error says the peer refused and what we
#               offered, last_error_by "peer"
#   proposal-r: the same, strongSwan initiates: ikehub refuses with NO_PROPOSAL_CHOSEN and
#               names both lists (ours, and what strongSwan offered, in the config syntax),
#               last_error_by "us"
#   selector-i: ikehub's remote subnet is not strongSwan's local one, ikehub initiates:
#               strongSwan refuses the CHILD_SA with TS_UNACCEPTABLE; ikehub is `no-child-sa`,
#               last_error names TS_UNACCEPTABLE and our selectors, last_error_by "peer"
#   selector-r: the same, strongSwan initiates: ikehub refuses with TS_UNACCEPTABLE and names
#               both sides' selectors, last_error_by "us"
# In each case the daemon's log has the same text at info or warn, after the connection's
# name, and no kernel SA is installed in A.
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

PSK=interop-mismatch-test-psk-4Kd9
CONFIG=/tmp/ikt-interop-mismatch.toml
OURS_IKE=aes128gcm16-prfsha256-ecp256
SWAN_IKE=aes256-sha384-modp3072
# strongSwan's offer as ikehub writes it (config syntax: cipher, integrity, PRF, group)
SWAN_IKE_AS_OFFERED=aes256-sha384-prfsha384-modp3072

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

# no_kernel_sa NS: NS holds no ESP SA (the checks show the count otherwise).
# shellcheck disable=SC2317 # called through check
no_kernel_sa() {
    local count
    count=$(ip -n "$1" xfrm state | grep -c '^src')
    [ "$count" -eq 0 ] || { echo "$count kernel SA(s) in $1"; return 1; }
}

# setup CASE START IKE REMOTE_SUBNET SWAN_IKE: ikehub's connection "swan" (start_action START,
# IKE proposal IKE, remote subnet REMOTE_SUBNET) and strongSwan's "hub" (IKE proposal
# SWAN_IKE, local 10.2.0.0/24), both with ESP aes128gcm16; ikehub's log starts empty.
setup() {
    local case=$1 start=$2 ike=$3 remote=$4 swan_ike=$5
    cat >"$CONFIG" <<EOF
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
remote_subnets = ["$remote"]
ike_proposals = ["$ike"]
esp_proposals = ["aes128gcm16"]
start_action = "$start"
EOF
    if ! { swan_conn "$B" hub local=192.0.2.2 remote=192.0.2.1 psk="$PSK" local_ts=10.2.0.0/24 \
        remote_ts=10.1.0.0/24 ike="$swan_ike" esp=aes128gcm16 && swan_load "$B" >/dev/null; }; then
        bad "$case: strongSwan connection loaded"
        swan_log "$B"
        return 1
    fi
    : >"$(ikehub_logfile "$A")"
    ikehub_start "$A" "$CONFIG" || { bad "$case: ikehub started"; ikehub_log "$A"; return 1; }
}

# teardown: stop ikehub, drop strongSwan's connection and any SA it still holds.
teardown() {
    ikehub_stop "$A" >/dev/null 2>&1
    swan_ctl "$B" --terminate --ike hub --force --timeout 5 >/dev/null 2>&1
    swan_unconn "$B" hub
    swan_load "$B" >/dev/null
    wait_for 10 swan_no_sa "$B" hub || bad "strongSwan still holds an IKE SA after the case"
}

# has_error TEXT: ikehub's last_error contains TEXT.
# shellcheck disable=SC2317 # called through wait_for
has_error() {
    ikehub_string "$A" swan last_error | grep -F -- "$1" >/dev/null
}

# expect CASE BY LOG_PREFIX PART...: ikehub's last_error (unescaped) contains every PART,
# last_error_by is BY, and the log holds "swan: LOG_PREFIX<last_error>" at info or warn.
expect() {
    local case=$1 by=$2 prefix=$3 part error
    shift 3
    error=$(ikehub_string "$A" swan last_error)
    echo "ikehub last_error: $error"
    for part in "$@"; do
        if grep -F -- "$part" <<<"$error" >/dev/null; then
            ok "$case: last_error has \"$part\""
        else
            bad "$case: last_error has \"$part\""
        fi
    done
    local got
    got=$(ikehub_string "$A" swan last_error_by)
    if [ "$got" = "$by" ]; then ok "$case: last_error_by is $by"; else bad "$case: last_error_by is $by ($got)"; fi
    local lines
    lines=$(grep -F -- "swan: $prefix$error" "$(ikehub_logfile "$A")")
    if [ -n "$error" ] && grep -E ' (INFO|WARN) ' <<<"$lines" >/dev/null; then
        ok "$case: the log has \"swan: $prefix\" and the same text at info or warn"
    else
        bad "$case: the log has \"swan: $prefix\" and the same text at info or warn"
        ikehub_log "$A"
    fi
}

step "proposal-i: IKE proposals disjoint, ikehub initiates ($OURS_IKE against $SWAN_IKE)"
if setup proposal-i initiate "$OURS_IKE" 10.2.0.0/24 "$SWAN_IKE"; then
    if wait_for 30 has_error "the peer refused with NO_PROPOSAL_CHOSEN"; then
        ok "proposal-i: ikehub records strongSwan's refusal"
    else
        bad "proposal-i: ikehub records strongSwan's refusal (last_error: $(ikehub_string "$A" swan last_error))"
        ikehub_log "$A"; swan_log "$B"
    fi
    expect proposal-i peer "IKE SA down: " \
        "negotiation failed: IKE_SA_INIT (message ID 0, peer 192.0.2.2:500): the peer refused with NO_PROPOSAL_CHOSEN: we offered $OURS_IKE"
    check "proposal-i: no kernel SA in A" no_kernel_sa "$A"
    teardown
fi

step "proposal-r: IKE proposals disjoint, strongSwan initiates ($SWAN_IKE against $OURS_IKE)"
if setup proposal-r listen "$OURS_IKE" 10.2.0.0/24 "$SWAN_IKE"; then
    swan_initiate "$B" hub >/dev/null 2>&1 && bad "proposal-r: strongSwan's initiate should fail"
    if wait_for 30 has_error "refused with NO_PROPOSAL_CHOSEN"; then
        ok "proposal-r: ikehub refuses strongSwan's IKE_SA_INIT"
    else
        bad "proposal-r: ikehub refuses strongSwan's IKE_SA_INIT (last_error: $(ikehub_string "$A" swan last_error))"
        ikehub_log "$A"; swan_log "$B"
    fi
    expect proposal-r us "" \
        "refused: IKE_SA_INIT (message ID 0, peer 192.0.2.2:500): refused with NO_PROPOSAL_CHOSEN: no IKE proposal matches" \
        "ours $OURS_IKE; offered $SWAN_IKE_AS_OFFERED"
    # strongSwan's own words for the answer it got
    check "proposal-r: strongSwan received NO_PROPOSAL_CHOSEN" \
        grep -F "received NO_PROPOSAL_CHOSEN notify error" "$(swan_dir "$B")/charon.log"
    check "proposal-r: no kernel SA in A" no_kernel_sa "$A"
    teardown
fi

# no_child: ikehub's connection has its IKE SA up without a CHILD_SA, with a last_error.
# shellcheck disable=SC2317 # called through wait_for
no_child() {
    local out
    out=$(ikehub_json "$A" swan) || return 1
    grep -E '"state": "no-child-sa"' <<<"$out" >/dev/null && grep -E '"last_error": "' <<<"$out" >/dev/null
}

# selector_state CASE: ikehub is no-child-sa, never established, with no CHILD_SA and no
# kernel SA.
selector_state() {
    local case=$1 json
    if wait_for 30 no_child; then
        ok "$case: ikehub's state is no-child-sa"
    else
        bad "$case: ikehub's state is no-child-sa (state $(ikehub_field "$A" swan state))"
        ikehub_log "$A"; swan_log "$B"
    fi
    json=$(ikehub_json "$A" swan)
    if grep -F 'established"' <<<"$json" >/dev/null; then
        bad "$case: ikehub never says established"
        echo "$json"
    else
        ok "$case: ikehub never says established"
    fi
    if grep -E '"spi_in"' <<<"$json" >/dev/null; then bad "$case: ikehub holds no CHILD_SA"; else ok "$case: ikehub holds no CHILD_SA"; fi
    check "$case: no kernel SA in A" no_kernel_sa "$A"
}

step "selector-i: ikehub's remote 10.9.0.0/24, strongSwan's local 10.2.0.0/24; ikehub initiates"
if setup selector-i initiate "$OURS_IKE" 10.9.0.0/24 "$OURS_IKE"; then
    selector_state selector-i
    expect selector-i peer "CHILD_SA not established: " \
        "negotiation failed: IKE_AUTH (message ID 1, peer 192.0.2.2:500): the peer refused with TS_UNACCEPTABLE: no CHILD_SA; we offered aes128gcm16, local 10.1.0.0/24, remote 10.9.0.0/24"
    teardown
fi

step "selector-r: ikehub's remote 10.9.0.0/24, strongSwan's local 10.2.0.0/24; strongSwan initiates"
if setup selector-r listen "$OURS_IKE" 10.9.0.0/24 "$OURS_IKE"; then
    swan_initiate "$B" hub >/dev/null 2>&1 && bad "selector-r: strongSwan's initiate should fail"
    selector_state selector-r
    # strongSwan sends IKE_AUTH from port 4500 (it moves there once both ends announced NAT
    # detection, NAT or not): the text names the port the request came from
    expect selector-r us "CHILD_SA not established: " \
        "negotiation failed: IKE_AUTH (message ID 1, peer 192.0.2.2:4500): refused with TS_UNACCEPTABLE: traffic selectors do not fit ours (local 10.1.0.0/24, remote 10.9.0.0/24): offered TSi 10.2.0.0/24, TSr 10.1.0.0/24"
    check "selector-r: strongSwan received TS_UNACCEPTABLE" \
        grep -F "received TS_UNACCEPTABLE notify" "$(swan_dir "$B")/charon.log"
    teardown
fi
finish
