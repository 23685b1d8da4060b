#!/bin/bash
# IKEv2 certificate authentication between ikehub and Debian's strongSwan (charon + swanctl,
# kernel-netlink, real kernel SAs): ikehub in namespace A, strongSwan in namespace B, both
# authenticating with certificates (`local_auth`/`remote_auth` = "pubkey"; swanctl
# `auth = pubkey`). The test makes its own PKI with openssl, in two variants:
#   ecdsa: ECDSA P-256 keys (CA and both ends), identities the addresses (subjectAltName IP)
#   rsa:   RSA-3072 keys, identities the distinguished names; strongSwan signs with RSASSA-PSS
#          (RFC 7427, swanctl `auth = rsa/pss-sha256`), and so does ikehub
# For each variant and each direction (ikehub initiates, strongSwan initiates): both ends
# establish, pings pass both ways through ESP (the kernel's counters move), ikehub's status
# shows "pubkey" both ways and strongSwan's certificate (subject and issuer), and swanctl
# lists the IKE SA as established; then the initiator takes it down.
# Then ikehub refuses certificates it must not accept, each named in its `last_error`: an
# expired one, one from a CA it does not know, and one its CRL (`crl_files`) revokes.
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
# shellcheck source=lib/pki.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/pki.sh"

CONFIG=/tmp/ikt-interop-certificates.toml
PKI=$(mktemp -d /tmp/ikt-pki.XXXXXX) || { bad "temporary PKI directory"; finish; }
IKEHUB_DIRS+=("$PKI")
ORG="/C=CH/O=ikehub test"

step "test PKI: openssl $(openssl version | cut -d' ' -f2)"
for alg in ecdsa rsa; do
    t0=$(now_ms)
    if make_ca "$PKI/$alg" "$alg" "$ORG/CN=$alg test CA" >"$PKI/$alg.out" 2>&1 &&
        issue "$PKI/$alg" ikehub "$alg" "$ORG/CN=ikehub-$alg" 192.0.2.1 >>"$PKI/$alg.out" 2>&1 &&
        issue "$PKI/$alg" swan "$alg" "$ORG/CN=strongswan-$alg" 192.0.2.2 >>"$PKI/$alg.out" 2>&1; then
        ok "$alg: CA and certificates of both ends made ($(($(now_ms) - t0)) ms)"
    else
        cat "$PKI/$alg.out"
        bad "$alg: CA and certificates of both ends made"
        finish
    fi
done

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
# strongSwan trusts both test CAs and holds its certificates and keys of both variants
for alg in ecdsa rsa; do
    swan_cred "$B" x509ca "$PKI/$alg/ca.pem" "$alg-ca.pem" &&
        swan_cred "$B" x509 "$PKI/$alg/swan.pem" "$alg-swan.pem" &&
        swan_cred "$B" private "$PKI/$alg/swan.key" "$alg-swan.key" ||
        bad "$alg: strongSwan's credentials in place"
done

kernel_sa_count() { ip -n "$1" xfrm state | grep -c '^src'; }

# ikehub_config ALG START [CRL] [PEER_ID]: ikehub's configuration for variant ALG
# (ecdsa: address identities; rsa: the certificates' subjects); START is its start_action.
ikehub_config() {
    local alg=$1 start=$2 crl=${3:-} peer_id=${4:-} local_id=""
    if [ -z "$peer_id" ]; then
        if [ "$alg" = rsa ]; then peer_id=$(dn_of "$PKI/$alg/swan.pem" subject); else peer_id=192.0.2.2; fi
    fi
    # rsa: the default local identity, the certificate's subject
    [ "$alg" = ecdsa ] && local_id='local_identity = "192.0.2.1"'
    cat >"$CONFIG" <<EOF
[gateway]
name = "ikehub"
local_addresses = ["192.0.2.1"]
local_subnets = ["10.1.0.0/24"]
certificate = "$PKI/$alg/ikehub.pem"
private_key = "$PKI/$alg/ikehub.key"
ca_certificates = ["$PKI/$alg/ca.pem"]
${crl:+crl_files = [\"$crl\"]}
[[peer]]
name = "strongswan"
address = "192.0.2.2"
identity = "$peer_id"
[[connection]]
name = "swan"
peer = "strongswan"
local_auth = "pubkey"
remote_auth = "pubkey"
$local_id
remote_subnets = ["10.2.0.0/24"]
ike_proposals = ["aes128gcm16-prfsha256-ecp256"]
esp_proposals = ["aes128gcm16"]
start_action = "$start"
EOF
}

# swan_cert_conn ALG CERT [ID]: strongSwan's connection "hub" for variant ALG, presenting
# CERT (a file in its swanctl/x509) as identity ID.
swan_cert_conn() {
    local alg=$1 cert=$2 id=${3:-} auth=pubkey remote_id=192.0.2.1
    if [ "$alg" = rsa ]; then
        auth=rsa/pss-sha256
        remote_id=$(dn_of "$PKI/$alg/ikehub.pem" subject)
        id=${id:-$(dn_of "$PKI/$alg/swan.pem" subject)}
    fi
    swan_conn "$B" hub local=192.0.2.2 remote=192.0.2.1 local_id="${id:-192.0.2.2}" remote_id="$remote_id" \
        auth="$auth" remote_auth=pubkey cert="$cert" local_ts=10.2.0.0/24 remote_ts=10.1.0.0/24
}

# teardown: stop ikehub, drop strongSwan's connection and any SA it still holds.
teardown() {
    ikehub_stop "$A" >/dev/null 2>&1
    swan_ctl "$B" --terminate --ike hub --force --timeout 5 >/dev/null 2>&1
    swan_unconn "$B" hub
    swan_load "$B" >/dev/null
    wait_for 10 swan_no_sa "$B" hub || bad "strongSwan still holds an IKE SA after the case"
}

# run ALG INITIATOR(ikehub|strongswan)
run() {
    local alg=$1 initiator=$2 case="$1-$2" start=listen
    step "$case: certificates with $alg keys, $initiator initiates"
    [ "$initiator" = ikehub ] && start=initiate
    ikehub_config "$alg" "$start"
    swan_cert_conn "$alg" "$alg-swan.pem" && swan_load "$B" >/dev/null ||
        { bad "$case: strongSwan connection loaded"; swan_log "$B"; return; }
    ikehub_start "$A" "$CONFIG" || { bad "$case: ikehub started"; ikehub_log "$A"; return; }
    local t0
    t0=$(now_ms)
    [ "$initiator" = strongswan ] && swan_initiate "$B" hub >/dev/null
    if wait_for 30 ikehub_established "$A" swan && wait_for 15 swan_sa_established "$B" hub; then
        ok "$case: established on both ends ($(($(now_ms) - t0)) ms)"
    else
        bad "$case: established on both ends (ikehub last_error: $(ikehub_string "$A" swan last_error))"
        ikehub_log "$A"; swan_log "$B"
        teardown
        return
    fi

    local value want
    for value in auth remote_auth; do
        want=pubkey
        [ "$(ikehub_string "$A" swan "$value")" = "$want" ] && ok "$case: ikehub status $value is $want" ||
            bad "$case: ikehub status $value is $want ($(ikehub_string "$A" swan "$value"))"
    done
    for value in subject issuer; do
        want=$(dn_of "$PKI/$alg/swan.pem" "$value")
        if [ "$(ikehub_peer_cert "$A" swan "$value")" = "$want" ]; then
            ok "$case: ikehub shows the peer certificate's $value \"$want\""
        else
            bad "$case: ikehub shows the peer certificate's $value \"$want\" (it shows \"$(ikehub_peer_cert "$A" swan "$value")\")"
            ikehub_json "$A" swan
        fi
    done
    # strongSwan's view: the IKE SA is established with ikehub's identity
    local sas
    sas=$(swan_sas "$B" hub)
    want=192.0.2.1
    [ "$alg" = rsa ] && want=$(dn_of "$PKI/$alg/ikehub.pem" subject)
    if grep -F "state=ESTABLISHED" <<<"$sas" >/dev/null && grep -F "remote-id=$want " <<<"$sas" >/dev/null; then
        ok "$case: swanctl --list-sas shows the IKE SA established with $want"
    else
        bad "$case: swanctl --list-sas shows the IKE SA established with $want"
        echo "$sas"
    fi

    local in_before out_before
    in_before=$(ikehub_sum "$A" swan packets_in)
    out_before=$(ikehub_sum "$A" swan packets_out)
    check "$case: ping ikehub side -> strongSwan side" in_ns "$A" ping -c 3 -i 0.2 -W 2 -I 10.1.0.1 10.2.0.1
    check "$case: ping strongSwan side -> ikehub side" in_ns "$B" ping -c 3 -i 0.2 -W 2 -I 10.2.0.1 10.1.0.1
    local in_after out_after
    in_after=$(ikehub_sum "$A" swan packets_in)
    out_after=$(ikehub_sum "$A" swan packets_out)
    if [ "$in_after" -ge $((in_before + 6)) ] && [ "$out_after" -ge $((out_before + 6)) ]; then
        ok "$case: ESP counters moved (in $in_before -> $in_after, out $out_before -> $out_after packets)"
    else
        bad "$case: ESP counters moved (in $in_before -> $in_after, out $out_before -> $out_after packets)"
    fi

    if [ "$initiator" = ikehub ]; then
        check "$case: ikehub down" ikehub_cli "$A" down swan
    else
        check "$case: swanctl --terminate" swan_terminate "$B" hub
    fi
    if wait_for 10 swan_no_sa "$B" hub && wait_for 10 ikehub_down_everywhere "$A" swan; then
        ok "$case: no IKE SA left on either side"
    else
        bad "$case: no IKE SA left on either side"
    fi
    if wait_for 5 bash -c "[ \$(ip -n $A xfrm state | grep -c '^src') -eq 0 ] && [ \$(ip -n $B xfrm state | grep -c '^src') -eq 0 ]"; then
        ok "$case: no kernel SA left on either side"
    else
        bad "$case: no kernel SA left ($(kernel_sa_count "$A") in A, $(kernel_sa_count "$B") in B)"
    fi
    ikehub_stop "$A" && ok "$case: ikehub stops cleanly" || bad "$case: ikehub stops cleanly"
    swan_unconn "$B" hub
    swan_load "$B" >/dev/null
}

run ecdsa ikehub
run ecdsa strongswan
run rsa ikehub
run rsa strongswan

step "RSA signatures are RSASSA-PSS both ways"
# charon logs e.g. "authentication of 'C=CH, ...' (myself) with RSA_EMSA_PSS_SHA2_256_SALT_32
# successful" for its own signature, and the same without "(myself)" for ikehub's; only the
# rsa cases sign with RSA
SWAN_LOG="$(swan_dir "$B")/charon.log"
if grep -E "authentication of .* \(myself\) with RSA_EMSA_PSS_SHA2_256[A-Z0-9_]* successful" "$SWAN_LOG" >/dev/null; then
    ok "strongSwan authenticated with RSASSA-PSS (RSA_EMSA_PSS_SHA2_256)"
else
    bad "strongSwan authenticated with RSASSA-PSS (RSA_EMSA_PSS_SHA2_256)"
    grep -E "authentication of" "$SWAN_LOG"
fi
if grep -F "authentication of '$(dn_of "$PKI/rsa/ikehub.pem" subject)' with RSA_EMSA_PSS_SHA2_256" "$SWAN_LOG" >/dev/null; then
    ok "ikehub authenticated with RSASSA-PSS (strongSwan verified RSA_EMSA_PSS_SHA2_256)"
else
    bad "ikehub authenticated with RSASSA-PSS (strongSwan verified RSA_EMSA_PSS_SHA2_256)"
    grep -E "authentication of" "$SWAN_LOG"
fi

# ---- refusals: ikehub must refuse strongSwan's certificate and say why ----

# has_error NS CONN TEXT: CONN's last_error contains TEXT.
has_error() {
    ikehub_string "$1" "$2" last_error | grep -F -- "$3" >/dev/null
}

# refuse CASE INITIATOR(ikehub|strongswan) CERT TEXT [CRL]: strongSwan presents CERT (a
# file in its swanctl/x509, ECDSA variant); ikehub must refuse it with TEXT in last_error.
refuse() {
    local case=$1 initiator=$2 cert=$3 text=$4 crl=${5:-} start=listen
    step "refusal $case: $initiator initiates, strongSwan presents $cert"
    [ "$initiator" = ikehub ] && start=initiate
    ikehub_config ecdsa "$start" "$crl"
    swan_cert_conn ecdsa "$cert" && swan_load "$B" >/dev/null ||
        { bad "$case: strongSwan connection loaded"; swan_log "$B"; return; }
    ikehub_start "$A" "$CONFIG" || { bad "$case: ikehub started"; ikehub_log "$A"; return; }
    if [ "$initiator" = strongswan ]; then
        swan_initiate "$B" hub >/dev/null 2>&1 && bad "$case: strongSwan's initiate should fail"
    fi
    if wait_for 30 has_error "$A" swan "$text"; then
        ok "$case: ikehub refuses: $(ikehub_string "$A" swan last_error)"
    else
        bad "$case: ikehub's last_error names \"$text\" (it is \"$(ikehub_string "$A" swan last_error)\")"
        ikehub_log "$A"; swan_log "$B"
    fi
    [ "$(ikehub_string "$A" swan last_error_by)" = us ] && ok "$case: last_error_by is us" ||
        bad "$case: last_error_by is us ($(ikehub_string "$A" swan last_error_by))"
    ikehub_established "$A" swan && bad "$case: no tunnel on ikehub's side" || ok "$case: no tunnel on ikehub's side"
    # strongSwan as responder has established its end before ikehub reads the answer: ikehub
    # must tell it (RFC 7296 2.21.2: AUTHENTICATION_FAILED in an INFORMATIONAL)
    if wait_for 10 swan_no_sa "$B" hub; then
        ok "$case: strongSwan holds no IKE SA"
    else
        bad "$case: strongSwan holds no IKE SA"
        swan_sas "$B" hub
        ikehub_log "$A"; swan_log "$B"
    fi
    [ "$(kernel_sa_count "$A")" -eq 0 ] && ok "$case: no kernel SA in A" || bad "$case: no kernel SA in A ($(kernel_sa_count "$A"))"
    teardown
}

step "refusal certificates"
t0=$(now_ms)
# expired: valid in 2020 only; unknown CA: the same names, another CA; revoked: listed in
# the CA's CRL
if {
    issue "$PKI/ecdsa" expired ecdsa "$ORG/CN=strongswan-expired" 192.0.2.2 200101000000Z 210101000000Z &&
        make_ca "$PKI/other" ecdsa "$ORG/CN=other test CA" &&
        issue "$PKI/other" swan ecdsa "$ORG/CN=strongswan-ecdsa" 192.0.2.2 &&
        issue "$PKI/ecdsa" revoked ecdsa "$ORG/CN=strongswan-revoked" 192.0.2.2 &&
        openssl ca -config "$PKI/ecdsa/ca.cnf" -revoke "$PKI/ecdsa/revoked.pem" &&
        openssl ca -config "$PKI/ecdsa/ca.cnf" -gencrl -out "$PKI/ecdsa/ca.crl"
} >"$PKI/refusal.out" 2>&1; then
    ok "refusal certificates and CRL made ($(($(now_ms) - t0)) ms)"
else
    cat "$PKI/refusal.out"
    bad "refusal certificates and CRL made"
    finish
fi
for name in expired revoked; do
    swan_cred "$B" x509 "$PKI/ecdsa/$name.pem" "$name.pem" && swan_cred "$B" private "$PKI/ecdsa/$name.key" "$name.key"
done
swan_cred "$B" x509 "$PKI/other/swan.pem" unknown-ca.pem && swan_cred "$B" private "$PKI/other/swan.key" unknown-ca.key

refuse expired strongswan expired.pem "expired on 2021-01-01"
refuse unknown-ca ikehub unknown-ca.pem "unknown CA"
refuse revoked strongswan revoked.pem "revoked" "$PKI/ecdsa/ca.crl"
finish
