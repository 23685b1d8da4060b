# Helpers shared by every guest test. Source it first:
#   source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# A test reports each check with ok/bad (or check), builds its topology with
# ns_new, waits with wait_for, and ends with `finish`. Everything it created
# through these helpers is removed when the script exits, however it exits.
set -u
# The configurations tests write hold inline pre-shared keys, which ikehub refuses in a file
# group or others can read: every file a test creates is its owner's alone.
umask 077

IKEHUB_PASSED=0
IKEHUB_FAILED=0
# Every namespace a test creates starts with this prefix, so the runner can
# find leftovers and a host run never touches namespaces it does not own.
IKEHUB_NS_PREFIX=${IKEHUB_NS_PREFIX:-ikt-}
IKEHUB_NAMESPACES=()
IKEHUB_PIDS=()
# Directories helpers create for a test (peer configs, logs), removed on exit.
IKEHUB_DIRS=()

ok() {
    echo "@@PASS $*"
    IKEHUB_PASSED=$((IKEHUB_PASSED + 1))
}

bad() {
    echo "@@FAIL $*"
    IKEHUB_FAILED=$((IKEHUB_FAILED + 1))
}

# check WHAT CMD [ARG...]: run CMD; pass if it exits 0. Its output is shown on
# failure (and always in verbose mode). For short commands only: a daemon
# started here would outlive the capture; use spawn for those.
check() {
    local what=$1 out rc
    shift
    out=$("$@" 2>&1)
    rc=$?
    if [ "$rc" -eq 0 ]; then
        [ "${IKEHUB_VERBOSE:-0}" = 1 ] && [ -n "$out" ] && printf '%s\n' "$out"
        ok "$what"
    else
        [ -n "$out" ] && printf '%s\n' "$out"
        bad "$what (exit $rc: $*)"
    fi
    return "$rc"
}

# step TEXT: a heading in the test output.
step() {
    echo
    echo "== $* (t=$(cut -d' ' -f1 /proc/uptime)s)"
}

# show CMD [ARG...]: run CMD and print its output, in verbose mode only
# (the demo narrates; the suite stays terse).
show() {
    [ "${IKEHUB_VERBOSE:-0}" = 1 ] || return 0
    echo "\$ $*"
    "$@" 2>&1
}

# ns_new VAR: create a network namespace with loopback up and store its name
# in VAR. It is deleted when the test exits.
ns_new() {
    local var=$1 name="${IKEHUB_NS_PREFIX}$$-$1"
    ip netns add "$name" || { bad "create namespace $name"; return 1; }
    IKEHUB_NAMESPACES+=("$name")
    ip -n "$name" link set lo up
    printf -v "$var" '%s' "$name"
}

# in_ns NS CMD [ARG...]: run CMD inside namespace NS.
in_ns() {
    local ns=$1
    shift
    ip netns exec "$ns" "$@"
}

# spawn VAR CMD [ARG...]: start CMD in the background, store its PID in VAR;
# it is killed when the test exits. Never start daemons inside $(...).
spawn() {
    local var=$1
    shift
    "$@" &
    IKEHUB_PIDS+=("$!")
    printf -v "$var" '%s' "$!"
}

# now_ms: a monotonic-enough clock in milliseconds (bash 5 EPOCHREALTIME).
now_ms() {
    local t=${EPOCHREALTIME/./}
    echo $((t / 1000))
}

# wait_for DEADLINE_SECS CMD [ARG...]: poll CMD every 100 ms until it exits 0
# (returns 0) or DEADLINE_SECS pass (returns 1). The way to wait for a
# condition: never a bare sleep.
wait_for() {
    local deadline_ms=$(($(now_ms) + $1 * 1000))
    shift
    while :; do
        "$@" >/dev/null 2>&1 && return 0
        [ "$(now_ms)" -ge "$deadline_ms" ] && return 1
        sleep 0.1
    done
}

# xfrm_sa_packets NS SRC DST SPI: the packet counter of one ESP SA.
xfrm_sa_packets() {
    ip -n "$1" -s xfrm state get src "$2" dst "$3" proto esp spi "$4" 2>/dev/null |
        sed -n 's/.*(bytes), *\([0-9]*\)(packets).*/\1/p' | head -n 1
}

# xfrm_stat NS NAME: one counter of /proc/net/xfrm_stat (per namespace), e.g.
# XfrmOutNoStates.
xfrm_stat() {
    ip netns exec "$1" cat /proc/net/xfrm_stat 2>/dev/null | awk -v name="$2" '$1 == name { print $2 }'
}

ikt_cleanup() {
    local rc=$? pid ns dir
    for pid in "${IKEHUB_PIDS[@]}"; do
        kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    for ns in "${IKEHUB_NAMESPACES[@]}"; do
        ip netns pids "$ns" 2>/dev/null | while read -r pid; do kill -9 "$pid" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
    for dir in "${IKEHUB_DIRS[@]}"; do
        rm -rf "$dir"
    done
    exit "$rc"
}
trap ikt_cleanup EXIT

# finish: end the test. Fails when any check failed or none ran.
finish() {
    if [ "$IKEHUB_PASSED" -eq 0 ] && [ "$IKEHUB_FAILED" -eq 0 ]; then
        bad "$(basename "$0" .sh): ran no checks"
    fi
    echo "-- $IKEHUB_PASSED passed, $IKEHUB_FAILED failed"
    if [ "$IKEHUB_FAILED" -ne 0 ]; then
        exit 1
    fi
    exit 0
}

# run_rust_tests BIN [ENV=VALUE...]: run the ignored tests of a Rust test binary (installed by
# a `# rust-tests: BIN` header), one at a time, and report each as a check.
run_rust_tests() {
    local bin=$1 log rc ran=0 word name dots result
    shift
    log=$(mktemp)
    env "$@" "$bin" --ignored --test-threads=1 --show-output >"$log" 2>&1
    rc=$?
    cat "$log"
    while read -r word name dots result _; do
        [ "$word" = test ] && [ "$dots" = "..." ] || continue
        case $result in
        ok) ok "$bin $name"; ran=$((ran + 1)) ;;
        FAILED) bad "$bin $name"; ran=$((ran + 1)) ;;
        esac
    done <"$log"
    rm -f "$log"
    [ "$ran" -gt 0 ] || bad "$bin ran no tests (exit $rc)"
    if [ "$rc" -ne 0 ] && [ "$IKEHUB_FAILED" -eq 0 ]; then
        bad "$bin exited $rc"
    fi
}

# two_sites: namespaces A and C (their names in $A and $C) joined by a veth, 192.0.2.1 and
# 192.0.2.2/24, each with an inner network on a dummy interface, 10.1.0.1/24 in A and
# 10.3.0.1/24 in C, routed through the other; checked with a plain ping.
two_sites() {
    ns_new A || finish
    ns_new C || finish
    check "veth A<->C" ip link add vA netns "$A" type veth peer name vC netns "$C"
    ip -n "$A" addr add 192.0.2.1/24 dev vA && ip -n "$A" link set vA up
    ip -n "$C" addr add 192.0.2.2/24 dev vC && ip -n "$C" link set vC up
    for ns in "$A" "$C"; do ip -n "$ns" link add d0 type dummy; done
    ip -n "$A" addr add 10.1.0.1/24 dev d0 && ip -n "$A" link set d0 up
    ip -n "$C" addr add 10.3.0.1/24 dev d0 && ip -n "$C" link set d0 up
    ip -n "$A" route add 10.3.0.0/24 via 192.0.2.2
    ip -n "$C" route add 10.1.0.0/24 via 192.0.2.1
    check "plain ping A->C" in_ns "$A" ping -c 1 -W 5 192.0.2.2
}

# gone PID: the process has exited (a zombie not yet reaped counts as gone).
gone() { ! [ -e "/proc/$1" ] || grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat"; }
