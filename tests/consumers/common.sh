# shellcheck shell=bash
# Common setup for the consumer tests: sourced by each tests/consumers/*.sh.
#
#   source common.sh MODULE TOOL
#   need_program PROGRAM PACKAGE...     # skip (77) unless the consumer is installed
#   start_cluster                       # then drive the consumer
#
# start_cluster gives the test fresh SoftHSM members in a temporary
# directory, each served by its own member host process (`p11cluster
# serve`), a cluster configuration, and the cluster transport key
# (`p11cluster init`), as examples/demo.sh does; it exports P11CLUSTER_CONF
# and changes to the directory. Everything is removed and every host stopped
# when the test exits. CLUSTER_EXTRA (lines for the [cluster] table) may be
# set before start_cluster.
#
# Exit codes: 0 pass, 1 fail, 77 skip (ctest SKIP_RETURN_CODE) only when the
# consumer program is not installed.
set -euo pipefail

MODULE=$(realpath "${1:?usage: source common.sh MODULE TOOL}")
TOOL=$(realpath "${2:?usage: source common.sh MODULE TOOL}")
SOFTHSM=${P11C_SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
USER_PIN=1234
SO_PIN=5678
MEMBERS=(a b c)
test_name=$(basename "$0" .sh)
CONSUMER_TESTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
EXAMPLES=$(cd "$CONSUMER_TESTS/../../examples" && pwd)

say() { printf '%s [%3ds] %s\n' "$test_name" "$SECONDS" "$*"; }
FAILURE=""
fail() { FAILURE="FAIL: $*"; say "$FAILURE" >&2; exit 1; }
# CI installs every consumer (scripts/install-deps.sh): there a skip is a failure.
skip() {
  [ -n "${P11C_CONSUMERS_REQUIRED:-}" ] && fail "$* (P11C_CONSUMERS_REQUIRED is set)"
  say "SKIP: $*" >&2
  exit 77
}
trap 'FAILURE="FAIL: line $LINENO: $BASH_COMMAND"; say "$FAILURE" >&2' ERR

# need_program PROGRAM PACKAGE [PROGRAM PACKAGE...]: skip unless each is installed.
need_program() {
  while [ $# -ge 2 ]; do
    command -v "$1" >/dev/null 2>&1 || skip "$1 not found (install the Debian package $2)"
    shift 2
  done
}
# need_file FILE PACKAGE
need_file() {
  [ -e "$1" ] || skip "$1 not found (install the Debian package $2)"
}
# need_pkcs11_engine: OpenSSL's pkcs11 engine (libp11).
need_pkcs11_engine() {
  local dir
  dir=$(openssl version -e 2>/dev/null | sed -n 's/^ENGINESDIR: "\(.*\)"$/\1/p')
  need_file "$dir/pkcs11.so" libengine-pkcs11-openssl
}

declare -A HOST_PID=()
CLEANUP_HOOKS=()
WORK=""
# on_exit COMMAND: run COMMAND (a string) when the test exits, before the hosts stop.
on_exit() { CLEANUP_HOOKS+=("$1"); }
cleanup() {
  local rc=$? hook pid
  for hook in "${CLEANUP_HOOKS[@]}"; do eval "$hook" || true; done
  for pid in "${HOST_PID[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
    for f in "$WORK"/*.log; do
      [ -s "$f" ] && { echo "--- $f"; tail -n 30 "$f"; }
    done
    echo "---"
    say "${FAILURE:-FAIL: exit status $rc}" >&2  # again, after the logs
  fi
  if [ -n "${P11C_KEEP_WORK:-}" ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}

# start_host NAME: serve member NAME's tokens from its own process.
start_host() {
  rm -f "$WORK/host-$1.sock"
  "$TOOL" serve --module "$SOFTHSM" --socket "$WORK/host-$1.sock" 2>>"$WORK/host-$1.log" &
  HOST_PID[$1]=$!
  for _ in $(seq 200); do [ -S "$WORK/host-$1.sock" ] && return 0; sleep 0.05; done
  fail "member host $1 did not start"
}
# kill_host NAME: SIGKILL member NAME's host, as a crash would.
kill_host() {
  kill -9 "${HOST_PID[$1]}" 2>/dev/null || true
  wait "${HOST_PID[$1]}" 2>/dev/null || true
}

# start_cluster: fresh members, their hosts, the configuration, the transport key.
start_cluster() {
  for f in "$MODULE" "$TOOL" "$SOFTHSM"; do
    [ -e "$f" ] || fail "missing $f"
  done
  need_program softhsm2-util softhsm2 openssl openssl pkcs11-tool opensc
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/p11c-$test_name-XXXXXX")
  trap cleanup EXIT
  mkdir -p "$WORK/tokens" "$WORK/status"
  cat >"$WORK/softhsm2.conf" <<CONF
directories.tokendir = $WORK/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF
  export SOFTHSM2_CONF=$WORK/softhsm2.conf
  for m in "${MEMBERS[@]}"; do
    softhsm2-util --init-token --free --label "member-$m" --pin "$USER_PIN" --so-pin "$SO_PIN" \
      >/dev/null || fail "softhsm2-util --init-token member-$m"
  done
  for m in "${MEMBERS[@]}"; do start_host "$m"; done

  {
    cat <<CONF
[cluster]
label = "consumer-cluster"
write_quorum = "majority"
policy = "round-robin"
call_timeout_ms = 2000
status_dir = "$WORK/status"
${CLUSTER_EXTRA:-}
CONF
    for m in "${MEMBERS[@]}"; do
      printf '\n[[member]]\nname = "%s"\nremote = "unix:%s"\ntoken = "pkcs11:token=member-%s"\n' \
        "$m" "$WORK/host-$m.sock" "$m"
    done
  } >"$WORK/cluster.toml"
  export P11CLUSTER_CONF=$WORK/cluster.toml
  CLUSTER_LABEL=consumer-cluster
  SO_PIN_VAR=$SO_PIN USER_PIN_VAR=$USER_PIN "$TOOL" init --so-pin-env SO_PIN_VAR \
    --user-pin-env USER_PIN_VAR >"$WORK/init.log" 2>&1 \
    || fail "p11cluster init"
  cd "$WORK"
}

# p11 ARGS...: pkcs11-tool on the cluster.
p11() { pkcs11-tool --module "$MODULE" "$@"; }
# member_p11 NAME ARGS...: pkcs11-tool on member NAME's token, opened directly with SoftHSM.
member_p11() {
  local m=$1; shift
  pkcs11-tool --module "$SOFTHSM" --token-label "member-$m" "$@"
}

# wait_members_in_sync: until `p11cluster verify` finds every member holding the same objects.
wait_members_in_sync() {
  for _ in $(seq 150); do
    USER_PIN_VAR=$USER_PIN "$TOOL" verify --user-pin-env USER_PIN_VAR >"$WORK/verify.log" 2>&1 \
      && return 0
    sleep 0.2
  done
  cat "$WORK/verify.log" >&2
  fail "the members do not hold the same objects"
}

# expect_on_every_member CLASS LABEL: the object is on every member token, opened directly.
expect_on_every_member() {
  local cls=$1 label=$2 m
  for m in "${MEMBERS[@]}"; do
    member_p11 "$m" -l -p "$USER_PIN" --list-objects --type "$cls" 2>/dev/null \
      | grep -q "label: *$label\$" || fail "$cls '$label' missing on member-$m"
  done
}

# pub_pem_from_cluster ID OUT: the public key with CKA_ID ID, read through the cluster, as PEM.
pub_pem_from_cluster() {
  p11 --read-object --type pubkey --id "$1" -o "$WORK/pub-$1.der" >/dev/null 2>&1 \
    || fail "cannot read public key $1 through the cluster"
  openssl pkey -pubin -inform DER -in "$WORK/pub-$1.der" -out "$2"
}
# pub_pem_from_member NAME ID OUT: the same, read from member NAME's token directly.
pub_pem_from_member() {
  member_p11 "$1" --read-object --type pubkey --id "$2" -o "$WORK/pub-$1-$2.der" >/dev/null 2>&1 \
    || fail "cannot read public key $2 from member-$1"
  openssl pkey -pubin -inform DER -in "$WORK/pub-$1-$2.der" -out "$3"
}

# openssl_engine_conf OUT: examples/openssl/openssl-pkcs11.cnf with this build's module.
openssl_engine_conf() {
  sed -e "s|/usr/local/lib/libp11cluster.so|$MODULE|" \
    "$EXAMPLES/openssl/openssl-pkcs11.cnf" >"$1"
}

# health_seen_by PID NAME: member NAME's health as process PID last published it.
health_seen_by() {
  awk -v RS='[[]member[]]' -v name="$2" '$0 ~ "name = ." name "." {
      match($0, /health = .[a-z]+./); print substr($0, RSTART + 10, RLENGTH - 11) }' \
    "$WORK/status/$CLUSTER_LABEL-$1.toml" 2>/dev/null
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
