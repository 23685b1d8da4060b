# Helpers for hub-mode tests: reading `ikehub routes --json` and a connection's status with
# the guest's tools only (no jq). Source after common.sh and ikehub.sh.
#
#   hub_routes NS                     one route object per line, spaces removed:
#                                     {"destination":"10.10.10.0/24","connection":"shanghai",...}
#   hub_route NS DEST CONN            the route object of DEST via CONN (nothing if absent)
#   hub_route_state NS DEST CONN      its "state": active, standby or down
#   hub_route_interface NS DEST CONN  its "interface"
#   hub_route_is NS DEST CONN STATE   exit 0 when the route's state is STATE
#   hub_routes_in_state NS STATE      how many routes are in STATE
#   hub_status_flat NS [NAME]         `status --json` on one line, spaces removed
#   hub_child_ts NS NAME local|remote the first CHILD_SA's local_ts/remote_ts, comma-separated

hub_routes() {
    local out
    out=$(ikehub_cli "$1" routes --json) || return 1
    tr -d ' \n\t' <<<"$out" | sed 's/},{/}\n{/g'
    echo
}

hub_route() {
    hub_routes "$1" | grep -F "\"destination\":\"$2\"" | grep -F "\"connection\":\"$3\""
}

# hub_route_value NS DEST CONN KEY: a string or bare value of one route field.
hub_route_value() {
    hub_route "$1" "$2" "$3" | sed -n "s/.*\"$4\":\"\{0,1\}\([^\",}]*\)\"\{0,1\}[,}].*/\1/p" | head -n 1
}

hub_route_state() { hub_route_value "$1" "$2" "$3" state; }
hub_route_interface() { hub_route_value "$1" "$2" "$3" interface; }

hub_route_is() {
    [ "$(hub_route_state "$1" "$2" "$3")" = "$4" ]
}

hub_routes_in_state() {
    hub_routes "$1" | grep -cF "\"state\":\"$2\""
}

hub_status_flat() {
    ikehub_json "$1" ${2:+"$2"} | tr -d ' \n\t'
}

hub_child_ts() {
    hub_status_flat "$1" "$2" | sed -n "s/.*\"$3_ts\":\[\([^]]*\)\].*/\1/p" | tr -d '"'
}
