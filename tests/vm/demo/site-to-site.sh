#!/bin/bash
# Demo: the first seed scenario, narrated. A VPC gateway and an on-premises gateway run
# ikehub with the shipped example configurations; the tunnel comes up, the VPC host pings
# the office host through ESP, and `ikehub status` shows the SAs and their counters.
IKEHUB_VERBOSE=1 exec bash "$(dirname "${BASH_SOURCE[0]}")/../site-to-site.sh"
