# Helpers for running ikehub daemons in test namespaces. Source after common.sh.
#
#   ikehub_start NS CONFIG [SECS]   start a daemon in NS (socket /run/ikt-NS.sock, log
#                                   /tmp/ikt-NS.log); registered for cleanup; waits up to
#                                   SECS (default 10) for its control socket. CONFIG is
#                                   made readable by its owner only (chmod 600): ikehub
#                                   refuses an inline psk in a file others can read
#   ikehub_examples DIR             EXAMPLES= a private copy of the shipped examples in DIR
#                                   (git checks them out 0644), mode 600; removed on exit
#   ikehub_cli NS ARGS...           run the CLI against NS's daemon
#   ikehub_json NS [NAME]           `status --json` (pretty JSON, one field per line)
#   ikehub_established NS NAME      exit 0 when NAME has an established IKE SA and CHILD_SA
#   ikehub_down_everywhere NS NAME  exit 0 when NAME has no IKE SA left on NS
#   ikehub_field NS NAME FIELD      first value of FIELD in NAME's status (numbers, strings)
#   ikehub_string NS NAME FIELD     first string value of FIELD in NAME's status, whole (commas
#                                   allowed) and with JSON's \" and \\ unescaped
#   ikehub_peer_cert NS NAME FIELD  FIELD (subject, issuer, serial...) of the peer's certificate
#   ikehub_log NS                   print the daemon's log
#   ikehub_stop NS                  SIGTERM the daemon and wait for it to exit (0 when it
#                                   exited with status 0)

ikehub_socket() { echo "/run/ikt-$1.sock"; }
ikehub_logfile() { echo "/tmp/ikt-$1.log"; }

declare -A IKEHUB_PID

ikehub_start() {
    local ns=$1 config=$2 pid
    chmod 600 "$config"
    spawn pid ip netns exec "$ns" ikehub daemon --config "$config" --socket "$(ikehub_socket "$ns")" \
        2>>"$(ikehub_logfile "$ns")"
    IKEHUB_PID[$ns]=$pid
    wait_for "${3:-10}" ikehub_cli "$ns" status
}

ikehub_examples() {
    EXAMPLES=$(mktemp -d /tmp/ikt-examples.XXXXXX) || return 1
    IKEHUB_DIRS+=("$EXAMPLES")
    cp -r "$1"/. "$EXAMPLES"/ && chmod 600 "$EXAMPLES"/*.toml
}

ikehub_stop() {
    local pid=${IKEHUB_PID[$1]:-}
    [ -n "$pid" ] || return 1
    kill -TERM "$pid" 2>/dev/null
    wait "$pid"
    local rc=$?
    unset "IKEHUB_PID[$1]"
    return "$rc"
}

ikehub_cli() {
    local ns=$1
    shift
    ip netns exec "$ns" ikehub --socket "$(ikehub_socket "$ns")" "$@"
}

ikehub_json() {
    ikehub_cli "$1" status --json ${2:+"$2"}
}

# The connection is established: its IKE SA with a CHILD_SA (status says `no-child-sa` for an
# IKE SA without one, so "established" implies it; the inbound SPI is checked as well).
ikehub_established() {
    local out
    out=$(ikehub_json "$1" "$2") || return 1
    grep -E '"state": "established"' <<<"$out" >/dev/null && grep -E '"spi_in": "[0-9a-f]{8}"' <<<"$out" >/dev/null
}

ikehub_down_everywhere() {
    local out
    out=$(ikehub_json "$1" "$2") || return 1
    ! grep -E '"spi_i"' <<<"$out" >/dev/null
}

ikehub_field() {
    ikehub_json "$1" "$2" | sed -n "s/^ *\"$3\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" | head -n 1
}

ikehub_string() {
    ikehub_json "$1" "$2" | sed -n "s/^ *\"$3\": \"\(.*\)\",\{0,1\}$/\1/p" | head -n 1 |
        sed 's/\\"/"/g; s/\\\\/\\/g'
}

# A field of the peer's certificate in a connection's status (the daemon's own certificate,
# which `status` shows first, has the same fields).
ikehub_peer_cert() {
    ikehub_json "$1" "$2" | sed -n '/"peer_certificate": {/,/}/p' |
        sed -n "s/^ *\"$3\": \"\(.*\)\",\{0,1\}$/\1/p" | head -n 1 | sed 's/\\"/"/g'
}

# The sum of a numeric field over all its occurrences in a connection's status (e.g. the
# packets of every CHILD_SA: an IKEv1 connection has one per pair of subnets).
ikehub_sum() {
    ikehub_json "$1" "$2" | sed -n "s/^ *\"$3\": \([0-9][0-9]*\),\{0,1\}$/\1/p" | awk '{ s += $1 } END { print s + 0 }'
}

ikehub_log() {
    echo "---- ikehub log of $1"
    cat "$(ikehub_logfile "$1")" 2>/dev/null
    echo "----"
}
