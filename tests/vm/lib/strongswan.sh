# strongSwan peers for guest tests: one charon per network namespace, each
# with its own /run, strongswan.conf, swanctl directory, vici socket and log.
# Source it after common.sh; a test using it carries the line
#   # guest-payload: strongswan
# so the xtask puts charon, swanctl and the plugins into the guest.
#
#   swan_start NS [EXTRA_CONF]       start charon in NS, wait until vici answers
#   swan_conn NS NAME key=value...    write a site-to-site connection (IKEv2 PSK by default;
#                                     certificates with auth=pubkey cert=FILE)
#   swan_cred NS DIR FILE [NAME]      put a credential file into NS's swanctl/DIR (x509,
#                                     x509ca, x509crl, private...), loaded by swan_load
#   swan_load NS                      load every connection and secret written so far
#   swan_initiate NS CONN             bring up the IKE SA and its CHILD_SA (blocks)
#   swan_rekey_child NS CONN          rekey the CHILD_SA now
#   swan_terminate NS CONN            delete the IKE SA (and its CHILD_SAs)
#   swan_sa_established NS CONN       exit 0 when the IKE SA is ESTABLISHED and the CHILD_SA INSTALLED
#   swan_no_sa NS CONN                exit 0 when NS holds no IKE SA named CONN
#   swan_child_spis NS CONN           "SPI_IN SPI_OUT" of the installed CHILD_SA (hex, 0x...)
#   swan_sas NS CONN                  the raw `swanctl --list-sas` listing of CONN
#   swan_unconn NS NAME               forget connection NAME (at the next swan_load)
#   swan_ctl NS ARGS...               swanctl against NS's charon
#   swan_log NS                       print NS's charon log (on failure)
#   swan_stop NS                      stop NS's charon (SIGTERM) and wait for it to exit
# Everything lives in a per-namespace directory under $IKEHUB_SWAN_ROOT (default
# /tmp), removed when the test exits.

IKEHUB_CHARON=${IKEHUB_CHARON:-/usr/lib/ipsec/charon}
IKEHUB_SWAN_ROOT=${IKEHUB_SWAN_ROOT:-/tmp}
# Plugins charon loads (load_modular = no): the kernel interface, the sockets,
# vici for swanctl, and the crypto for PSK IKEv1/IKEv2 with AES, SHA-1/2,
# MODP, ECP and Curve25519 groups.
IKEHUB_SWAN_PLUGINS=${IKEHUB_SWAN_PLUGINS:-"random nonce openssl aes sha1 sha2 hmac kdf gmp curve25519 pem pkcs1 pkcs8 x509 pubkey kernel-netlink socket-default vici"}
# Seconds swanctl waits for an initiate/terminate/rekey to complete.
IKEHUB_SWAN_TIMEOUT=${IKEHUB_SWAN_TIMEOUT:-30}

# swan_dir NS: the instance directory of NS's charon.
swan_dir() {
    echo "$IKEHUB_SWAN_ROOT/ikt-swan-$1"
}

# swan_ctl NS ARGS...: run swanctl against NS's charon (its vici socket is a
# file, so swanctl itself need not enter the namespace).
swan_ctl() {
    local dir
    dir=$(swan_dir "$1")
    shift
    STRONGSWAN_CONF="$dir/strongswan.conf" SWANCTL_DIR="$dir/swanctl" swanctl "$@"
}

# swan_start NS [EXTRA_CONF]: write NS's strongswan.conf (EXTRA_CONF is added
# inside its `charon { }` section), start charon in NS with a private /run
# (its pid file path is compiled in) and wait until it answers on vici.
swan_start() {
    local ns=$1 extra=${2:-} dir pid
    dir=$(swan_dir "$ns")
    rm -rf "$dir"
    # swanctl --load-all reads credentials from these (empty: PSK only)
    mkdir -p "$dir/run" "$dir/swanctl/conf.d" "$dir"/swanctl/{x509,x509ca,x509ocsp,x509aa,x509ac,x509crl} \
        "$dir"/swanctl/{pubkey,private,rsa,ecdsa,bliss,pkcs8,pkcs12} || {
        bad "strongSwan in $ns: cannot create $dir"
        return 1
    }
    IKEHUB_DIRS+=("$dir")
    cat >"$dir/strongswan.conf" <<EOF
charon {
    load_modular = no
    load = $IKEHUB_SWAN_PLUGINS
    # the tests set up their own routes
    install_routes = no
    install_virtual_ip = no
    plugins {
        vici {
            socket = unix://$dir/charon.vici
        }
    }
    filelog {
        main {
            path = $dir/charon.log
            time_format = %H:%M:%S
            ike_name = yes
            flush_line = yes
            default = 1
            ike = 2
            cfg = 2
            chd = 2
            knl = 2
        }
    }
    syslog {
        daemon {
            default = -1
        }
    }
$extra
}
swanctl {
    load = random nonce openssl pem pkcs1 pkcs8 x509 pubkey
    socket = unix://$dir/charon.vici
}
EOF
    printf 'include conf.d/*.conf\n' >"$dir/swanctl/swanctl.conf"
    # ip netns exec gives charon a mount namespace of its own: the bind mount
    # over /run stays private to it
    # shellcheck disable=SC2016 # expanded by the inner bash
    spawn pid ip netns exec "$ns" /bin/bash -c \
        'mount --bind "$1/run" /run && STRONGSWAN_CONF="$1/strongswan.conf" exec "$2"' \
        swan "$dir" "$IKEHUB_CHARON" >>"$dir/charon.out" 2>&1
    echo "$pid" >"$dir/pid"
    if ! wait_for 20 swan_ctl "$ns" --stats; then
        bad "strongSwan in $ns: charon does not answer on vici within 20s"
        swan_log "$ns"
        return 1
    fi
}

# swan_stop NS: stop NS's charon and wait for it to exit.
swan_stop() {
    local pid
    pid=$(cat "$(swan_dir "$1")/pid" 2>/dev/null) || return 0
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}

# swan_conn NS NAME key=value...: write connection NAME (IKE SA and one
# CHILD_SA, both called NAME) with its PSK secret. Keys (defaults):
#   local, remote        outer addresses (required)
#   local_id, remote_id  identities (the addresses)
#   psk                  pre-shared key (required with auth=psk)
#   auth                 how charon authenticates: psk, pubkey, or a swanctl auth constraint
#                        such as rsa/pss-sha256 (RSASSA-PSS signatures) (psk)
#   remote_auth          how the peer must authenticate (psk with auth=psk, else pubkey)
#   cert                 charon's certificate: a file in swanctl/x509 (swan_cred), for auth
#                        other than psk; it is always sent (send_cert = always)
#   local_ts, remote_ts  traffic selectors (required)
#   ike                  IKE proposal (aes128gcm16-prfsha256-ecp256; empty: strongSwan's defaults)
#   esp                  ESP proposal (aes128gcm16; empty: strongSwan's defaults)
#   version              IKE version, 1 or 2 (2)
#   rekey_time, life_time  CHILD_SA lifetimes (strongSwan's defaults)
#   ike_rekey_time       IKE SA rekey time (strongSwan's default)
#   start_action         none, trap or start (none)
#   dpd_delay            seconds (0: off)
#   mode                 tunnel or transport (tunnel)
#   remote_port          the peer's IKE port (500)
#   reqid                the CHILD_SA's reqid (charon picks one)
#   aggressive           yes: IKEv1 Aggressive Mode (no); with a PSK charon also needs
#                        i_dont_care_about_security_and_use_aggressive_mode_psk = yes
#                        in swan_start's EXTRA_CONF
swan_conn() {
    local ns=$1 name=$2 dir kv key value
    shift 2
    local local_addr="" remote_addr="" local_id="" remote_id="" psk="" local_ts="" remote_ts=""
    local ike=aes128gcm16-prfsha256-ecp256 esp=aes128gcm16 version=2 rekey_time="" life_time=""
    local ike_rekey_time="" start_action=none dpd_delay=0 dpd_action="" mode=tunnel
    local remote_port="" reqid="" aggressive="" auth=psk remote_auth="" cert=""
    for kv in "$@"; do
        key=${kv%%=*}
        value=${kv#*=}
        case $key in
        local) local_addr=$value ;;
        remote) remote_addr=$value ;;
        local_id) local_id=$value ;;
        remote_id) remote_id=$value ;;
        psk) psk=$value ;;
        local_ts) local_ts=$value ;;
        remote_ts) remote_ts=$value ;;
        ike) ike=$value ;;
        esp) esp=$value ;;
        version) version=$value ;;
        rekey_time) rekey_time=$value ;;
        life_time) life_time=$value ;;
        ike_rekey_time) ike_rekey_time=$value ;;
        start_action) start_action=$value ;;
        dpd_delay) dpd_delay=$value ;;
        dpd_action) dpd_action=$value ;;
        remote_port) remote_port=$value ;;
        reqid) reqid=$value ;;
        mode) mode=$value ;;
        aggressive) aggressive=$value ;;
        auth) auth=$value ;;
        remote_auth) remote_auth=$value ;;
        cert) cert=$value ;;
        *)
            bad "swan_conn $name: unknown key $key"
            return 1
            ;;
        esac
    done
    if [ -z "$local_addr" ] || [ -z "$remote_addr" ] || [ -z "$local_ts" ] || [ -z "$remote_ts" ]; then
        bad "swan_conn $name: local, remote, local_ts and remote_ts are required"
        return 1
    fi
    if [ "$auth" = psk ] && [ -z "$psk" ]; then
        bad "swan_conn $name: psk is required with auth=psk"
        return 1
    fi
    if [ "$auth" != psk ] && [ -z "$cert" ]; then
        bad "swan_conn $name: cert is required with auth=$auth"
        return 1
    fi
    if [ -z "$remote_auth" ]; then
        if [ "$auth" = psk ]; then remote_auth=psk; else remote_auth=pubkey; fi
    fi
    local_id=${local_id:-$local_addr}
    remote_id=${remote_id:-$remote_addr}
    dir=$(swan_dir "$ns")
    {
        echo "connections {"
        echo "    $name {"
        echo "        version = $version"
        echo "        local_addrs = $local_addr"
        echo "        remote_addrs = $remote_addr"
        [ -n "$remote_port" ] && echo "        remote_port = $remote_port"
        [ -n "$ike" ] && echo "        proposals = $ike"
        [ -n "$aggressive" ] && echo "        aggressive = $aggressive"
        echo "        dpd_delay = ${dpd_delay}s"
        [ -n "$ike_rekey_time" ] && echo "        rekey_time = $ike_rekey_time"
        echo "        local {"
        echo "            auth = $auth"
        echo "            id = \"$local_id\""
        if [ -n "$cert" ]; then
            echo "            certs = $cert"
            echo "        }"
            echo "        send_cert = always"
        else
            echo "        }"
        fi
        echo "        remote {"
        echo "            auth = $remote_auth"
        echo "            id = \"$remote_id\""
        echo "        }"
        echo "        children {"
        echo "            $name {"
        echo "                mode = $mode"
        echo "                local_ts = $local_ts"
        echo "                remote_ts = $remote_ts"
        [ -n "$esp" ] && echo "                esp_proposals = $esp"
        [ -n "$rekey_time" ] && echo "                rekey_time = $rekey_time"
        [ -n "$life_time" ] && echo "                life_time = $life_time"
        echo "                start_action = $start_action"
        [ -n "$dpd_action" ] && echo "                dpd_action = $dpd_action"
        [ -n "$reqid" ] && echo "                reqid = $reqid"
        echo "            }"
        echo "        }"
        echo "    }"
        echo "}"
        if [ -n "$psk" ]; then
            echo "secrets {"
            echo "    ike-$name {"
            echo "        id-local = \"$local_id\""
            echo "        id-remote = \"$remote_id\""
            echo "        secret = \"$psk\""
            echo "    }"
            echo "}"
        fi
    } >"$dir/swanctl/conf.d/$name.conf"
}

# swan_cred NS DIR FILE [NAME]: copy FILE into NS's swanctl/DIR as NAME (default: FILE's
# base name). DIR is one of swanctl's credential directories: x509 (own certificates),
# x509ca (trusted CAs), x509crl, private (keys of any type), rsa, ecdsa... swan_load loads
# them.
swan_cred() {
    local dest
    dest="$(swan_dir "$1")/swanctl/$2"
    [ -d "$dest" ] || { bad "swan_cred: no credential directory $2"; return 1; }
    cp "$3" "$dest/${4:-$(basename "$3")}"
}

# swan_unconn NS NAME: forget connection NAME (takes effect at the next swan_load).
swan_unconn() {
    rm -f "$(swan_dir "$1")/swanctl/conf.d/$2.conf"
}

# swan_load NS: load (or reload) every connection and secret of NS.
swan_load() {
    swan_ctl "$1" --load-all --noprompt
}

# swan_initiate NS CONN: initiate CONN's CHILD_SA (with its IKE SA); returns
# when both are up or failed.
swan_initiate() {
    swan_ctl "$1" --initiate --ike "$2" --child "$2" --timeout "$IKEHUB_SWAN_TIMEOUT"
}

# swan_rekey_child NS CONN: rekey CONN's CHILD_SA (the command returns before
# the exchange ends: wait for the new SPIs).
swan_rekey_child() {
    swan_ctl "$1" --rekey --ike "$2" --child "$2"
}

# swan_terminate NS CONN: delete CONN's IKE SA and its CHILD_SAs.
swan_terminate() {
    swan_ctl "$1" --terminate --ike "$2" --timeout "$IKEHUB_SWAN_TIMEOUT"
}

# swan_sas NS CONN: the raw vici listing of CONN's SAs (one line per IKE SA).
swan_sas() {
    swan_ctl "$1" --list-sas --ike "$2" --raw 2>/dev/null
}

# swan_sa_established NS CONN: exit 0 when the IKE SA is ESTABLISHED and its
# CHILD_SA INSTALLED.
swan_sa_established() {
    local sas
    sas=$(swan_sas "$1" "$2") || return 1
    case $sas in
    *"state=ESTABLISHED"*"state=INSTALLED"*) return 0 ;;
    *) return 1 ;;
    esac
}

# swan_no_sa NS CONN: exit 0 when NS's charon holds no IKE SA named CONN.
swan_no_sa() {
    local sas
    sas=$(swan_sas "$1" "$2") || return 1
    case $sas in
    *"$2 {"*) return 1 ;;
    *) return 0 ;;
    esac
}

# swan_child_spis NS CONN: "SPI_IN SPI_OUT" (0x-prefixed hex) of the newest
# installed CHILD_SA of CONN; nothing when there is none.
swan_child_spis() {
    local sas
    sas=$(swan_sas "$1" "$2") || return 1
    # child SAs are listed oldest first: after a rekey the last one is the new one
    printf '%s\n' "$sas" | grep -o 'state=INSTALLED[^}]*' |
        sed -n 's/.*spi-in=\([0-9a-f]*\) spi-out=\([0-9a-f]*\).*/0x\1 0x\2/p' | tail -n 1
}

# swan_log NS: NS's charon log (and anything charon printed), for failures.
swan_log() {
    local dir
    dir=$(swan_dir "$1")
    echo "---- charon log of $1"
    cat "$dir/charon.out" "$dir/charon.log" 2>/dev/null | sed 's/^/    /'
    echo "---- end of charon log of $1"
}
