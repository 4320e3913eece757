#!/usr/bin/env bash
# Java's SunPKCS11 with examples/java/p11cluster.cfg: `keytool -genkeypair`
# makes an RSA and an EC key with their certificates (a session key pair
# made permanent with C_CopyObject, then the certificate), `keytool -list`
# shows them, examples/java/SignVerify.java signs with SHA256withRSA and
# SHA256withECDSA (multi-part and one-shot) and verifies; openssl verifies
# the signatures with the certificates' public keys alone; `keytool
# -changealias` relabels a key and its certificate (C_SetAttributeValue) and
# the change is checked on every member token. The slot has a configured id
# (7), which Java's configuration names.
#   java.sh MODULE TOOL
source "$(dirname "$0")/common.sh" "$@"
need_program java openjdk-17-jdk-headless keytool openjdk-17-jdk-headless javac openjdk-17-jdk-headless
CLUSTER_EXTRA="slot_id = 7"   # Java addresses the slot by its id
start_cluster
sed -e "s|/usr/local/lib/libp11cluster.so|$MODULE|" -e "s|^slot = 0|slot = 7|" \
  "$EXAMPLES/java/p11cluster.cfg" >p11cluster.cfg
grep -q "^slot = 7" p11cluster.cfg || fail "p11cluster.cfg was not adapted"
printf '%s\n' "$USER_PIN" >user.pin && chmod 600 user.pin
keytool_p11() {
  keytool -keystore NONE -storetype PKCS11 -providerClass sun.security.pkcs11.SunPKCS11 \
    -providerArg "$WORK/p11cluster.cfg" -storepass:file "$WORK/user.pin" "$@"
}
hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
# expect_id_on_every_member CLASS ALIAS: SunPKCS11 gives its objects CKA_ID = the alias.
expect_id_on_every_member() {
  local m
  for m in "${MEMBERS[@]}"; do
    member_p11 "$m" -l -p "$USER_PIN" --list-objects --type "$1" 2>/dev/null \
      | grep -q "ID: *$(hex "$2")\$" || fail "$1 of '$2' missing on member-$m"
  done
}

say "keytool -genkeypair: RSA-2048 and EC P-256 keys with self-signed certificates"
keytool_p11 -genkeypair -alias java-rsa -keyalg RSA -keysize 2048 -sigalg SHA256withRSA \
  -dname CN=java-rsa >>keytool.log 2>&1 || fail "keytool -genkeypair RSA"
keytool_p11 -genkeypair -alias java-ec -keyalg EC -groupname secp256r1 -sigalg SHA256withECDSA \
  -dname CN=java-ec >>keytool.log 2>&1 || fail "keytool -genkeypair EC"
for alias in java-rsa java-ec; do
  expect_id_on_every_member privkey "$alias"
  expect_on_every_member cert "$alias"
done

say "keytool -list shows both keys (member a's host restarted first: the slot id stays)"
kill_host a
start_host a
keytool_p11 -list >list.txt 2>&1 || fail "keytool -list: $(cat list.txt)"
grep -q "^java-rsa, PrivateKeyEntry" list.txt || fail "java-rsa not listed: $(cat list.txt)"
grep -q "^java-ec, PrivateKeyEntry" list.txt || fail "java-ec not listed: $(cat list.txt)"
for alias in java-rsa java-ec; do
  keytool_p11 -exportcert -rfc -alias "$alias" -file "$alias.crt" >>keytool.log 2>&1
  openssl x509 -in "$alias.crt" -noout -pubkey >"$alias.pub.pem"
  openssl verify -CAfile "$alias.crt" "$alias.crt" >/dev/null || fail "$alias's certificate does not verify"
done

say "SignVerify.java: SHA256withRSA and SHA256withECDSA through SunPKCS11"
mkdir classes
javac -d classes "$EXAMPLES/java/SignVerify.java" 2>>javac.log || fail "javac: $(cat javac.log)"
java -cp classes SignVerify p11cluster.cfg user.pin "$WORK" java-rsa java-ec >java.txt 2>&1 \
  || fail "SignVerify: $(cat java.txt)"
grep -q "java-rsa: SHA256withRSA signatures verify" java.txt || fail "$(cat java.txt)"
grep -q "java-ec: SHA256withECDSA signatures verify" java.txt || fail "$(cat java.txt)"

say "openssl verifies Java's signatures with the certificates' public keys"
openssl dgst -sha256 -verify java-rsa.pub.pem -signature java-rsa.sig message.bin >/dev/null \
  || fail "the SHA256withRSA signature does not verify with openssl"
openssl dgst -sha256 -verify java-ec.pub.pem -signature java-ec.sig message.bin >/dev/null \
  || fail "the SHA256withECDSA signature does not verify with openssl"

say "keytool -changealias: the relabelled key and certificate on every member"
keytool_p11 -changealias -alias java-ec -destalias java-ec-renamed >>keytool.log 2>&1 \
  || fail "keytool -changealias"
expect_id_on_every_member privkey java-ec-renamed
expect_id_on_every_member cert java-ec-renamed
expect_on_every_member cert java-ec-renamed
for m in "${MEMBERS[@]}"; do
  member_p11 "$m" -l -p "$USER_PIN" --list-objects 2>/dev/null | grep -qE "label: *java-ec\$|ID: *$(hex java-ec)\$" \
    && fail "member-$m still holds the old alias"
done
keytool_p11 -list >list2.txt 2>&1
grep -q "^java-ec-renamed, PrivateKeyEntry" list2.txt || fail "renamed key not listed: $(cat list2.txt)"
java -cp classes SignVerify p11cluster.cfg user.pin "$WORK" java-ec-renamed >java2.txt 2>&1 \
  || fail "SignVerify after the rename: $(cat java2.txt)"
wait_members_in_sync
say "PASS"
