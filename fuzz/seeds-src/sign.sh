#!/bin/sh
# Re-makes example.test.signed, the signed zone the reply seeds are cut from
# (`cargo run --release --bin seeds -- --signed seeds-src/example.test.signed seeds`).
# Needs Debian's ldnsutils. The private keys stay in a temp directory that
# is removed; the new DS must then replace EXAMPLE_TEST_DS in src/lib.rs.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
ksk=$(ldns-keygen -a ECDSAP256SHA256 -k example.test.)
zsk=$(ldns-keygen -a ECDSAP256SHA256 example.test.)
ldns-signzone -i 20250101000000 -e 20370101000000 -o example.test. \
    -f signed "$here/example.test.zone" "$ksk" "$zsk"
ds=$(ldns-key2ds -n "$ksk.key")
{
    echo "; example.test. signed by ldns-signzone (ECDSA P-256, NSEC) for the reply seeds:"
    echo "; see fuzz/seeds-src/sign.sh. Its KSK's DS (the reply target's trust anchor):"
    echo "; $ds"
    cat signed
} > "$here/example.test.signed"
echo "$ds"
