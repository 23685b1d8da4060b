#!/bin/bash
# Runs guest tests one after the other, in the VM (/init calls it) or on a
# host whose kernel has ESP (the xtask calls it): the same code either way.
#   run-tests.sh DIR NAME...   runs DIR/NAME.sh for each NAME
# Output protocol (read by the xtask): @@TEST NAME, the test's own
# @@PASS/@@FAIL lines, @@END NAME rc=N, and a last @@SUMMARY line. The runner
# adds a @@FAIL line of its own when a test times out, exits non-zero without
# reporting a failed check, runs no check, or leaves a namespace behind.
# Exit status: 0 when every test passed, 1 otherwise.
set -u
dir=$1
shift
test_timeout=${IKEHUB_TEST_TIMEOUT:-300}
ns_prefix=${IKEHUB_NS_PREFIX:-ikt-}
export IKEHUB_NS_PREFIX=$ns_prefix
log_dir=$(mktemp -d)
failed_tests=0

leftover_namespaces() {
    ip netns list 2>/dev/null | awk -v p="$ns_prefix" 'index($1, p) == 1 {print $1}'
}

for name in "$@"; do
    script=$dir/$name.sh
    log=$log_dir/${name//\//_}.log
    echo "@@TEST $name"
    start=$(cut -d' ' -f1 /proc/uptime)
    if [ ! -f "$script" ]; then
        echo "@@FAIL $name: no such test script $script"
        failed_tests=$((failed_tests + 1))
        continue
    fi
    timeout "$test_timeout" bash "$script" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    passes=$(grep -c '^@@PASS' "$log")
    fails=$(grep -c '^@@FAIL' "$log")
    broken=0
    # coreutils timeout exits 124; busybox's reports the SIGTERM (128 + 15)
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 143 ]; then
        echo "@@FAIL $name: timed out after ${test_timeout}s"
        broken=1
    elif [ "$rc" -ne 0 ] && [ "$fails" -eq 0 ]; then
        echo "@@FAIL $name: exited with status $rc without reporting a failed check"
        broken=1
    elif [ "$rc" -eq 0 ] && [ "$fails" -ne 0 ]; then
        echo "@@FAIL $name: reported failed checks but exited 0"
        broken=1
    elif [ "$passes" -eq 0 ] && [ "$fails" -eq 0 ]; then
        echo "@@FAIL $name: ran no checks"
        broken=1
    fi
    for ns in $(leftover_namespaces); do
        echo "@@FAIL $name: left namespace $ns behind"
        ip netns del "$ns"
        broken=1
    done
    if [ "$rc" -ne 0 ] || [ "$broken" -ne 0 ]; then
        failed_tests=$((failed_tests + 1))
    fi
    end=$(cut -d' ' -f1 /proc/uptime)
    echo "@@END $name rc=$rc seconds=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')"
done
rm -rf "$log_dir"
echo "@@SUMMARY tests=$# failed_tests=$failed_tests"
[ "$failed_tests" -eq 0 ]
