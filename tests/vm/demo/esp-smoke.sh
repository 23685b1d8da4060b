#!/bin/bash
# Demo: the ESP smoke test, narrated (shows the SAs, policies and counters).
IKT_VERBOSE=1 exec bash "$(dirname "${BASH_SOURCE[0]}")/../esp-smoke.sh"
