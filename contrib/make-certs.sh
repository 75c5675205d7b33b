#!/bin/sh
# Makes a small certificate authority and the certificates sockgate and its callers need for
# mutual TLS, with openssl: EC P-256 keys and the key usages rustls and the docker CLI check.
#
#   contrib/make-certs.sh DIR [CLIENT...]
#
# writes into DIR (created if missing):
#   ca.pem, ca-key.pem              the authority: give ca.pem to sockgate (--tlscacert) and to callers
#   server.pem, server-key.pem      sockgate's certificate (--tlscert, --tlskey)
#   CLIENT.pem, CLIENT-key.pem      one client certificate per CLIENT, with the subject CN=CLIENT
#                                   (match it with `cn = "CLIENT"` in a profile)
#
# The server certificate names 127.0.0.1 and localhost; set SOCKGATE_CERT_SAN to name more, in
# openssl's syntax, e.g. SOCKGATE_CERT_SAN="DNS:sockgate,IP:10.0.0.5". Certificates last
# SOCKGATE_CERT_DAYS days (default 365). Keep ca-key.pem away from the hosts that serve.
set -eu

if [ $# -lt 1 ]; then
    echo "usage: $0 DIR [CLIENT...]" >&2
    exit 2
fi
dir=$1
shift
days=${SOCKGATE_CERT_DAYS:-365}
san="IP:127.0.0.1,DNS:localhost${SOCKGATE_CERT_SAN:+,$SOCKGATE_CERT_SAN}"

for client in "$@"; do
    case $client in
        */* | "" | server | ca | openssl) echo "$0: \`$client\` cannot name a client certificate" >&2; exit 2 ;;
    esac
done

mkdir -p "$dir"
umask 077
cnf="$dir/openssl.cnf"
# A configuration of our own, so the host's openssl.cnf cannot add or change extensions.
cat >"$cnf" <<'EOF'
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
EOF

if [ ! -f "$dir/ca.pem" ]; then
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -days "$days" -subj "/CN=sockgate-ca" -config "$cnf" -extensions ca \
        -keyout "$dir/ca-key.pem" -out "$dir/ca.pem" 2>/dev/null
fi

# issue NAME CN USAGE [SAN]
issue() {
    ext="$dir/$1.ext"
    {
        echo "[leaf]"
        echo "basicConstraints = critical,CA:FALSE"
        echo "keyUsage = critical,digitalSignature"
        echo "extendedKeyUsage = $3"
        echo "subjectKeyIdentifier = hash"
        echo "authorityKeyIdentifier = keyid"
        if [ -n "${4:-}" ]; then echo "subjectAltName = $4"; fi
    } >"$ext"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -subj "/CN=$2" -config "$cnf" -keyout "$dir/$1-key.pem" -out "$dir/$1.csr" 2>/dev/null
    openssl x509 -req -in "$dir/$1.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca-key.pem" \
        -set_serial "0x$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" -days "$days" \
        -extfile "$ext" -extensions leaf -out "$dir/$1.pem" 2>/dev/null
    rm -f "$dir/$1.csr" "$ext"
    chmod 644 "$dir/$1.pem"
}

issue server sockgate serverAuth "$san"
for client in "$@"; do
    issue "$client" "$client" clientAuth
done
chmod 644 "$dir/ca.pem"
rm -f "$cnf"
echo "certificates in $dir: ca.pem, server.pem${*:+, one per client: $*}"
