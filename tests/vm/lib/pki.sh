# A test PKI made with openssl (`openssl ca`, so that certificates can have any dates and be
# revoked). Source after common.sh; the guest has openssl when the test asks for the
# strongswan or libreswan payload.
#
#   new_key FILE ecdsa|rsa                       a private key (P-256 or RSA-3072), PKCS#8 PEM
#   make_ca DIR ecdsa|rsa SUBJECT                a self-signed CA in DIR (ca.pem, ca.key)
#   issue CADIR NAME ecdsa|rsa SUBJECT IP [START END]
#                                                CADIR/NAME.key and CADIR/NAME.pem, signed by
#                                                the CA in CADIR, subjectAltName IP
#   dn_of FILE subject|issuer                    a certificate's name, "C=CH, O=..., CN=..."

# new_key FILE ecdsa|rsa: a private key, PKCS#8 PEM.
new_key() {
    case $2 in
    ecdsa) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" ;;
    rsa) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out "$1" ;;
    *) return 1 ;;
    esac
}

# make_ca DIR ecdsa|rsa SUBJECT: a self-signed CA (DIR/ca.pem, DIR/ca.key) and the
# database `openssl ca` keeps its certificates and revocations in.
make_ca() {
    local dir=$1 alg=$2 subject=$3
    mkdir -p "$dir/newcerts" || return 1
    : >"$dir/index.txt"
    echo 1000 >"$dir/serial"
    echo 01 >"$dir/crlnumber"
    cat >"$dir/ca.cnf" <<EOF
[ ca ]
default_ca = test_ca
[ test_ca ]
dir = $dir
database = \$dir/index.txt
new_certs_dir = \$dir/newcerts
certificate = \$dir/ca.pem
private_key = \$dir/ca.key
serial = \$dir/serial
crlnumber = \$dir/crlnumber
default_md = sha256
default_days = 30
default_crl_days = 30
policy = policy_any
unique_subject = no
email_in_dn = no
[ policy_any ]
countryName = optional
organizationName = optional
commonName = supplied
[ req ]
distinguished_name = req_dn
[ req_dn ]
[ ca_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF
    new_key "$dir/ca.key" "$alg" &&
        openssl req -config "$dir/ca.cnf" -new -x509 -sha256 -days 30 -key "$dir/ca.key" \
            -subj "$subject" -extensions ca_ext -out "$dir/ca.pem"
}

# issue CADIR NAME ecdsa|rsa SUBJECT IP [STARTDATE ENDDATE]: key CADIR/NAME.key and
# certificate CADIR/NAME.pem, subjectAltName IP, signed by the CA in CADIR (dates as
# YYMMDDHHMMSSZ; default: valid from now for 30 days).
issue() {
    local dir=$1 name=$2 alg=$3 subject=$4 ip=$5 dates=(-days 30)
    [ $# -ge 7 ] && dates=(-startdate "$6" -enddate "$7")
    printf '%s\n' "basicConstraints = critical, CA:FALSE" "keyUsage = critical, digitalSignature" \
        "subjectAltName = IP:$ip" "subjectKeyIdentifier = hash" "authorityKeyIdentifier = keyid" \
        >"$dir/$name.ext"
    new_key "$dir/$name.key" "$alg" &&
        openssl req -config "$dir/ca.cnf" -new -key "$dir/$name.key" -subj "$subject" -out "$dir/$name.csr" &&
        openssl ca -config "$dir/ca.cnf" -batch -notext -preserveDN -in "$dir/$name.csr" \
            -extfile "$dir/$name.ext" "${dates[@]}" -out "$dir/$name.pem"
}

# dn_of FILE subject|issuer: a certificate's name as ikehub, strongSwan and Libreswan write it,
# "C=CH, O=ikehub test, CN=...".
dn_of() {
    openssl x509 -in "$1" -noout "-$2" -nameopt sep_comma_plus_space,sname,utf8,esc_2253 | sed "s/^$2=//"
}

