#!/usr/bin/env bash
# p11-kit with examples/p11-kit/p11cluster.module: `p11-kit list-modules`
# shows the virtual token; pkcs11-tool through p11-kit's proxy module
# (p11-kit-proxy.so) generates a key and signs, openssl verifies with the
# public key read from a member directly; GnuTLS's p11tool (if installed)
# finds the token among the registered modules. The configuration reaches
# the module through the .module file's x-init-reserved (C_Initialize's
# pReserved), not the environment (except for GnuTLS, which initialises the
# module with arguments of its own).
#   p11kit.sh MODULE TOOL
source "$(dirname "$0")/common.sh" "$@"
need_program p11-kit p11-kit
proxy=$(pkg-config --variable=proxy_module p11-kit-1 2>/dev/null || true)
[ -n "$proxy" ] || proxy=/usr/lib/$(gcc -print-multiarch 2>/dev/null)/p11-kit-proxy.so
need_file "$proxy" p11-kit-modules
if [ "$(id -u)" -eq 0 ] && ! unshare -m true 2>/dev/null; then
  skip "running as root, p11-kit reads only the system's module directories, and \
unshare -m (to register the module privately) is not permitted here"
fi
start_cluster

# Register the module where p11-kit looks, without touching the machine's
# registry: as root (p11-kit then reads system directories only) in a
# private mount namespace where an own directory hides the system ones; as
# another user in a private home directory.
mkdir -p p11-kit-modules home/.config/pkcs11
sed -e "s|/usr/local/lib/libp11cluster.so|$MODULE|" -e "s|/etc/p11cluster/p11cluster.toml|$P11CLUSTER_CONF|" \
  "$EXAMPLES/p11-kit/p11cluster.module" >p11-kit-modules/p11cluster.module
if [ "$(id -u)" -eq 0 ]; then
  binds=""
  for d in /usr/share/p11-kit/modules /etc/pkcs11/modules; do
    [ -d "$d" ] && binds+="mount --bind '$WORK/p11-kit-modules' '$d' && "
  done
  registered() { unshare -m sh -c "$binds exec \"\$@\"" sh "$@"; }
else
  ln -s "$WORK/p11-kit-modules" home/.config/pkcs11/modules
  echo "user-config: only" >home/.config/pkcs11/pkcs11.conf
  registered() { HOME="$WORK/home" "$@"; }
fi

say "p11-kit list-modules shows the module and its one token"
registered env -u P11CLUSTER_CONF p11-kit list-modules >modules.txt 2>&1 || fail "p11-kit list-modules: $(cat modules.txt)"
grep -q "^p11cluster: $MODULE" modules.txt || fail "module not listed: $(cat modules.txt)"
grep -q "token: $CLUSTER_LABEL\$" modules.txt || fail "token not listed: $(cat modules.txt)"

say "pkcs11-tool through p11-kit-proxy.so: generate, sign; openssl verifies"
proxy_p11() { registered env -u P11CLUSTER_CONF pkcs11-tool --module "$proxy" --token-label "$CLUSTER_LABEL" "$@"; }
proxy_p11 --list-slots 2>/dev/null | grep -q "token label *: $CLUSTER_LABEL" || fail "no token through the proxy"
proxy_p11 -l -p "$USER_PIN" --keypairgen --key-type EC:prime256v1 --id 31 --label kit-ec \
  >>p11-kit.log 2>&1 || fail "key generation through the proxy"
head -c 2000 /dev/urandom >data.bin
openssl dgst -sha256 -binary data.bin >data.sha256
proxy_p11 -l -p "$USER_PIN" --sign --id 31 -m ECDSA --signature-format openssl -i data.sha256 \
  -o kit.sig >>p11-kit.log 2>&1 || fail "signing through the proxy"
pub_pem_from_member c 31 kit.pub.pem
openssl pkeyutl -verify -pubin -inkey kit.pub.pem -in data.sha256 -sigfile kit.sig >/dev/null \
  || fail "the signature made through the proxy does not verify"
expect_on_every_member privkey kit-ec

say "GnuTLS finds the token among p11-kit's registered modules"
if command -v p11tool >/dev/null 2>&1; then
  registered p11tool --list-tokens >tokens.txt 2>&1 || fail "p11tool --list-tokens: $(cat tokens.txt)"
  grep -q "Label: $CLUSTER_LABEL\$" tokens.txt || fail "p11tool does not see the token: $(cat tokens.txt)"
else
  say "(p11tool not installed: GnuTLS step left out)"
fi
say "PASS"
