#!/usr/bin/env bash
# Python's PyKCS11 (python3-pykcs11): pykcs11_checks.py generates keys,
# checks attribute answers and AES-GCM (decrypted on a member directly);
# examples/python/sign.py logs in, finds each key by label and signs, and
# openssl verifies the signatures with the public keys read from a member
# token directly; the keys are on every member.
#   pykcs11.sh MODULE TOOL
source "$(dirname "$0")/common.sh" "$@"
/usr/bin/python3 -c "import PyKCS11" 2>/dev/null \
  || skip "PyKCS11 not found for /usr/bin/python3 (install the Debian package python3-pykcs11)"
start_cluster
export P11_PIN=$USER_PIN

say "keys, attributes and AES-GCM through PyKCS11"
/usr/bin/python3 "$CONSUMER_TESTS/pykcs11_checks.py" "$MODULE" "$CLUSTER_LABEL" "$SOFTHSM" member-b >checks.txt 2>&1 \
  || fail "pykcs11_checks.py: $(cat checks.txt)"
cat checks.txt
expect_on_every_member privkey py-rsa
expect_on_every_member privkey py-ec
expect_on_every_member secrkey py-aes

say "examples/python/sign.py signs; openssl verifies with the public keys alone"
head -c 4000 /dev/urandom >data.bin
for k in py-rsa py-ec; do
  /usr/bin/python3 "$EXAMPLES/python/sign.py" "$MODULE" "$CLUSTER_LABEL" "$k" data.bin "$k.sig" \
    >>sign.log 2>&1 || fail "sign.py $k: $(cat sign.log)"
  member_p11 c --read-object --type pubkey --label "$k" -o "$k.pub.der" >/dev/null 2>&1 \
    || fail "$k's public key missing on member-c"
  openssl pkey -pubin -inform DER -in "$k.pub.der" -out "$k.pub.pem"
  openssl dgst -sha256 -verify "$k.pub.pem" -signature "$k.sig" data.bin >/dev/null \
    || fail "$k's signature does not verify"
done
wait_members_in_sync
say "PASS"
