#!/bin/bash
# IKEv2 certificate authentication between ikehub and Debian's Libreswan 4.10 (pluto, real
# kernel SAs): ikehub in namespace A, Libreswan in namespace B, both with RSA-3072
# certificates from one test CA (openssl), identities the certificates' subjects. ikehub
# reads its certificate, key and CA from PEM files; Libreswan's certificate and key go into
# its NSS database through PKCS#12 (`pk12util -i`, as `ipsec import` does) and the CA with
# `certutil -A -t CT,,` (connection: `authby=rsasig leftcert=NICK leftid=%fromcert
# rightca=%same`).
# For each direction (ikehub initiates, Libreswan initiates): both ends establish, pings
# pass both ways through ESP (ikehub's counters move), ikehub's status shows "pubkey" both
# ways and Libreswan's certificate (subject and issuer), whack lists the IKE SA and the
# Child SA with ikehub's identity; then the initiator takes it down and no SA is left.
# Both signatures must be RSASSA-PSS (RFC 7427 digital signatures): pluto logs how it
# verified ikehub's, and its debug lines (`whack --debug base`) how it made its own.
# guest-payload: libreswan
#
#   A (ikehub):    outer 192.0.2.1   inner 10.1.0.1/24
#   B (Libreswan): outer 192.0.2.2   inner 10.2.0.1/24
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/libreswan.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/libreswan.sh"
# shellcheck source=lib/ikehub.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/ikehub.sh"
# shellcheck source=lib/pki.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/pki.sh"

CONFIG=/tmp/ikt-interop-libreswan-certificates.toml
PKI=$(mktemp -d /tmp/ikt-pki.XXXXXX) || { bad "temporary PKI directory"; finish; }
IKEHUB_DIRS+=("$PKI" "$CONFIG")
ORG="/C=CH/O=ikehub test"

step "test PKI: openssl $(openssl version | cut -d' ' -f2)"
t0=$(now_ms)
if make_ca "$PKI/rsa" rsa "$ORG/CN=rsa test CA" >"$PKI/rsa.out" 2>&1 &&
    issue "$PKI/rsa" ikehub rsa "$ORG/CN=ikehub-rsa" 192.0.2.1 >>"$PKI/rsa.out" 2>&1 &&
    issue "$PKI/rsa" lsw rsa "$ORG/CN=libreswan-rsa" 192.0.2.2 >>"$PKI/rsa.out" 2>&1; then
    ok "RSA-3072 CA and certificates of both ends made ($(($(now_ms) - t0)) ms)"
else
    cat "$PKI/rsa.out"
    bad "RSA-3072 CA and certificates of both ends made"
    finish
fi
IKEHUB_DN=$(dn_of "$PKI/rsa/ikehub.pem" subject)
LSW_DN=$(dn_of "$PKI/rsa/lsw.pem" subject)
LSW_ISSUER=$(dn_of "$PKI/rsa/lsw.pem" issuer)

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
lsw_start "$B" || finish
ok "pluto running in B"
check "Libreswan's certificate, key and the CA in its NSS database" \
    lsw_import "$B" lsw "$PKI/rsa/lsw.pem" "$PKI/rsa/lsw.key" "$PKI/rsa/ca.pem"
# certutil -L: the certificate with its key ("u,u,u") and the CA trusted for peers ("CT,,")
NSS_LIST=$(certutil -L -d "sql:$(lsw_dir "$B")/nss")
if grep -E '^lsw +u,u,u *$' <<<"$NSS_LIST" >/dev/null && grep -E '^ca +CT,, *$' <<<"$NSS_LIST" >/dev/null; then
    ok "certutil -L lists lsw (u,u,u) and ca (CT,,)"
else
    bad "certutil -L lists lsw (u,u,u) and ca (CT,,)"
    echo "$NSS_LIST"
fi
LSW_LOG="$(lsw_dir "$B")/pluto.log"
# pluto logs how it verified the peer's signature; its debug lines say how it signs
lsw_whack "$B" --debug base >/dev/null 2>&1 || echo "whack --debug base failed: pluto's own signature scheme is not logged"

kernel_sa_count() { ip -n "$1" xfrm state | grep -c '^src'; }

# ikehub_config START: ikehub's configuration; START is its start_action. Its local
# identity is its certificate's subject (the default); proposals are both ends' defaults.
ikehub_config() {
    cat >"$CONFIG" <<EOF
[gateway]
name = "ikehub"
local_addresses = ["192.0.2.1"]
local_subnets = ["10.1.0.0/24"]
certificate = "$PKI/rsa/ikehub.pem"
private_key = "$PKI/rsa/ikehub.key"
ca_certificates = ["$PKI/rsa/ca.pem"]
[[peer]]
name = "libreswan"
address = "192.0.2.2"
identity = "$LSW_DN"
[[connection]]
name = "lsw"
peer = "libreswan"
local_auth = "pubkey"
remote_auth = "pubkey"
remote_subnets = ["10.2.0.0/24"]
start_action = "$1"
EOF
}

# lsw_conn_line: whack's line for the connection, "...192.0.2.1[ikehub's identity]===...".
lsw_conn_line() {
    lsw_whack "$B" --status 2>/dev/null | grep -F '"hub":' | grep -F '...' | head -n 1
}

# teardown: stop ikehub and make pluto forget the connection and its SAs.
teardown() {
    ikehub_stop "$A" >/dev/null 2>&1
    lsw_whack "$B" --name hub --delete >/dev/null 2>&1
    wait_for 10 lsw_no_sa "$B" hub || bad "Libreswan still holds a state after the case"
}

# run INITIATOR(ikehub|libreswan)
run() {
    local initiator=$1 case="rsa-$1" start=listen
    step "$case: RSA certificates, $initiator initiates"
    [ "$initiator" = ikehub ] && start=initiate
    local log_from
    log_from=$(($(wc -l <"$LSW_LOG" 2>/dev/null || echo 0) + 1))
    if ! lsw_conn "$B" hub version=2 auth=rsasig cert=lsw local=192.0.2.2 remote=192.0.2.1 \
        remote_id="$IKEHUB_DN" local_ts=10.2.0.0/24 remote_ts=10.1.0.0/24 ike= esp= pfs= ||
        ! lsw_load "$B" hub >"$PKI/load.out" 2>&1; then
        bad "$case: Libreswan connection loaded"
        cat "$PKI/load.out"; lsw_log "$B"
        return
    fi
    ikehub_config "$start"
    ikehub_start "$A" "$CONFIG" || { bad "$case: ikehub started"; ikehub_log "$A"; return; }
    local t0 init_pid=""
    t0=$(now_ms)
    # whack --initiate blocks until the SA is up or failed
    [ "$initiator" = libreswan ] && spawn init_pid lsw_initiate "$B" hub >/dev/null 2>&1
    if wait_for 30 ikehub_established "$A" lsw && wait_for 15 lsw_sa_established "$B" hub; then
        ok "$case: established on both ends ($(($(now_ms) - t0)) ms, $(ikehub_field "$A" lsw algorithms))"
        [ -z "$init_pid" ] || wait "$init_pid"
    else
        bad "$case: established on both ends (ikehub last_error: $(ikehub_string "$A" lsw last_error))"
        ikehub_log "$A"; lsw_log "$B"
        [ -z "$init_pid" ] || { kill "$init_pid" 2>/dev/null; wait "$init_pid"; }
        teardown
        return
    fi

    local value want
    for value in auth remote_auth; do
        want=pubkey
        if [ "$(ikehub_string "$A" lsw "$value")" = "$want" ]; then
            ok "$case: ikehub status $value is $want"
        else
            bad "$case: ikehub status $value is $want ($(ikehub_string "$A" lsw "$value"))"
        fi
    done
    for value in subject issuer; do
        want=$LSW_DN
        [ "$value" = issuer ] && want=$LSW_ISSUER
        if [ "$(ikehub_peer_cert "$A" lsw "$value")" = "$want" ]; then
            ok "$case: ikehub shows the peer certificate's $value \"$want\""
        else
            bad "$case: ikehub shows the peer certificate's $value \"$want\" (it shows \"$(ikehub_peer_cert "$A" lsw "$value")\")"
            ikehub_json "$A" lsw
        fi
    done
    # Libreswan's view: an established IKE SA and Child SA for "hub", whose peer is ikehub's
    # subject (whack --status prints the connection as ...192.0.2.1[C=CH, O=..., CN=...])
    local states
    states=$(lsw_whack "$B" --showstates 2>&1)
    if grep -F '"hub"' <<<"$states" | grep -F 'established IKE SA' >/dev/null &&
        grep -F '"hub"' <<<"$states" | grep -F 'established Child SA' >/dev/null; then
        ok "$case: whack --showstates lists the IKE SA and the Child SA established"
    else
        bad "$case: whack --showstates lists the IKE SA and the Child SA established"
        echo "$states"
    fi
    if lsw_conn_line | grep -F "192.0.2.1[$IKEHUB_DN]" >/dev/null; then
        ok "$case: whack --status shows ikehub's identity $IKEHUB_DN"
    else
        bad "$case: whack --status shows ikehub's identity $IKEHUB_DN"
        lsw_conn_line
    fi
    local traffic
    traffic=$(lsw_whack "$B" --trafficstatus 2>&1)
    if grep -F '"hub"' <<<"$traffic" | grep -F "id='$IKEHUB_DN'" >/dev/null; then
        ok "$case: whack --trafficstatus shows the Child SA with id '$IKEHUB_DN'"
    else
        bad "$case: whack --trafficstatus shows the Child SA with id '$IKEHUB_DN'"
        echo "$traffic"
    fi

    local in_before out_before
    in_before=$(ikehub_sum "$A" lsw packets_in)
    out_before=$(ikehub_sum "$A" lsw packets_out)
    check "$case: ping ikehub side -> Libreswan side" in_ns "$A" ping -c 3 -i 0.2 -W 2 -I 10.1.0.1 10.2.0.1
    check "$case: ping Libreswan side -> ikehub side" in_ns "$B" ping -c 3 -i 0.2 -W 2 -I 10.2.0.1 10.1.0.1
    local in_after out_after
    in_after=$(ikehub_sum "$A" lsw packets_in)
    out_after=$(ikehub_sum "$A" lsw packets_out)
    if [ "$in_after" -ge $((in_before + 6)) ] && [ "$out_after" -ge $((out_before + 6)) ]; then
        ok "$case: ESP counters moved (in $in_before -> $in_after, out $out_before -> $out_after packets)"
    else
        bad "$case: ESP counters moved (in $in_before -> $in_after, out $out_before -> $out_after packets)"
    fi

    # how pluto verified ikehub's signature ("established IKE SA; authenticated peer
    # '3072-bit RSASSA-PSS with SHA2_256' digital signature using peer certificate ...") and
    # made its own (debug: as initiator "digsig: selected hash algorithm SHA2_512", "digsig:
    # authby rsasig selects signer RSASSA-PSS"; as responder "digsig: using RSASSA-PSS
    # signer saved earlier", the initiator's)
    local verified signed
    verified=$(tail -n "+$log_from" "$LSW_LOG" | grep -E 'established IKE SA; authenticated peer')
    signed=$(tail -n "+$log_from" "$LSW_LOG" |
        grep -E 'digsig: +(selected hash algorithm|authby [a-z0-9]+ selects signer|using [A-Za-z0-9#. -]+ signer saved)')
    echo "pluto ($case):"
    printf '%s\n%s\n' "$verified" "$signed" | sed 's/^/    /'
    if grep -F "RSASSA-PSS" <<<"$verified" >/dev/null; then
        ok "$case: Libreswan verified ikehub's RSASSA-PSS signature"
    else
        bad "$case: Libreswan verified ikehub's RSASSA-PSS signature"
    fi
    if grep -E 'selects signer RSASSA-PSS|using RSASSA-PSS signer' <<<"$signed" >/dev/null; then
        ok "$case: Libreswan signed with RSASSA-PSS, and ikehub accepted it"
    else
        bad "$case: Libreswan signed with RSASSA-PSS, and ikehub accepted it"
    fi

    if [ "$initiator" = ikehub ]; then
        check "$case: ikehub down" ikehub_cli "$A" down lsw
    else
        check "$case: whack --terminate" lsw_terminate "$B" hub
    fi
    if wait_for 15 lsw_no_established_sa "$B" hub && wait_for 10 ikehub_down_everywhere "$A" lsw; then
        ok "$case: no IKE SA left on either side"
    else
        bad "$case: no IKE SA left on either side"
        lsw_whack "$B" --showstates; ikehub_json "$A" lsw
    fi
    if wait_for 5 bash -c "[ \$(ip -n $A xfrm state | grep -c '^src') -eq 0 ] && [ \$(ip -n $B xfrm state | grep -c '^src') -eq 0 ]"; then
        ok "$case: no kernel SA left on either side"
    else
        bad "$case: no kernel SA left ($(kernel_sa_count "$A") in A, $(kernel_sa_count "$B") in B)"
    fi
    if ikehub_stop "$A"; then ok "$case: ikehub stops cleanly"; else bad "$case: ikehub stops cleanly"; fi
    teardown
}

run ikehub
run libreswan
finish
