#!/bin/bash
# rust-tests: bench_xfrm
# Benchmark (not part of the suite): CHILD_SAs installed per second, ikehub's batched
# XFRM netlink against `ip -batch` of the same objects, at 1000 and 10000 CHILD_SAs, in an
# empty namespace of this kernel. Run with `cargo xtask bench --vm`; the table is printed
# on the console. IKEHUB_BENCH_PAIRS (e.g. 1000,10000) and IKEHUB_BENCH_RUNS change the sizes and the
# runs; IKEHUB_TEST_TIMEOUT may need raising under TCG.
# shellcheck source=../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

step "namespace with the outer address"
ns_new K || finish
check "outer address on a dummy" bash -c \
    "ip -n '$K' link add d0 type dummy && ip -n '$K' addr add 192.0.2.1/24 dev d0 && ip -n '$K' link set d0 up"

step "bench_xfrm (ikehub batched netlink against ip -batch)"
run_rust_tests bench_xfrm IKEHUB_NS="$K" IKEHUB_BENCH_PAIRS="${IKEHUB_BENCH_PAIRS:-1000,10000}" \
    IKEHUB_BENCH_RUNS="${IKEHUB_BENCH_RUNS:-5}"
finish
