#!/usr/bin/env bash
# Installs what p11cluster needs to build, test and run its demo on Debian 12,
# by package name, skipping what is already there.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git      # toolchain
  libssl-dev openssl                        # OpenSSL 3: identities, tests, demo
  libp11-kit-dev p11-kit                    # PKCS#11 URIs, p11-kit proxy
  libtomlplusplus-dev                       # configuration
  catch2                                    # tests (Catch2 v2)
  softhsm2                                  # the member tokens
  opensc                                    # pkcs11-tool, for the demo and tests
  # the consumers driven by tests/consumers (docs/consumers.md)
  libengine-pkcs11-openssl                  # OpenSSL's pkcs11 engine
  nginx apache2-utils curl                  # nginx with ssl_engine pkcs11; ab and curl load it
  openjdk-17-jdk-headless                   # Java SunPKCS11, keytool, javac
  gnutls-bin                                # p11tool, certtool
  p11-kit-modules                           # p11-kit-proxy.so
  python3 python3-pykcs11                   # PyKCS11
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: everything is installed"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
