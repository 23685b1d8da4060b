#!/bin/bash
# guest-payload: strongswan
# Benchmark (not part of the suite): IKEv2 PSK tunnel setups against a responder that
# installs real kernel SAs, ikehub (`ikehub daemon`, default kernel dataplane) against
# Debian's charon (kernel-netlink), on this kernel. Run with
# `cargo xtask bench --vm handshakes`; the table is printed on the console.
#
# Two namespaces joined by a veth: the initiator (192.0.2.1) runs `ikehub-loadgen`, which
# acknowledges its kernel intents itself (no SAs on its side, the same for both
# responders); the responder (192.0.2.2, protected subnet 172.16.0.0/16) runs a fresh
# responder per run. For each group of IKEHUB_BENCH_GROUPS (default ecp256,curve25519,modp2048),
# each of IKEHUB_BENCH_RUNS rounds (default 5) runs ikehub and then charon: IKEHUB_BENCH_TUNNELS
# tunnels (default 500) with IKEHUB_BENCH_IN_FLIGHT setups at once (default 16), proposal
# aes128gcm16-prfsha256-GROUP, ESP aes128gcm16, CHILD_SA in IKE_AUTH. The
# responder's CPU time (utime and stime of /proc/PID/stat, all threads; the system part
# holds its netlink and UDP work in the kernel) is read before the load and after its kernel
# holds the tunnels' SAs; then its kernel must hold 2N SAs and N policies per direction.
# The table also shows the load generator's own CPU per setup, from its report.
# IKEHUB_TEST_TIMEOUT (seconds) may need raising under TCG.
# shellcheck source=../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
# shellcheck source=../lib/strongswan.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/strongswan.sh"

RUNS=${IKEHUB_BENCH_RUNS:-5}
# 500 tunnels: about 4 minutes for 5 rounds under TCG. 16 in flight rather than the host
# benchmark's 32: under TCG a setup with 32 in flight takes over a second, beyond the load
# generator's first retransmission timeout (1 s), so the runs would measure retransmissions.
TUNNELS=${IKEHUB_BENCH_TUNNELS:-500}
IN_FLIGHT=${IKEHUB_BENCH_IN_FLIGHT:-16}
# the key exchange groups, one table each
GROUPS_TO_RUN=${IKEHUB_BENCH_GROUPS:-ecp256,curve25519,modp2048}
GROUP=
IKE_PROPOSAL=
ESP_PROPOSAL=aes128gcm16
PSK="ikehub benchmark pre-shared key"
INITIATOR_ADDR=192.0.2.1
RESPONDER_ADDR=192.0.2.2
RESPONDER_SUBNET=172.16.0.0/16
# the load generator's selectors are 10.H.L.0/24, one per tunnel
INITIATOR_SUPERNET=10.0.0.0/8
# seconds: one load generator run, and the kernel catching up with the last setups
LOAD_TIMEOUT=$((60 + TUNNELS * 2))
SA_WAIT=30
# USER_HZ: the unit of utime/stime in /proc/PID/stat
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)

# cpu_ticks PID: "UTIME STIME" of the whole process (every thread, living or exited).
# The fields after the last ')' (comm may hold spaces): state is field 3, utime 14, stime 15.
cpu_ticks() {
    local stat rest
    stat=$(cat "/proc/$1/stat") || return 1
    rest=${stat##*) }
    # shellcheck disable=SC2086 # split into fields on purpose
    set -- $rest
    echo "${12} ${13}"
}

# per_setup_ms BEFORE AFTER FIELD: CPU ms per tunnel between two cpu_ticks readings; FIELD
# 1 is user time, 2 system time, 0 both.
per_setup_ms() {
    awk -v a="$1" -v b="$2" -v f="$3" -v hz="$CLK_TCK" -v n="$TUNNELS" 'BEGIN {
        split(a, x, " "); split(b, y, " ")
        d = (f == 0) ? (y[1] + y[2]) - (x[1] + x[2]) : y[f] - x[f]
        printf "%.2f", d * 1000 / hz / n }'
}

# field JSON NAME: a number from the load generator's one-line JSON report.
field() {
    sed -n "s/.*\"$2\":\([0-9.eE+-]*\).*/\1/p" <<<"$1"
}

# round DECIMALS NUMBER: NUMBER with that many decimals; nothing for nothing.
round() {
    [ -n "$2" ] && awk -v d="$1" -v x="$2" 'BEGIN { printf "%." d "f", x }'
}

# sad_count NS: the number of SAs in NS's kernel.
sad_count() {
    ip -n "$1" xfrm state count | sed -n 's/^[[:space:]]*SAD count \([0-9]*\).*/\1/p'
}

# spd_counts NS: "IN OUT FWD" main policies in NS's kernel (socket policies aside).
spd_counts() {
    ip -n "$1" xfrm policy count |
        sed -n 's/^[[:space:]]*SPD IN *\([0-9]*\) OUT *\([0-9]*\) FWD *\([0-9]*\).*/\1 \2 \3/p' | head -n 1
}

sas_are() {
    [ "$(sad_count "$1")" = "$2" ]
}

# --- responders ---------------------------------------------------------------------

RESPONDER_PID=""

ikehub_dir=$(mktemp -d /tmp/ikt-bench-ikehub.XXXXXX)
IKEHUB_DIRS+=("$ikehub_dir")

# write_ikehub_config: the responder's configuration for the current IKE_PROPOSAL.
write_ikehub_config() {
    cat >"$ikehub_dir/ikehub.toml" <<EOF
[gateway]
name = "bench-responder"
local_addresses = ["$RESPONDER_ADDR"]
local_subnets = ["$RESPONDER_SUBNET"]

[[peer]]
name = "loadgen"
address = "$INITIATOR_ADDR"

[[connection]]
name = "loadgen"
peer = "loadgen"
version = "ikev2"
psk = "$PSK"
remote_subnets = ["$INITIATOR_SUPERNET"]
ike_proposals = ["$IKE_PROPOSAL"]
esp_proposals = ["$ESP_PROPOSAL"]
dpd_interval = "off"
start_action = "listen"
EOF
}

ikehub_up() {
    ip netns exec "$R" ikehub --socket "$ikehub_dir/control.sock" status >/dev/null 2>&1
}

# start_ikehub: a fresh daemon with the default (kernel) dataplane; warnings and errors only.
start_ikehub() {
    : >"$ikehub_dir/daemon.log"
    # env inside the namespace: busybox's env would run its own `ip` applet
    spawn RESPONDER_PID ip netns exec "$R" env IKEHUB_LOG=warn ikehub \
        --socket "$ikehub_dir/control.sock" daemon --config "$ikehub_dir/ikehub.toml" \
        >>"$ikehub_dir/daemon.log" 2>&1
    if ! wait_for 20 ikehub_up; then
        echo "---- ikehub log"
        cat "$ikehub_dir/daemon.log"
        return 1
    fi
}

# The charon settings of the host benchmark, with kernel-netlink (real kernel SAs) and as
# quiet as the ikehub daemon. The load generator keeps many setups in flight from one
# address: no cookies, no per-address half-open limit (ikehub's cookie threshold is 1000
# half-open SAs). These keys come after swan_start's own and override its file log levels.
CHARON_EXTRA='
    cookie_threshold = 1000000
    block_threshold = 1000000
    filelog {
        main {
            default = -1
            ike = -1
            cfg = -1
            chd = -1
            knl = -1
        }
    }'

# start_strongswan: a fresh charon in R with the benchmark connection loaded.
start_strongswan() {
    swan_start "$R" "$CHARON_EXTRA" || return 1
    RESPONDER_PID=$(cat "$(swan_dir "$R")/pid")
    swan_conn "$R" loadgen local="$RESPONDER_ADDR" remote="$INITIATOR_ADDR" psk="$PSK" \
        local_ts="$RESPONDER_SUBNET" remote_ts="$INITIATOR_SUPERNET" \
        ike="$IKE_PROPOSAL" esp="$ESP_PROPOSAL" || return 1
    local out
    out=$(swan_load "$R" 2>&1)
    case $out in
    *"successfully loaded 1 connections"*) return 0 ;;
    *)
        printf '%s\n' "$out"
        return 1
        ;;
    esac
}

# stop_responder: SIGTERM, wait up to 30 s for the exit, then SIGKILL; flush the kernel.
stop_responder() {
    local pid=$RESPONDER_PID
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null
    if ! wait_for 30 bash -c "! kill -0 $pid 2>/dev/null || grep '^State:.*Z' /proc/$pid/status"; then
        echo "responder $pid still running 30s after SIGTERM: killed"
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    RESPONDER_PID=""
    ip -n "$R" xfrm state flush
    ip -n "$R" xfrm policy flush
}

# --- one run ------------------------------------------------------------------------

# Per kind, one value per run: setups/s, responder CPU ms per setup, p50 and p99 ms, and the
# load generator's retransmissions.
declare -A RESULTS

# bench_run KIND ROUND: one responder, one load generator run, the kernel checks.
bench_run() {
    local kind=$1 round=$2 label report cpu_before cpu_after rc
    local setups p50 p99 cpu_ms sys_ms gen_ms sas spd
    label="$GROUP run $round/$RUNS $kind"
    if ! "start_$kind"; then
        bad "$label: responder starts"
        [ "$kind" = strongswan ] && swan_log "$R"
        stop_responder
        return
    fi
    cpu_before=$(cpu_ticks "$RESPONDER_PID")
    report=$(ip netns exec "$I" ikehub-loadgen --local "$INITIATOR_ADDR" --remote "$RESPONDER_ADDR" \
        --remote-subnet "$RESPONDER_SUBNET" --group "$GROUP" --tunnels "$TUNNELS" \
        --in-flight "$IN_FLIGHT" --timeout "$LOAD_TIMEOUT" 2>&1)
    rc=$?
    # the last CHILD_SAs may reach the kernel just after their IKE_AUTH response
    wait_for "$SA_WAIT" sas_are "$R" $((2 * TUNNELS))
    cpu_after=$(cpu_ticks "$RESPONDER_PID")
    sas=$(sad_count "$R")
    spd=$(spd_counts "$R")
    setups=$(round 1 "$(field "$report" setups_per_s)")
    p50=$(round 1 "$(field "$report" p50)")
    p99=$(round 1 "$(field "$report" p99)")
    if [ "$rc" -ne 0 ] || [ -z "$setups" ] || [ -z "$p50" ] || [ -z "$p99" ] || [ "$(field "$report" tunnels)" != "$TUNNELS" ]; then
        printf '%s\n' "$report"
        bad "$label: $TUNNELS tunnels set up (load generator exit $rc)"
        [ "$kind" = strongswan ] && swan_log "$R"
        [ "$kind" = ikehub ] && tail -n 50 "$ikehub_dir/daemon.log"
        stop_responder
        return
    fi
    ok "$label: $TUNNELS tunnels set up"
    if [ -z "$cpu_before" ] || [ -z "$cpu_after" ]; then
        bad "$label: responder CPU time readable (responder exited?)"
        stop_responder
        return
    fi
    cpu_ms=$(per_setup_ms "$cpu_before" "$cpu_after" 0)
    sys_ms=$(per_setup_ms "$cpu_before" "$cpu_after" 2)
    gen_ms=$(round 2 "$(field "$report" initiator_cpu_ms_per_setup)")
    echo "$label: $setups setups/s, responder $cpu_ms ms CPU/setup ($sys_ms system)," \
        "generator $gen_ms ms CPU/setup, p50 $p50 ms, p99 $p99 ms," \
        "$(field "$report" retransmits) retransmits; kernel: $sas SAs, policies in/out/fwd $spd"
    if [ "$sas" = $((2 * TUNNELS)) ]; then
        ok "$label: responder kernel holds $((2 * TUNNELS)) SAs"
    else
        bad "$label: responder kernel holds $((2 * TUNNELS)) SAs (has ${sas:-none})"
    fi
    if [ "$spd" = "$TUNNELS $TUNNELS $TUNNELS" ]; then
        ok "$label: responder kernel holds $TUNNELS policies per direction"
    else
        bad "$label: responder kernel holds $TUNNELS policies per direction (in/out/fwd: ${spd:-none})"
        ip -n "$R" xfrm policy | head -n 20
    fi
    RESULTS[$kind.setups]+=" $setups"
    RESULTS[$kind.cpu]+=" $cpu_ms"
    RESULTS[$kind.sys]+=" $sys_ms"
    RESULTS[$kind.gen]+=" $gen_ms"
    RESULTS[$kind.p50]+=" $p50"
    RESULTS[$kind.p99]+=" $p99"
    RESULTS[$kind.retransmits]+=" $(field "$report" retransmits)"
    stop_responder
}

# --- the table ----------------------------------------------------------------------

# median VALUES...: the median (the mean of the middle two for an even count).
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) exit
        if (NR % 2) printf "%s", v[(NR + 1) / 2]; else printf "%s", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# summary VALUES...: "median (min-max)", or "-" without values.
summary() {
    [ "$#" -gt 0 ] || { echo "-"; return; }
    local sorted
    sorted=$(printf '%s\n' "$@" | sort -g)
    echo "$(median "$@") ($(head -n 1 <<<"$sorted")-$(tail -n 1 <<<"$sorted"))"
}

# ratio A B: A/B with two decimals, "-" when either is missing or B is zero.
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'
}

print_table() {
    local metric title ikehub_values swan_values
    echo
    echo "### IKEv2 setups against a responder with kernel SAs ($TUNNELS tunnels, $IN_FLIGHT in flight, $IKE_PROPOSAL, ESP $ESP_PROPOSAL; $(uname -r); median (min-max) of $RUNS runs)"
    echo
    echo "| metric | ikehub | strongSwan (kernel-netlink) | ikehub/strongSwan |"
    echo "| --- | --- | --- | --- |"
    for metric in setups cpu sys p50 p99 gen retransmits; do
        case $metric in
        setups) title="setups/s" ;;
        cpu) title="responder CPU per setup (ms)" ;;
        sys) title="of which system time: kernel, netlink, UDP (ms)" ;;
        gen) title="load generator CPU per setup, initiator (ms)" ;;
        p50) title="latency p50 (ms)" ;;
        p99) title="latency p99 (ms)" ;;
        retransmits) title="load generator retransmits" ;;
        esac
        # shellcheck disable=SC2206 # word lists on purpose
        ikehub_values=(${RESULTS[ikehub.$metric]:-})
        # shellcheck disable=SC2206
        swan_values=(${RESULTS[strongswan.$metric]:-})
        echo "| $title | $(summary "${ikehub_values[@]}") | $(summary "${swan_values[@]}") |" \
            "$(ratio "$(median "${ikehub_values[@]}")" "$(median "${swan_values[@]}")") |"
    done
    echo
}

# --- main ---------------------------------------------------------------------------

step "initiator and responder namespaces"
ns_new I || finish
ns_new R || finish
check "veth initiator<->responder" bash -c \
    "ip link add vi netns '$I' type veth peer name vr netns '$R' &&
     ip -n '$I' addr add $INITIATOR_ADDR/24 dev vi && ip -n '$I' link set vi up &&
     ip -n '$R' addr add $RESPONDER_ADDR/24 dev vr && ip -n '$R' link set vr up &&
     ip -n '$R' link add d0 type dummy && ip -n '$R' addr add 172.16.0.1/16 dev d0 &&
     ip -n '$R' link set d0 up" || finish
check "load generator installed" command -v ikehub-loadgen || finish

IFS=, read -r -a groups <<<"$GROUPS_TO_RUN"
for GROUP in "${groups[@]}"; do
    IKE_PROPOSAL=aes128gcm16-prfsha256-$GROUP
    write_ikehub_config
    RESULTS=()
    for round in $(seq 1 "$RUNS"); do
        step "$GROUP round $round/$RUNS: $TUNNELS tunnels, $IN_FLIGHT in flight"
        for kind in ikehub strongswan; do
            bench_run "$kind" "$round"
        done
    done
    print_table
done
finish
