#!/usr/bin/env bash
# GnuTLS's p11tool and certtool (gnutls-bin) with --provider: --list-tokens,
# --generate-privkey (EC and RSA), --list-all, --test-sign, a certificate
# signed by certtool with a key on the token (openssl verifies it with the
# public key read from a member directly), the certificate written to the
# token; and --test-sign again while a member's host is down. GnuTLS
# initialises the module with CKF_LIBRARY_CANT_CREATE_OS_THREADS.
#   p11tool.sh MODULE TOOL
source "$(dirname "$0")/common.sh" "$@"
need_program p11tool gnutls-bin certtool gnutls-bin
start_cluster
export GNUTLS_PIN=$USER_PIN
token="pkcs11:token=$CLUSTER_LABEL"
gt() { p11tool --provider "$MODULE" "$@"; }

say "--list-tokens shows the one token"
gt --list-tokens >tokens.txt 2>&1 || fail "p11tool --list-tokens: $(cat tokens.txt)"
[ "$(grep -c '^Token ' tokens.txt)" -eq 1 ] || fail "expected one token: $(cat tokens.txt)"
grep -q "Label: $CLUSTER_LABEL\$" tokens.txt || fail "$(cat tokens.txt)"

say "--generate-privkey: EC P-256 and RSA-2048"
gt --login --generate-privkey ecdsa --curve secp256r1 --label gnutls-ec --outfile gnutls-ec.pub \
  "$token" >>p11tool.log 2>&1 || fail "EC key generation"
gt --login --generate-privkey rsa --bits 2048 --label gnutls-rsa --outfile gnutls-rsa.pub \
  "$token" >>p11tool.log 2>&1 || fail "RSA key generation"
expect_on_every_member privkey gnutls-ec
expect_on_every_member privkey gnutls-rsa
# The public key p11tool printed is the one each member holds.
for m in "${MEMBERS[@]}"; do
  member_p11 "$m" --read-object --type pubkey --label gnutls-ec -o "ec-$m.der" >/dev/null 2>&1 \
    || fail "gnutls-ec's public key missing on member-$m"
  cmp -s <(openssl pkey -pubin -inform DER -in "ec-$m.der") <(openssl pkey -pubin -in gnutls-ec.pub) \
    || fail "member-$m holds another gnutls-ec"
done

say "--list-all shows the new keys"
gt --login --list-all "$token" >all.txt 2>&1 || fail "p11tool --list-all: $(cat all.txt)"
grep -q "object=gnutls-ec;type=private" all.txt || fail "gnutls-ec not listed: $(cat all.txt)"
grep -q "object=gnutls-rsa;type=private" all.txt || fail "gnutls-rsa not listed: $(cat all.txt)"

say "--test-sign with each key"
for k in gnutls-ec gnutls-rsa; do
  gt --login --test-sign "$token;object=$k" >"test-sign-$k.txt" 2>&1 || fail "--test-sign $k: $(cat "test-sign-$k.txt")"
  grep -q "Verifying against public key in the token... ok" "test-sign-$k.txt" \
    || fail "--test-sign $k: $(cat "test-sign-$k.txt")"
done

say "certtool signs a certificate with the token's key; openssl verifies it"
printf 'cn = gnutls-rsa\nexpiration_days = 30\nsigning_key\n' >cert.tmpl
certtool --provider "$MODULE" --generate-self-signed --template cert.tmpl --outfile gnutls-rsa.crt \
  --load-privkey "$token;object=gnutls-rsa;type=private" >>p11tool.log 2>&1 || fail "certtool"
openssl verify -CAfile gnutls-rsa.crt gnutls-rsa.crt >/dev/null || fail "the certificate does not verify"
member_p11 b --read-object --type pubkey --label gnutls-rsa -o rsa-b.der >/dev/null 2>&1 \
  || fail "gnutls-rsa's public key missing on member-b"
cmp -s <(openssl x509 -in gnutls-rsa.crt -noout -pubkey) <(openssl pkey -pubin -inform DER -in rsa-b.der) \
  || fail "the certificate holds another key than the token's gnutls-rsa"
gt --login --write --load-certificate gnutls-rsa.crt --label gnutls-rsa "$token" >>p11tool.log 2>&1 \
  || fail "writing the certificate"
expect_on_every_member cert gnutls-rsa

say "--test-sign while member a's host is down (no threads: probes run in the caller's calls)"
kill_host a
gt --login --test-sign "$token;object=gnutls-ec" >test-sign-down.txt 2>&1 \
  || fail "--test-sign with a member down: $(cat test-sign-down.txt)"
grep -q "Verifying against public key in the token... ok" test-sign-down.txt || fail "$(cat test-sign-down.txt)"
start_host a
wait_members_in_sync
say "PASS"
