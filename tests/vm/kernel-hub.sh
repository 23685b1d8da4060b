#!/bin/bash
# rust-tests: kernel_hub
# Hub mode's kernel layer (src/kernel/link plus if_id on XFRM states and
# policies) against this kernel: the ignored tests of tests/kernel_hub.rs, run
# in two namespaces built here. Each Rust test becomes one check.
#
#   A: outer 192.0.2.1 (veth vA)   inner 10.1.0.1/24, 10.1.5.1/24, fd00:1::1/64 (dummy dA)
#   B: outer 192.0.2.2 (veth vB)   inner 10.2.0.1/24, 10.2.5.1/24, fd00:2::1/64 (dummy dB)
#
# No route between the inner networks: only the routes the tests install
# through xfrm interfaces connect them.
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

step "topology: two namespaces over veth, inner networks on dummies"
ns_new A || finish
ns_new B || finish
topology() {
    ip link add vA netns "$A" type veth peer name vB netns "$B" &&
        ip -n "$A" addr add 192.0.2.1/24 dev vA && ip -n "$A" link set vA up &&
        ip -n "$B" addr add 192.0.2.2/24 dev vB && ip -n "$B" link set vB up &&
        ip -n "$A" link add dA type dummy && ip -n "$A" link set dA up &&
        ip -n "$A" addr add 10.1.0.1/24 dev dA && ip -n "$A" addr add 10.1.5.1/24 dev dA &&
        ip -n "$B" link add dB type dummy && ip -n "$B" link set dB up &&
        ip -n "$B" addr add 10.2.0.1/24 dev dB && ip -n "$B" addr add 10.2.5.1/24 dev dB &&
        ip -n "$A" addr add fd00:1::1/64 dev dA nodad &&
        ip -n "$B" addr add fd00:2::1/64 dev dB nodad
}
check "veth, addresses, inner networks" topology || finish
check "plain ping over the veth" in_ns "$A" ping -c 1 -W 5 192.0.2.2
if in_ns "$A" ping -c 1 -W 1 -I 10.1.0.1 10.2.0.1 >/dev/null 2>&1; then
    bad "inner networks unreachable before any hub route"
else
    ok "inner networks unreachable before any hub route"
fi

step "kernel_hub (Rust integration tests)"
run_rust_tests kernel_hub IKEHUB_NS_A="$A" IKEHUB_NS_B="$B"
finish
