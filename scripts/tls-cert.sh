#!/bin/sh
# scripts/tls-cert.sh DIR [NAME...]
#
# A self-signed ECDSA P-256 certificate for tests, `make demo` and the
# HTTPS benchmark: DIR/cert.pem and DIR/key.pem (PEM, key mode 0600),
# subject CN=localhost, SANs DNS:localhost, IP:127.0.0.1 and each NAME as
# a DNS name, valid for 30 days. Idempotent: a pair that is already there,
# matches, is ECDSA P-256, names every SAN asked for and is valid for at
# least one more day is kept; anything else is replaced. Prints the
# certificate's path. Needs the openssl command (Debian package openssl).
set -eu

me=tls-cert.sh
die() {
    echo "$me: $*" >&2
    exit 1
}

[ $# -ge 1 ] || die "usage: scripts/tls-cert.sh DIR [NAME...]"
case "$1" in
    -h | --help)
        sed -n '2,10s/^# \{0,1\}//p' "$0"
        exit 0
        ;;
esac
dir=$1
shift
command -v openssl >/dev/null 2>&1 ||
    die "openssl not found (install the Debian package: apt-get install openssl)"

san="DNS:localhost,IP:127.0.0.1"
for name in "$@"; do
    case "$name" in
        "" | *[!A-Za-z0-9.*-]*) die "bad DNS name '$name' (letters, digits, '.', '-', '*')" ;;
    esac
    san="$san,DNS:$name"
done

mkdir -p "$dir" || die "cannot create directory $dir"
cert=$dir/cert.pem
key=$dir/key.pem

# Is the pair in DIR what we would generate? Every check must pass.
usable() {
    [ -s "$cert" ] && [ -s "$key" ] || return 1
    openssl x509 -in "$cert" -noout -checkend 86400 >/dev/null 2>&1 || return 1
    text=$(openssl x509 -in "$cert" -noout -text 2>/dev/null) || return 1
    case "$text" in *"ASN1 OID: prime256v1"*) ;; *) return 1 ;; esac
    # The SAN line reads "DNS:localhost, IP Address:127.0.0.1, DNS:x".
    sans=$(printf '%s\n' "$text" | sed -n '/Subject Alternative Name/{n;p;}' | tr -d ' ')
    for want in $(printf '%s\n' "$san" | tr ',' ' '); do
        want=$(printf '%s\n' "$want" | sed 's/^IP:/IPAddress:/')
        case ",$sans," in *",$want,"*) ;; *) return 1 ;; esac
    done
    # The key must belong to the certificate.
    a=$(openssl x509 -in "$cert" -noout -pubkey 2>/dev/null) || return 1
    b=$(openssl pkey -in "$key" -pubout 2>/dev/null) || return 1
    [ "$a" = "$b" ]
}

if usable; then
    echo "$cert"
    exit 0
fi

# Write next to the final names, then rename: a reader never sees half a
# pair, and a failed run leaves the old files alone.
tmpc=$dir/.cert.pem.$$
tmpk=$dir/.key.pem.$$
trap 'rm -f "$tmpc" "$tmpk"' EXIT
umask 077
if ! err=$(openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -sha256 -days 30 -subj "/CN=localhost" -addext "subjectAltName=$san" \
    -addext "basicConstraints=critical,CA:FALSE" \
    -addext "keyUsage=critical,digitalSignature" -addext "extendedKeyUsage=serverAuth" \
    -keyout "$tmpk" -out "$tmpc" 2>&1); then
    die "openssl req failed: $err"
fi
chmod 644 "$tmpc"
mv -f "$tmpk" "$key" || die "cannot write $key"
mv -f "$tmpc" "$cert" || die "cannot write $cert"
echo "$cert"
