#!/usr/bin/env bash
# OpenSSL 3 through the pkcs11 engine (libengine-pkcs11-openssl) with
# examples/openssl/openssl-pkcs11.cnf: `openssl pkeyutl` and `openssl dgst`
# sign with keys named by PKCS#11 URIs (RSA PKCS#1 v1.5, RSA-PSS, ECDSA),
# among several keys with similar labels; `openssl req -x509` makes a
# certificate for a cluster key; RSA decryption. Every signature is verified
# with the public key alone, read from a member token directly.
#   openssl_engine.sh MODULE TOOL
source "$(dirname "$0")/common.sh" "$@"
need_pkcs11_engine
start_cluster
openssl_engine_conf openssl.cnf
export OPENSSL_CONF=$WORK/openssl.cnf
printf '%s' "$USER_PIN" >user.pin && chmod 600 user.pin  # no newline: libp11 reads it all
uri() { echo "pkcs11:token=$CLUSTER_LABEL;object=$1;type=private?pin-source=file:$WORK/user.pin"; }
engine_args=(-engine pkcs11 -keyform engine)

say "the engine loads the module"
openssl engine pkcs11 -t 2>&1 | grep -q "\[ available \]" || fail "openssl engine pkcs11 -t"

say "keys made through the cluster (labels that share prefixes: the engine matches them itself)"
login=(-l -p "$USER_PIN")
p11 "${login[@]}" --keypairgen --key-type rsa:2048 --id 11 --label ossl-rsa >/dev/null 2>&1
p11 "${login[@]}" --keypairgen --key-type rsa:2048 --id 12 --label ossl-rsa-2 >/dev/null 2>&1
p11 "${login[@]}" --keypairgen --key-type EC:prime256v1 --id 13 --label ossl-ec >/dev/null 2>&1
p11 "${login[@]}" --keypairgen --key-type EC:prime256v1 --id 14 --label ossl-ec-2 >/dev/null 2>&1
pub_pem_from_member a 11 rsa.pub.pem
pub_pem_from_member b 13 ec.pub.pem

head -c 5000 /dev/urandom >data.bin
openssl dgst -sha256 -binary data.bin >data.sha256

say "openssl pkeyutl -sign: RSA PKCS#1 v1.5, RSA-PSS, ECDSA"
openssl pkeyutl "${engine_args[@]}" -sign -inkey "$(uri ossl-rsa)" -in data.sha256 \
  -pkeyopt digest:sha256 -out rsa.sig 2>>openssl.log
openssl pkeyutl -verify -pubin -inkey rsa.pub.pem -in data.sha256 -sigfile rsa.sig \
  -pkeyopt digest:sha256 >/dev/null || fail "RSA PKCS#1 signature does not verify"
openssl pkeyutl "${engine_args[@]}" -sign -inkey "$(uri ossl-rsa)" -in data.sha256 \
  -pkeyopt digest:sha256 -pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:32 -out pss.sig 2>>openssl.log
openssl pkeyutl -verify -pubin -inkey rsa.pub.pem -in data.sha256 -sigfile pss.sig -pkeyopt digest:sha256 \
  -pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:32 >/dev/null || fail "RSA-PSS signature does not verify"
openssl pkeyutl "${engine_args[@]}" -sign -inkey "$(uri ossl-ec)" -in data.sha256 -out ec.sig 2>>openssl.log
openssl pkeyutl -verify -pubin -inkey ec.pub.pem -in data.sha256 -sigfile ec.sig >/dev/null \
  || fail "ECDSA signature does not verify"

say "openssl dgst -sign with a key named by its id"
openssl dgst "${engine_args[@]}" -sha256 -sign \
  "pkcs11:token=$CLUSTER_LABEL;id=%11;type=private?pin-source=file:$WORK/user.pin" \
  -out dgst.sig data.bin 2>>openssl.log
openssl dgst -sha256 -verify rsa.pub.pem -signature dgst.sig data.bin >/dev/null \
  || fail "openssl dgst signature does not verify"

say "openssl req -x509: a certificate for a cluster key"
openssl req "${engine_args[@]}" -key "$(uri ossl-ec)" -new -x509 -days 30 -sha256 \
  -subj "/CN=cluster-ec" -out ec.crt 2>>openssl.log
openssl verify -CAfile ec.crt ec.crt >/dev/null || fail "the certificate's signature does not verify"
cmp -s <(openssl x509 -in ec.crt -noout -pubkey) ec.pub.pem \
  || fail "the certificate does not hold the cluster key's public key"
openssl req "${engine_args[@]}" -key "$(uri ossl-rsa-2)" -new -x509 -days 30 -sha256 \
  -subj "/CN=cluster-rsa-2" -out rsa2.crt 2>>openssl.log
pub_pem_from_member c 12 rsa2.pub.pem
cmp -s <(openssl x509 -in rsa2.crt -noout -pubkey) rsa2.pub.pem \
  || fail "ossl-rsa-2's certificate holds another key"
openssl verify -CAfile rsa2.crt rsa2.crt >/dev/null || fail "ossl-rsa-2's certificate does not verify"

say "openssl pkeyutl -decrypt: RSA PKCS#1 v1.5 and OAEP"
head -c 64 /dev/urandom >secret.bin
openssl pkeyutl -encrypt -pubin -inkey rsa.pub.pem -in secret.bin -out secret.pkcs1
openssl pkeyutl "${engine_args[@]}" -decrypt -inkey "$(uri ossl-rsa)" -in secret.pkcs1 -out secret.out 2>>openssl.log
cmp -s secret.bin secret.out || fail "RSA PKCS#1 decryption"
openssl pkeyutl -encrypt -pubin -inkey rsa.pub.pem -in secret.bin -out secret.oaep \
  -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha1
openssl pkeyutl "${engine_args[@]}" -decrypt -inkey "$(uri ossl-rsa)" -in secret.oaep -out secret.out2 \
  -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha1 2>>openssl.log
cmp -s secret.bin secret.out2 || fail "RSA-OAEP decryption"

say "PASS"
