#!/bin/bash
# rust-tests: kernel_xfrm
# The kernel layer's XFRM dataplane (src/kernel/xfrm) against this kernel: the
# ignored tests of tests/kernel_xfrm.rs, run in two namespaces built here.
# Each Rust test becomes one check.
#
#   A: outer 192.0.2.1, 2001:db8::1 (veth vA)   inner 10.1.0.1/24, fd00:1::1/64 (dummy dA)
#   B: outer 192.0.2.2, 2001:db8::2 (veth vB)   inner 10.2.0.1/24, fd00:2::1/64 (dummy dB)
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

step "topology: two namespaces over veth, inner networks on dummies"
ns_new A || finish
ns_new B || finish
topology() {
    ip link add vA netns "$A" type veth peer name vB netns "$B" &&
        ip -n "$A" addr add 192.0.2.1/24 dev vA && ip -n "$A" link set vA up &&
        ip -n "$B" addr add 192.0.2.2/24 dev vB && ip -n "$B" link set vB up &&
        ip -n "$A" link add dA type dummy && ip -n "$A" addr add 10.1.0.1/24 dev dA &&
        ip -n "$A" link set dA up &&
        ip -n "$B" link add dB type dummy && ip -n "$B" addr add 10.2.0.1/24 dev dB &&
        ip -n "$B" link set dB up &&
        ip -n "$A" route add 10.2.0.0/24 via 192.0.2.2 &&
        ip -n "$B" route add 10.1.0.0/24 via 192.0.2.1
}
topology6() {
    ip -n "$A" addr add 2001:db8::1/64 dev vA nodad &&
        ip -n "$B" addr add 2001:db8::2/64 dev vB nodad &&
        ip -n "$A" addr add fd00:1::1/64 dev dA nodad &&
        ip -n "$B" addr add fd00:2::1/64 dev dB nodad &&
        ip -n "$A" route add fd00:2::/64 via 2001:db8::2 &&
        ip -n "$B" route add fd00:1::/64 via 2001:db8::1
}
check "veth, addresses, inner networks, routes" topology || finish
check "IPv6 addresses and routes" topology6 || finish
check "plain ping over the veth" in_ns "$A" ping -c 1 -W 5 192.0.2.2
check "plain IPv6 ping over the veth" in_ns "$A" ping -c 1 -W 5 2001:db8::2

step "kernel_xfrm (Rust integration tests)"
run_rust_tests kernel_xfrm IKEHUB_NS_A="$A" IKEHUB_NS_B="$B"
finish
