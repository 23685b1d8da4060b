#!/bin/bash
# ESP hardware offload against netdevsim, the kernel's simulated device (built by xtask
# from the guest kernel's source): the initiator's ESP leaves by a netdevsim port, IKE by a
# veth. netdevsim 6.1 takes crypto offload of rfc4106(gcm(aes)) with a 128-bit ICV only, has
# no packet offload, and its ports deliver nothing: it proves programming and TX.
#
#   I: 192.0.2.1 (veth wI) --- 192.0.2.2 (veth wR) :R        inner 10.1.0.0/24 <-> 10.2.0.0/24
#      ESP to 192.0.2.2 is routed out of the netdevsim port (a /32 route, static neighbour);
#      IKE (UDP port 500) follows a rule to a table that keeps it on the veth. (A rule on
#      `ipproto esp` would not do: 6.1 looks the tunnel route up without the protocol.)
#
# Cases: crypto + AES-GCM-128 (SAs in netdevsim's table with their SPIs, its TX counter
# moves, status says crypto); crypto + CBC (fails, naming the algorithm); auto + CBC
# (software, status says none); packet (strict: fails with the kernel's words); auto +
# AES-GCM-128 (packet refused, falls back to crypto); then the device goes down: the kernel
# drops the SAs it held, the next packet's ACQUIRE makes ikehub rekey the CHILD_SA, the rekey
# falls back to software on the veth, and the tunnel carries traffic again.
# guest-payload: netdevsim
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/ikehub.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/ikehub.sh"

step "netdevsim"
if [ ! -d /sys/bus/netdevsim ]; then
    if [ -f /etc/ikehub-vm/netdevsim.load ]; then
        while read -r cmd; do $cmd 2>/dev/null; done </etc/ikehub-vm/netdevsim.load
    else
        modprobe netdevsim 2>/dev/null
    fi
fi
if [ ! -d /sys/bus/netdevsim ]; then
    bad "netdevsim module loaded (this kernel has none: run with --vm, where xtask builds it)"
    finish
fi
ok "netdevsim module loaded"
NSIM_ID=$((RANDOM % 1000 + 100))
check "netdevsim device $NSIM_ID with one port" sh -c "echo '$NSIM_ID 1' > /sys/bus/netdevsim/new_device" || finish
cleanup_nsim() { echo "$NSIM_ID" > /sys/bus/netdevsim/del_device 2>/dev/null; }
nsim_dev() { ls "/sys/bus/netdevsim/devices/netdevsim$NSIM_ID/net/" 2>/dev/null | head -n 1; }
wait_for 5 test -n "$(nsim_dev)"
NSIM=$(nsim_dev)
IPSEC=/sys/kernel/debug/netdevsim/netdevsim$NSIM_ID/ports/0/ipsec
[ -n "$NSIM" ] && [ -r "$IPSEC" ] && ok "port $NSIM with its ipsec debugfs file" || { bad "netdevsim port ($NSIM, $IPSEC)"; cleanup_nsim; finish; }

step "topology"
ns_new I || finish
ns_new R || finish
check "veth I<->R" ip link add wI netns "$I" type veth peer name wR netns "$R"
check "netdevsim port into I" ip link set dev "$NSIM" netns "$I"
ip -n "$I" addr add 192.0.2.1/24 dev wI && ip -n "$I" link set wI up
ip -n "$R" addr add 192.0.2.2/24 dev wR && ip -n "$R" link set wR up
ip -n "$I" link set "$NSIM" up
ip -n "$I" addr add 198.18.0.1/24 dev "$NSIM"
ip -n "$I" link add dI type dummy && ip -n "$I" addr add 10.1.0.1/24 dev dI && ip -n "$I" link set dI up
ip -n "$R" link add dR type dummy && ip -n "$R" addr add 10.2.0.1/24 dev dR && ip -n "$R" link set dR up
ip -n "$I" route add 10.2.0.0/24 dev wI
ip -n "$R" route add 10.1.0.0/24 dev wR
# ESP to R out of netdevsim; IKE on the veth.
check "peer routed via netdevsim" ip -n "$I" route add 192.0.2.2/32 dev "$NSIM"
check "static neighbour on netdevsim" ip -n "$I" neigh add 192.0.2.2 lladdr 02:00:00:00:00:02 dev "$NSIM" nud permanent
check "IKE stays on the veth" ip -n "$I" rule add ipproto udp dport 500 lookup 100 pref 100
ip -n "$I" route add 192.0.2.2/32 dev wI table 100
feat=$(ip netns exec "$I" ethtool -k "$NSIM" 2>/dev/null | grep esp-hw-offload)
echo "netdevsim features: ${feat:-(no ethtool in the guest)}"

DIR=$(mktemp -d)
IKEHUB_DIRS+=("$DIR")
config() {
    local name=$1 local=$2 peer=$3 lnet=$4 rnet=$5 esp=$6 start=$7 offload=$8
    cat >"$DIR/$name.toml" <<EOF
[gateway]
name = "$name"
local_addresses = ["$local"]
local_subnets = ["$lnet"]
offload = "$offload"

[[peer]]
name = "peer"
address = "$peer"

[[connection]]
name = "t"
peer = "peer"
psk = "offload-test-psk-5d3c9a"
remote_subnets = ["$rnet"]
esp_proposals = [$esp]
start_action = "$start"
EOF
}
GCM='"aes128gcm16"'
CBC='"aes128-sha256"'
config R 192.0.2.2 192.0.2.1 10.2.0.0/24 10.1.0.0/24 "$GCM, $CBC" listen none
check "responder config" ikehub check-config "$DIR/R.toml"
ikehub_start "$R" "$DIR/R.toml" && ok "responder ready" || bad "responder ready"

field() { ikehub_field "$I" t "$1"; }
last_error() { ikehub_json "$I" t | sed -n 's/^ *"last_error": "\(.*\)",\{0,1\}$/\1/p'; }
nsim_tx() { sed -n 's/^SA count=[0-9]* tx=\([0-9]*\).*/\1/p' "$IPSEC"; }
has_error() { ikehub_json "$I" t | grep -E "\"last_error\": \".*$1" >/dev/null; }

# run_initiator OFFLOAD ESP: (re)starts the initiator with that setting and proposal.
run_initiator() {
    ikehub_stop "$I" 2>/dev/null
    : >"$(ikehub_logfile "$I")"
    config I 192.0.2.1 192.0.2.2 10.1.0.0/24 10.2.0.0/24 "$2" initiate "$1"
    ikehub check-config "$DIR/I.toml" >/dev/null || bad "initiator config ($1, $2)"
    ikehub_start "$I" "$DIR/I.toml"
}

step "offload = crypto, AES-GCM-128: the SAs are on netdevsim"
run_initiator crypto "$GCM" && ok "initiator ready" || bad "initiator ready"
if wait_for 20 ikehub_established "$I" t; then
    ok "tunnel established"
else
    bad "tunnel established"; ikehub_log "$I"
fi
wait_for 5 test -n "$(field offload_out)"
spi_in=$(field spi_in)
spi_out=$(field spi_out)
echo "status: spi in $spi_in out $spi_out, offload in $(field offload_in) on $(field offload_in_device), out $(field offload_out) on $(field offload_out_device)"
cat "$IPSEC"
[ -n "$spi_out" ] && grep -E "spi=0x$spi_out " "$IPSEC" >/dev/null &&
    ok "outbound SA $spi_out in netdevsim's table" || bad "outbound SA $spi_out in netdevsim's table"
[ -n "$spi_in" ] && grep -E "spi=0x$spi_in " "$IPSEC" >/dev/null &&
    ok "inbound SA $spi_in in netdevsim's table" || bad "inbound SA $spi_in in netdevsim's table"
ip -n "$I" xfrm state | grep -E "crypto offload parameters: dev $NSIM dir out" >/dev/null &&
    ok "the kernel reports the outbound SA offloaded to $NSIM" || bad "the kernel reports the outbound SA offloaded"
[ "$(field offload_out)" = crypto ] && [ "$(field offload_out_device)" = "$NSIM" ] &&
    ok "status: outbound SA in crypto offload on $NSIM" || bad "status: outbound crypto offload ($(field offload_out) $(field offload_out_device))"
[ "$(field offload_in)" = crypto ] && ok "status: inbound SA in crypto offload" || bad "status: inbound crypto offload ($(field offload_in))"
ikehub_cli "$I" status | grep -E "offload in crypto on $NSIM, out crypto on $NSIM" >/dev/null &&
    ok "human status names mode and device" || bad "human status names mode and device"
tx1=$(nsim_tx)
in_ns "$I" ping -c 5 -i 0.2 -W 1 -I 10.1.0.1 10.2.0.1 >/dev/null 2>&1 # netdevsim delivers nothing
tx2=$(nsim_tx)
echo "netdevsim ipsec tx: $tx1 -> $tx2"
[ "${tx2:-0}" -ge $((${tx1:-0} + 5)) ] && ok "netdevsim TX counter rises with pings ($tx1 -> $tx2)" ||
    bad "netdevsim TX counter rises with pings ($tx1 -> $tx2)"

step "offload = crypto, AES-CBC + HMAC-SHA256: refused, naming the algorithm"
run_initiator crypto "$CBC" && ok "initiator ready" || bad "initiator ready"
if wait_for 20 has_error "cbc\\(aes\\)"; then
    ok "the connection fails naming the algorithm"
else
    bad "the connection fails naming the algorithm"; ikehub_log "$I"
fi
echo "last error: $(last_error)"
n=$(ip -n "$I" xfrm state | grep -c '^src')
[ "$n" -eq 0 ] && ok "no SA left behind" || bad "no SA left behind ($n)"

step "offload = auto, AES-CBC + HMAC-SHA256: software ESP"
run_initiator auto "$CBC" && ok "initiator ready" || bad "initiator ready"
if wait_for 20 ikehub_established "$I" t && wait_for 5 test -n "$(field offload_out)"; then
    ok "tunnel established"
else
    bad "tunnel established"; ikehub_log "$I"
fi
[ "$(field offload_out)" = none ] && [ "$(field offload_in)" = none ] &&
    ok "status: both SAs in software" || bad "status: software ($(field offload_in) / $(field offload_out))"
grep -E "ESP in software|trying the next mode" "$(ikehub_logfile "$I")" >/dev/null &&
    ok "the fallback is logged" || bad "the fallback is logged"

step "offload = packet: netdevsim 6.1 has none, strict mode fails"
run_initiator packet "$GCM" && ok "initiator ready" || bad "initiator ready"
if wait_for 20 has_error "packet offload"; then
    ok "the connection fails with the packet offload refusal"
else
    bad "the connection fails with the packet offload refusal"; ikehub_log "$I"
fi
echo "last error: $(last_error)"

step "offload = auto, AES-GCM-128: packet refused, crypto taken"
run_initiator auto "$GCM" && ok "initiator ready" || bad "initiator ready"
if wait_for 20 ikehub_established "$I" t && wait_for 5 test -n "$(field offload_out)"; then
    ok "tunnel established"
else
    bad "tunnel established"; ikehub_log "$I"
fi
[ "$(field offload_out)" = crypto ] && [ "$(field offload_in)" = crypto ] &&
    ok "status: crypto offload after the packet refusal" || bad "status: crypto after fallback ($(field offload_in) / $(field offload_out))"
spi_out=$(field spi_out)
grep -E "spi=0x$spi_out " "$IPSEC" >/dev/null && ok "the SA is in netdevsim's table" || bad "the SA is in netdevsim's table"
grep -E "trying the next mode" "$(ikehub_logfile "$I")" >/dev/null &&
    ok "the packet refusal is logged" || bad "the packet refusal is logged"

step "the device goes down: the next rekey falls back to software"
check "netdevsim port down" ip -n "$I" link set "$NSIM" down
left=$(ip -n "$I" xfrm state | grep -c '^src')
[ "$left" -eq 0 ] && ok "the kernel dropped the SAs offloaded to the port" || bad "the kernel dropped the offloaded SAs ($left left)"
t_down=$(now_ms)
# Traffic meets the policies without SAs: the kernel's ACQUIRE makes ikehub rekey the
# CHILD_SA at once (its lifetime is 1h).
in_ns "$I" ping -c 1 -W 1 -I 10.1.0.1 10.2.0.1 >/dev/null 2>&1
software() { [ "$(field offload_out)" = none ] && [ "$(field offload_in)" = none ] && ikehub_established "$I" t; }
if wait_for 30 software; then
    ok "the ACQUIRE-triggered rekey runs both SAs in software ($(($(now_ms) - t_down)) ms after the port went down)"
else
    bad "the rekey runs both SAs in software ($(field offload_in) / $(field offload_out))"; ikehub_log "$I"
fi
[ "$(field spi_out)" != "$spi_out" ] && ok "the CHILD_SA was rekeyed ($spi_out -> $(field spi_out))" || bad "the CHILD_SA was rekeyed"
grep -E "no device to offload to" "$(ikehub_logfile "$I")" >/dev/null &&
    ok "the fallback is logged" || bad "the fallback is logged"
grep -E "no device to offload to" "$(ikehub_logfile "$I")" | tail -n 1
if wait_for 10 in_ns "$I" ping -c 1 -W 1 -I 10.1.0.1 10.2.0.1; then
    ok "the tunnel carries traffic again, over the veth"
else
    bad "the tunnel carries traffic again, over the veth"
fi

ikehub_stop "$I"
ikehub_stop "$R"
ip -n "$I" link set dev "$NSIM" netns 1 2>/dev/null
cleanup_nsim
finish
