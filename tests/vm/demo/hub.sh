#!/bin/bash
# Demo: the hub scenario, narrated. A head-office hub (examples/hub.toml) and three branch
# offices, two running ikehub (examples/hub-office-shanghai.toml over IKEv2,
# hub-office-hangzhou.toml over IKEv1) and one strongSwan (examples/strongswan/ningbo.swanctl.conf). All three tunnels come up,
# every office reaches the head office and the other offices through the hub, and
# `ikehub routes` / `ikehub status` show the route table and the SAs.
# guest-payload: strongswan
IKEHUB_VERBOSE=1 exec bash "$(dirname "${BASH_SOURCE[0]}")/../hub-three-offices.sh"
