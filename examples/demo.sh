#!/usr/bin/env bash
# p11cluster demo: three SoftHSM tokens become one virtual token.
#
#   examples/demo.sh [BUILD_DIR]     (default: build)
#
# Creates three member tokens in a temporary directory, serves each from its
# own member host process (`p11cluster serve`), writes a cluster
# configuration, makes the cluster transport key, then drives the cluster
# with pkcs11-tool as any application would: list the one token, import an
# RSA and an EC key, generate a key pair, sign with each key, and verify the
# signatures with openssl. It opens each member token directly and signs
# with the generated key there, to show every member holds it. Then it kills
# member b's process in the middle of a run of signatures: signing goes on,
# a key generated meanwhile reaches the two members left, `p11cluster
# status` shows b unreachable; b is restarted, repaired, and signs with the
# key it missed. Then a failover drill (`p11cluster drill`) takes each member
# out of service in turn while it signs, and a backup (under a backup key
# made on a separate recovery token) brings back a key destroyed by mistake.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
[[ "$build" = /* ]] || build="$here/$build"
module="$build/lib/libp11cluster.so"
tool="$build/tools/p11cluster"
softhsm=/usr/lib/softhsm/libsofthsm2.so
for f in "$module" "$tool" "$softhsm"; do
  [ -e "$f" ] || { echo "demo: missing $f (build first: cmake -S . -B build && cmake --build build)"; exit 1; }
done

work=$(mktemp -d /tmp/p11cluster-demo-XXXXXX)
declare -A host_pid
cleanup() {
  for pid in "${host_pid[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "three SoftHSM member tokens in $work/tokens"
mkdir tokens
cat > softhsm2.conf <<CONF
directories.tokendir = $work/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF
export SOFTHSM2_CONF=$work/softhsm2.conf
for m in a b c; do
  softhsm2-util --init-token --free --label "member-$m" --pin 1234 --so-pin 5678 >/dev/null
  echo "token member-$m"
done

step "each member served by its own process (p11cluster serve), as a network HSM would be"
start_host() {
  "$tool" serve --module "$softhsm" --socket "$work/host-$1.sock" 2>>"$work/host-$1.log" &
  host_pid[$1]=$!
  for _ in $(seq 100); do [ -S "$work/host-$1.sock" ] && return; sleep 0.05; done
  echo "member host $1 did not start"; exit 1
}
for m in a b c; do start_host $m; echo "member host $m: pid ${host_pid[$m]}, socket $work/host-$m.sock"; done

step "the cluster configuration"
mkdir status
cat > cluster.toml <<CONF
[cluster]
label = "demo-cluster"
write_quorum = "majority"
policy = "round-robin"
call_timeout_ms = 2000
status_dir = "$work/status"

[[member]]
name = "a"
remote = "unix:$work/host-a.sock"
token = "pkcs11:token=member-a"
zone = "z1"

[[member]]
name = "b"
remote = "unix:$work/host-b.sock"
token = "pkcs11:token=member-b"
zone = "z1"

[[member]]
name = "c"
remote = "unix:$work/host-c.sock"
token = "pkcs11:token=member-c"
zone = "z2"
CONF
cat cluster.toml
export P11CLUSTER_CONF=$work/cluster.toml

export USER_PIN=1234
step "p11cluster init: the transport key, made inside the members (private and trusted: both PINs)"
SO_PIN=5678 "$tool" init --so-pin-env SO_PIN --user-pin-env USER_PIN

p11() { pkcs11-tool --module "$module" "$@"; }

step "pkcs11-tool sees one slot with one token"
p11 --list-slots
[ "$(p11 --list-slots | grep -c 'token label')" -eq 1 ]

step "import an RSA-2048 and an EC P-256 key made by openssl"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.pem 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.pem 2>/dev/null
openssl pkey -in rsa.pem -outform DER -out rsa.der
openssl pkey -in rsa.pem -pubout -outform DER -out rsa.pub.der
openssl pkey -in ec.pem -outform DER -out ec.der
openssl pkey -in ec.pem -pubout -outform DER -out ec.pub.der
p11 -l -p 1234 --write-object rsa.der --type privkey --id 01 --label imported-rsa >/dev/null
p11 -l -p 1234 --write-object rsa.pub.der --type pubkey --id 01 --label imported-rsa >/dev/null
p11 -l -p 1234 --write-object ec.der --type privkey --id 02 --label imported-ec >/dev/null
p11 -l -p 1234 --write-object ec.pub.der --type pubkey --id 02 --label imported-ec >/dev/null
echo "imported imported-rsa (id 01) and imported-ec (id 02)"

step "generate an RSA-2048 key pair through the cluster"
p11 -l -p 1234 --keypairgen --key-type rsa:2048 --id 03 --label generated-rsa 2>&1 | grep -E "Key Object|label"
p11 -r --type pubkey --id 03 -o generated.pub.der 2>/dev/null
openssl pkey -pubin -inform DER -in generated.pub.der -out generated.pub.pem

step "sign through the cluster, verify with openssl"
head -c 1000 /dev/urandom > data.bin
p11 -l -p 1234 --sign --id 01 -m SHA256-RSA-PKCS -i data.bin -o rsa.sig 2>/dev/null
openssl dgst -sha256 -verify <(openssl pkey -in rsa.pem -pubout) -signature rsa.sig data.bin
openssl dgst -sha256 -binary data.bin > data.sha256
p11 -l -p 1234 --sign --id 02 -m ECDSA --signature-format openssl -i data.sha256 -o ec.sig 2>/dev/null
openssl pkeyutl -verify -pubin -inkey <(openssl pkey -in ec.pem -pubout) -in data.sha256 -sigfile ec.sig
p11 -l -p 1234 --sign --id 03 -m SHA256-RSA-PKCS -i data.bin -o generated.sig 2>/dev/null
openssl dgst -sha256 -verify generated.pub.pem -signature generated.sig data.bin

step "the generated key is on every member: sign with it on each member token directly"
for m in a b c; do
  pkcs11-tool --module "$softhsm" --token-label "member-$m" -l -p 1234 --sign --id 03 \
    -m SHA256-RSA-PKCS -i data.bin -o "member-$m.sig" 2>/dev/null
  printf 'member-%s: ' "$m"
  openssl dgst -sha256 -verify generated.pub.pem -signature "member-$m.sig" data.bin
done

step "kill member b's process in the middle of a run of signatures"
for i in $(seq 1 8); do
  if [ "$i" -eq 4 ]; then
    kill -9 "${host_pid[b]}"; wait "${host_pid[b]}" 2>/dev/null || true
    echo "  -- member host b killed (SIGKILL) --"
  fi
  p11 -l -p 1234 --sign --id 03 -m SHA256-RSA-PKCS -i data.bin -o "run-$i.sig" 2>/dev/null
  printf 'signature %d: ' "$i"
  openssl dgst -sha256 -verify generated.pub.pem -signature "run-$i.sig" data.bin
done

step "with b down, a new key still reaches the majority (a and c)"
p11 -l -p 1234 --keypairgen --key-type EC:prime256v1 --id 04 --label made-while-b-was-down 2>&1 \
  | grep -E "Key Object|label" | head -2

step "p11cluster status: b is unreachable"
"$tool" status || true

step "restart member b; repair brings it in sync (it lacked key 04)"
start_host b
"$tool" repair --user-pin-env USER_PIN
"$tool" status
"$tool" verify --user-pin-env USER_PIN
pkcs11-tool --module "$softhsm" --token-label member-b -l -p 1234 --list-objects --type privkey 2>/dev/null \
  | grep -A1 "made-while-b-was-down" | head -2
p11 -r --type pubkey --id 04 -o ec04.pub.der 2>/dev/null
openssl pkey -pubin -inform DER -in ec04.pub.der -out ec04.pub.pem
pkcs11-tool --module "$softhsm" --token-label member-b -l -p 1234 --sign --id 04 -m ECDSA \
  --signature-format openssl -i data.sha256 -o b04.sig 2>/dev/null
printf 'member-b signs with key 04: '
openssl pkeyutl -verify -pubin -inkey ec04.pub.pem -in data.sha256 -sigfile b04.sig

step "failover drill: each member out of service in turn while signing goes on"
"$tool" drill --module "$module" --user-pin-env USER_PIN --out-seconds 2

step "backup: a backup key made on a recovery token kept apart, handed to the members"
softhsm2-util --init-token --free --label recovery --pin 1234 --so-pin 5678 >/dev/null
SO_PIN=5678 "$tool" backup-key --recovery-module "$softhsm" --recovery-token recovery \
  --recovery-so-pin-env SO_PIN --recovery-pin-env USER_PIN --so-pin-env SO_PIN \
  --user-pin-env USER_PIN
"$tool" backup --out "$work/cluster.backup" --user-pin-env USER_PIN

step "a mistake: key 04 destroyed through the cluster (on every member)"
p11 -l -p 1234 --delete-object --type privkey --id 04 >/dev/null 2>&1
p11 -l -p 1234 --delete-object --type pubkey --id 04 >/dev/null 2>&1
echo "objects with id 04 now: $(p11 -l -p 1234 --list-objects 2>/dev/null | grep -c 'ID:.*04$' || true)"

step "restore key 04 alone from the backup, by name and --undelete; it signs again and its signature verifies"
"$tool" restore --in "$work/cluster.backup" --id-hex 04 --undelete --user-pin-env USER_PIN
p11 -l -p 1234 --sign --id 04 -m ECDSA --signature-format openssl -i data.sha256 -o restored.sig 2>/dev/null
printf 'restored key 04 signs: '
openssl pkeyutl -verify -pubin -inkey ec04.pub.pem -in data.sha256 -sigfile restored.sig

step "demo finished: one token, three members, every signature verified, a member killed and repaired, a drill passed, a key restored"
