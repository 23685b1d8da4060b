# Libreswan peers for guest tests: one pluto per network namespace, each with
# its own run directory, NSS database, ipsec.conf, secrets and log. Source it
# after common.sh; a test using it carries the line
#   # guest-payload: libreswan
# so the xtask puts pluto, whack, addconn (unpacked from Debian's libreswan
# deb, whose package conflicts with strongSwan's) and NSS's certutil into the
# guest (and openssl, pk12util for certificates).
#
#   lsw_start NS                      start pluto in NS, wait until whack answers
#   lsw_conn NS NAME key=value...     write a site-to-site connection (IKEv1 PSK by default)
#   lsw_import NS NICK CERT KEY CA    put CERT (PEM) and its KEY (PEM) into NS's NSS database
#                                     as NICK, and trust the CA (PEM) for peers' certificates
#   lsw_load NS NAME                  (re)load connection NAME and the secrets
#   lsw_initiate NS NAME              bring NAME up (blocks until done or failed)
#   lsw_terminate NS NAME             take NAME down
#   lsw_sa_established NS NAME        exit 0 when NAME's ISAKMP/IKE SA and IPsec SA are up
#   lsw_no_sa NS NAME                 exit 0 when pluto holds no state for NAME
#   lsw_no_established_sa NS NAME     exit 0 when NAME has no established IKE or Child SA
#   lsw_whack NS ARGS...              whack against NS's pluto
#   lsw_log NS                        print NS's pluto log (on failure)
# Everything lives in $IKEHUB_SWAN_ROOT/ikt-lsw-NS (default /tmp), removed when
# the test exits.
# Debian's Libreswan 4.10 has no MODP-1024 (DH group 2): use modp2048.

# Where Libreswan's files are: / in the guest; elsewhere a directory holding
# its unpacked deb (`dpkg -x`), bind-mounted over /usr/libexec inside the
# namespace because pluto runs addconn from a compiled-in path.
IKEHUB_LSW_ROOT=${IKEHUB_LSW_ROOT:-}
IKEHUB_WHACK=$IKEHUB_LSW_ROOT/usr/libexec/ipsec/whack
IKEHUB_ADDCONN=$IKEHUB_LSW_ROOT/usr/libexec/ipsec/addconn
IKEHUB_SWAN_ROOT=${IKEHUB_SWAN_ROOT:-/tmp}

# lsw_dir NS: the instance directory of NS's pluto.
lsw_dir() {
    echo "$IKEHUB_SWAN_ROOT/ikt-lsw-$1"
}

# lsw_whack NS ARGS...: whack against NS's pluto (a file socket: whack need
# not enter the namespace).
lsw_whack() {
    local dir
    dir=$(lsw_dir "$1")
    shift
    "$IKEHUB_WHACK" --ctlsocket "$dir/run/pluto.ctl" "$@"
}

# lsw_start NS: create NS's NSS database and configuration, start pluto in
# NS and wait until it answers on its control socket.
lsw_start() {
    local ns=$1 dir pid
    dir=$(lsw_dir "$ns")
    rm -rf "$dir"
    mkdir -p "$dir/run" "$dir/nss" "$dir/conns" "$dir/secrets" || {
        bad "Libreswan in $ns: cannot create $dir"
        return 1
    }
    IKEHUB_DIRS+=("$dir")
    if ! certutil -N --empty-password -d "sql:$dir/nss" >"$dir/certutil.out" 2>&1; then
        bad "Libreswan in $ns: certutil cannot create the NSS database"
        cat "$dir/certutil.out"
        return 1
    fi
    cat >"$dir/ipsec.conf" <<EOF
config setup
    ikev1-policy=accept
    logfile=$dir/pluto.log
    logtime=yes
    plutodebug=none

include $dir/conns/*.conf
EOF
    echo "include $dir/secrets/*.secrets" >"$dir/ipsec.secrets"
    # --config first: the options after it override its defaults
    # shellcheck disable=SC2016 # expanded by the inner bash
    spawn pid ip netns exec "$ns" /bin/bash -c \
        '[ -z "$1" ] || mount --bind "$1/usr/libexec" /usr/libexec || exit 1; shift; exec "$@"' \
        pluto "$IKEHUB_LSW_ROOT" /usr/libexec/ipsec/pluto --config "$dir/ipsec.conf" --nofork \
        --rundir "$dir/run" --dumpdir "$dir/run" --nssdir "$dir/nss" \
        --secretsfile "$dir/ipsec.secrets" --ipsecdir "$dir" >>"$dir/pluto.out" 2>&1
    echo "$pid" >"$dir/pid"
    # the control socket exists before pluto listens: --listen, then a status
    if ! wait_for 20 lsw_whack "$ns" --listen; then
        bad "Libreswan in $ns: pluto does not answer on its control socket within 20s"
        lsw_log "$ns"
        return 1
    fi
}

# lsw_conn NS NAME key=value...: write connection NAME and its PSK. Keys
# (defaults):
#   local, remote        outer addresses (required)
#   local_id, remote_id  identities (the addresses; with cert: local_id the
#                        certificate's subject); distinguished names allowed
#   auth                 secret or rsasig (secret)
#   psk                  pre-shared key (required with auth=secret)
#   cert                 NSS nickname of the certificate pluto presents, always
#                        sent (required with auth=rsasig; see lsw_import); the
#                        peer's certificate must come from the same CA
#   local_ts, remote_ts  subnets (required)
#   ike                  phase 1 / IKE proposal (aes256-sha2_256-modp2048)
#   esp                  phase 2 / ESP proposal (aes256-sha2_256-modp2048: PFS)
#   version              IKE version, 1 or 2 (1)
#   pfs                  yes or no (yes)
#   (ike, esp or pfs given empty: the line is left out, Libreswan's default applies)
#   salifetime, ikelifetime, rekeymargin, rekeyfuzz  lifetimes (Libreswan's defaults)
lsw_conn() {
    local ns=$1 name=$2 dir kv key value
    shift 2
    local local_addr="" remote_addr="" local_id="" remote_id="" psk="" local_ts="" remote_ts=""
    local ike=aes256-sha2_256-modp2048 esp=aes256-sha2_256-modp2048 version=1 pfs=yes
    local salifetime="" ikelifetime="" rekeymargin="" rekeyfuzz="" auth=secret cert=""
    for kv in "$@"; do
        key=${kv%%=*}
        value=${kv#*=}
        case $key in
        local) local_addr=$value ;;
        remote) remote_addr=$value ;;
        local_id) local_id=$value ;;
        remote_id) remote_id=$value ;;
        psk) psk=$value ;;
        auth) auth=$value ;;
        cert) cert=$value ;;
        local_ts) local_ts=$value ;;
        remote_ts) remote_ts=$value ;;
        ike) ike=$value ;;
        esp) esp=$value ;;
        version) version=$value ;;
        pfs) pfs=$value ;;
        salifetime) salifetime=$value ;;
        ikelifetime) ikelifetime=$value ;;
        rekeymargin) rekeymargin=$value ;;
        rekeyfuzz) rekeyfuzz=$value ;;
        *)
            bad "lsw_conn $name: unknown key $key"
            return 1
            ;;
        esac
    done
    if [ -z "$local_addr" ] || [ -z "$remote_addr" ] || [ -z "$local_ts" ] || [ -z "$remote_ts" ]; then
        bad "lsw_conn $name: local, remote, local_ts and remote_ts are required"
        return 1
    fi
    case $auth in
    secret) [ -n "$psk" ] || { bad "lsw_conn $name: psk is required with auth=secret"; return 1; } ;;
    rsasig)
        [ -n "$cert" ] || { bad "lsw_conn $name: cert is required with auth=rsasig"; return 1; }
        local_id=${local_id:-%fromcert}
        ;;
    *)
        bad "lsw_conn $name: unknown auth $auth"
        return 1
        ;;
    esac
    local_id=${local_id:-$local_addr}
    remote_id=${remote_id:-$remote_addr}
    dir=$(lsw_dir "$ns")
    {
        echo "conn $name"
        if [ "$version" = 1 ]; then
            echo "    ikev2=no"
        else
            echo "    ikev2=yes"
        fi
        echo "    authby=$auth"
        echo "    type=tunnel"
        echo "    left=$local_addr"
        echo "    leftid=$(lsw_quote_id "$local_id")"
        echo "    leftsubnet=$local_ts"
        echo "    right=$remote_addr"
        echo "    rightid=$(lsw_quote_id "$remote_id")"
        if [ -n "$cert" ]; then
            echo "    leftcert=$cert"
            echo "    leftsendcert=always"
            echo "    rightca=%same"
        fi
        echo "    rightsubnet=$remote_ts"
        [ -n "$ike" ] && echo "    ike=$ike"
        [ -n "$esp" ] && echo "    esp=$esp"
        [ -n "$pfs" ] && echo "    pfs=$pfs"
        [ -n "$salifetime" ] && echo "    salifetime=$salifetime"
        [ -n "$ikelifetime" ] && echo "    ikelifetime=$ikelifetime"
        [ -n "$rekeymargin" ] && echo "    rekeymargin=$rekeymargin"
        [ -n "$rekeyfuzz" ] && echo "    rekeyfuzz=$rekeyfuzz"
        # the tests set up their own routes; Debian's _updown needs bash's
        # view of ip, which busybox sh does not give
        echo "    leftupdown=/bin/true"
        echo "    auto=add"
    } >"$dir/conns/$name.conf"
    if [ "$auth" = secret ]; then
        echo "$local_id $remote_id : PSK \"$psk\"" >"$dir/secrets/$name.secrets"
    else
        rm -f "$dir/secrets/$name.secrets" # pluto finds the key by the certificate
    fi
}

# lsw_quote_id ID: ID as ipsec.conf takes it; a distinguished name in double quotes.
lsw_quote_id() {
    case $1 in
    *=*) echo "\"$1\"" ;;
    *) echo "$1" ;;
    esac
}

# lsw_import NS NICK CERT KEY CA: put CERT and its private KEY (PEM files) into NS's NSS
# database as NICK (through a PKCS#12 file, as `ipsec import` does), and CA (PEM) as
# "ca", trusted to issue peers' certificates (-t CT,,). Output only on failure.
lsw_import() {
    local ns=$1 nick=$2 cert=$3 key=$4 ca=$5 dir out
    dir=$(lsw_dir "$ns")
    if ! out=$(certutil -A -d "sql:$dir/nss" -n ca -t CT,, -a -i "$ca" 2>&1 &&
        openssl pkcs12 -export -in "$cert" -inkey "$key" -name "$nick" \
            -passout pass:ikt-p12 -out "$dir/$nick.p12" 2>&1 &&
        pk12util -i "$dir/$nick.p12" -d "sql:$dir/nss" -W ikt-p12 2>&1); then
        printf '%s\n' "$out"
        return 1
    fi
    rm -f "$dir/$nick.p12"
}

# lsw_load NS NAME: (re)load connection NAME and reread the secrets.
lsw_load() {
    local dir
    dir=$(lsw_dir "$1")
    lsw_whack "$1" --rereadsecrets &&
        "$IKEHUB_ADDCONN" --ctlsocket "$dir/run/pluto.ctl" --config "$dir/ipsec.conf" "$2"
}

# lsw_initiate NS NAME: bring NAME up; returns when done or failed.
lsw_initiate() {
    lsw_whack "$1" --name "$2" --initiate
}

# lsw_terminate NS NAME: delete NAME's SAs.
lsw_terminate() {
    lsw_whack "$1" --name "$2" --terminate
}

# lsw_sa_established NS NAME: exit 0 when NAME has an established ISAKMP
# (IKEv1) or IKE (IKEv2) SA and an IPsec (Child) SA; IKEv2 states read
# "established IKE SA" and "established Child SA".
lsw_sa_established() {
    local states
    states=$(lsw_whack "$1" --showstates 2>/dev/null) || return 1
    printf '%s\n' "$states" | grep -F "\"$2\"" |
        grep -E 'ISAKMP SA established|IKE SA established|established IKE SA' >/dev/null &&
        printf '%s\n' "$states" | grep -F "\"$2\"" |
        grep -E 'IPsec SA established|established Child SA' >/dev/null
}

# lsw_no_sa NS NAME: exit 0 when NS's pluto holds no state for NAME.
lsw_no_sa() {
    local states
    states=$(lsw_whack "$1" --showstates 2>/dev/null) || return 1
    ! printf '%s\n' "$states" | grep -F "\"$2\"" >/dev/null
}

# lsw_no_established_sa NS NAME: exit 0 when NAME has no established SA in NS's
# pluto; states of a new attempt (a connection it initiated revives after the
# peer's delete) may remain.
lsw_no_established_sa() {
    local states
    states=$(lsw_whack "$1" --showstates 2>/dev/null) || return 1
    ! printf '%s\n' "$states" | grep -F "\"$2\"" |
        grep -E 'SA established|established (IKE|Child) SA' >/dev/null
}

# lsw_log NS: NS's pluto log, for failures.
lsw_log() {
    local dir
    dir=$(lsw_dir "$1")
    echo "---- pluto log of $1"
    cat "$dir/pluto.out" "$dir/pluto.log" 2>/dev/null | sed 's/^/    /'
    echo "---- end of pluto log of $1"
}
