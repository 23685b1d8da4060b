#!/bin/bash
# guest-payload: strongswan
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/strongswan.sh"
ns_new A
t=$(now_ms); swan_start "$A"; echo "start $(( $(now_ms) - t )) ms"
for i in 1 2 3; do t=$(now_ms); swan_ctl "$A" --stats >/dev/null; echo "stats $(( $(now_ms) - t )) ms"; done
d=$(swan_dir "$A")
sed -i 's/load = random nonce openssl pem pkcs1 pkcs8 x509 pubkey/load = nonce/' $d/strongswan.conf
for i in 1 2 3; do t=$(now_ms); swan_ctl "$A" --stats >/dev/null; echo "stats-min $(( $(now_ms) - t )) ms"; done
t=$(now_ms); swan_ctl "$A" --list-sas --raw; echo "list-sas-min $(( $(now_ms) - t )) ms"
t=$(now_ms); bash -c true; echo "bash $(( $(now_ms) - t )) ms"
t=$(now_ms); ip netns exec $A true; echo "netns exec $(( $(now_ms) - t )) ms"
swan_log "$A" | head -40
cat /proc/sys/kernel/random/entropy_avail
ok probe
finish
