#!/usr/bin/env bash
# Runs the four comparisons of docs/performance.md side by side in one run
# and writes that page (tables) and its plots (docs/perf/*.png):
#   1. overhead: one SoftHSM member through the cluster vs SoftHSM directly
#      vs p11-kit's proxy, 1 and 2 threads, every operation;
#   2. scaling: 1, 2, 4, 8 simulated HSMs, every policy, vs the sum of the
#      members' capacities;
#   3. heterogeneous members: one member 5x slower, p99 per policy vs the
#      fast members alone;
#   4. replication cost (key generation, 3 members vs 1) and memory with
#      10,000 objects on the token.
# Not a test: run it by hand on an otherwise idle machine (bench/README.md).
#
#   bench/compare.sh [BUILD_DIR]         (default build)
#   P11C_BENCH_SECONDS=3 P11C_BENCH_REPS=3 P11C_BENCH_OBJECTS=10000 bench/compare.sh
#   P11C_BENCH_OUT=/tmp/perf bench/compare.sh   (write elsewhere than docs/)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=$(cd "${1:-build}" && pwd)
secs=${P11C_BENCH_SECONDS:-3}
reps=${P11C_BENCH_REPS:-3}
objects=${P11C_BENCH_OBJECTS:-10000}
out=${P11C_BENCH_OUT:-$root/docs}
bench=$build/bench/p11cluster-bench
memory=$build/bench/p11cluster-bench-memory
tool=$build/tools/p11cluster
cluster=$build/lib/libp11cluster.so
sim=$build/tests/libp11c-simhsm.so
softhsm=/usr/lib/softhsm/libsofthsm2.so
proxy=$(pkg-config --variable=proxy_module p11-kit-1 2>/dev/null || true)
[ -n "$proxy" ] || proxy=/usr/lib/$(gcc -print-multiarch)/p11-kit-proxy.so
for f in "$bench" "$memory" "$tool" "$cluster" "$sim" "$softhsm" "$proxy"; do
  [ -e "$f" ] || { echo "compare.sh: $f is missing (build first: cmake --build $build)" >&2; exit 1; }
done
if ! command -v gnuplot >/dev/null; then
  echo "compare.sh: installing gnuplot-nox for the plots"
  apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null ||
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null; }
fi
work=$(mktemp -d /tmp/p11c-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
results=$work/results.tsv  # section \t case \t the harness's tsv line
: >"$results"
mkdir -p "$out/perf"
log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
export SO_PIN=5678
export USER_PIN=1234

# tokens DIR N: N fresh tokens; prints the SoftHSM configuration's path.
tokens() { "$root/bench/make-tokens.sh" "$1" "$2"; }

# cluster_conf FILE POLICY MODULE LABEL... : a cluster of in-process members.
cluster_conf() {
  local file=$1 policy=$2 module=$3 i=0; shift 3
  { printf '[cluster]\nlabel = "bench"\npolicy = "%s"\n' "$policy"
    for label in "$@"; do
      printf '\n[[member]]\nname = "m%d"\nmodule = "%s"\ntoken = "%s"\n' $i "$module" "$label"
      i=$((i + 1))
    done; } >"$file"
}

# run SECTION CASE MODULE OP THREADS [harness options...]: one timed run.
run() {
  local section=$1 case=$2 module=$3 op=$4 threads=$5; shift 5
  local line
  line=$("$bench" --module "$module" --op "$op" --threads "$threads" --seconds "$secs" \
    --name "$case" "$@") || { log "FAILED: $section $case $op x$threads"; return 1; }
  printf '%s\t%s\t%s\n' "$section" "$case" "$line" >>"$results"
  log "$section: $case $op x$threads: $(cut -f6 <<<"$line") ops/s, p99 $(cut -f8 <<<"$line") us"
}

# --- 1. overhead --------------------------------------------------------
log "1. overhead: SoftHSM direct, through the cluster (one member), through p11-kit's proxy"
export SOFTHSM2_CONF
SOFTHSM2_CONF=$(tokens "$work/overhead" 1)
export P11CLUSTER_CONF=$work/overhead/cluster.toml
cluster_conf "$P11CLUSTER_CONF" round-robin "$softhsm" member-a
"$tool" init --so-pin-env SO_PIN --user-pin-env USER_PIN >/dev/null
mkdir -p "$work/p11kit"
printf 'module: %s\n' "$softhsm" >"$work/p11kit/softhsm.module"
binds=""
for d in /usr/share/p11-kit/modules /etc/pkcs11/modules; do
  [ -d "$d" ] && binds+="mount --bind '$work/p11kit' '$d' && "
done
proxied() { unshare -m sh -c "$binds exec \"\$@\"" sh "$@"; }
ops="rsa-sign ecdsa-sign aes-gcm sha256 random ec-keygen"
# Keys made once through the cluster (so they carry what the cluster keeps),
# then used by all three.
for op in $ops; do "$bench" --module "$cluster" --op "$op" --threads 1 --seconds 0.2 --warmup 0 >/dev/null; done
for op in $ops; do
  for threads in 1 2; do
    for rep in $(seq 1 "$reps"); do
      # Interleaved, in a rotating order, so that drift hits all three alike.
      order=("direct" "cluster" "proxy")
      for k in $(seq 0 $(((rep - 1) % 3))); do [ "$k" -gt 0 ] && order=("${order[@]:1}" "${order[0]}"); done
      for who in "${order[@]}"; do
        case $who in
          direct) run overhead softhsm "$softhsm" "$op" "$threads" --token member-a ;;
          cluster) run overhead p11cluster "$cluster" "$op" "$threads" ;;
          proxy) proxied "$bench" --module "$proxy" --op "$op" --threads "$threads" --seconds "$secs" \
            --token member-a --name p11-kit-proxy >"$work/line" &&
            printf 'overhead\tp11-kit-proxy\t%s\n' "$(cat "$work/line")" >>"$results" &&
            log "overhead: p11-kit-proxy $op x$threads: $(cut -f6 "$work/line") ops/s" ;;
        esac
      done
    done
  done
done
unset P11CLUSTER_CONF

# --- 2. scaling -----------------------------------------------------------
# Each simulated HSM: 2 ms per signature, 2 at once: 1,000 signatures/s.
log "2. scaling: 1, 2, 4, 8 simulated HSMs (2000 us/2 each)"
export P11C_SIMHSM='*=2000us/2'
SOFTHSM2_CONF=$(tokens "$work/scaling" 8)
labels=(member-a member-b member-c member-d member-e member-f member-g member-h)
run scaling "capacity-1" "$sim" ecdsa-sign 8 --token member-a
policies="round-robin random weighted least-outstanding latency-aware"
for n in 1 2 4 8; do
  export P11CLUSTER_CONF=$work/scaling/cluster-$n.toml
  cluster_conf "$P11CLUSTER_CONF" round-robin "$sim" "${labels[@]:0:n}"
  "$tool" init --so-pin-env SO_PIN --user-pin-env USER_PIN >/dev/null
  "$bench" --module "$cluster" --op ecdsa-sign --threads 1 --seconds 0.2 --warmup 0 --key-label "bench-scale-$n" >/dev/null
  for policy in $policies; do
    sed -i "s/^policy = .*/policy = \"$policy\"/" "$P11CLUSTER_CONF"
    run scaling "$policy/$n" "$cluster" ecdsa-sign $((4 * n)) --key-label "bench-scale-$n"
  done
done
unset P11CLUSTER_CONF

# --- 3. heterogeneous members -------------------------------------------
# Three members at 1 ms per signature and one at 5 ms, one call at once
# each; 3 client threads: the fast members alone can just serve them.
log "3. heterogeneous: three members at 1 ms, one at 5 ms"
export P11C_SIMHSM='member-a=1000us/1,member-b=1000us/1,member-c=1000us/1,member-d=5000us/1'
SOFTHSM2_CONF=$(tokens "$work/hetero" 4)
for policy in round-robin least-outstanding latency-aware; do
  for set in fast all; do
    export P11CLUSTER_CONF=$work/hetero/cluster-$set.toml
    if [ "$set" = fast ]; then
      cluster_conf "$P11CLUSTER_CONF" "$policy" "$sim" member-a member-b member-c
    else
      cluster_conf "$P11CLUSTER_CONF" "$policy" "$sim" member-a member-b member-c member-d
    fi
    [ -e "$work/hetero/init-$set" ] || { "$tool" init --so-pin-env SO_PIN --user-pin-env USER_PIN >/dev/null && touch "$work/hetero/init-$set"; }
    for threads in 3 6; do
      run hetero "$policy/$set/$threads" "$cluster" ecdsa-sign "$threads" --key-label "bench-hetero-$set"
    done
  done
done
unset P11CLUSTER_CONF P11C_SIMHSM

# --- 4. replication cost and memory ------------------------------------------
log "4. replication: EC key generation on one member vs through a 3-member cluster"
SOFTHSM2_CONF=$(tokens "$work/replication" 3)
export P11CLUSTER_CONF=$work/replication/cluster.toml
cluster_conf "$P11CLUSTER_CONF" round-robin "$softhsm" member-a member-b member-c
"$tool" init --so-pin-env SO_PIN --user-pin-env USER_PIN >/dev/null
for rep in $(seq 1 "$reps"); do
  run replication softhsm "$softhsm" ec-keygen 1 --token member-a
  run replication p11cluster-3 "$cluster" ec-keygen 1
done
unset P11CLUSTER_CONF

log "4. memory: $objects objects on the token"
SOFTHSM2_CONF=$(tokens "$work/memory" 1)
export P11CLUSTER_CONF=$work/memory/cluster.toml
cluster_conf "$P11CLUSTER_CONF" round-robin "$softhsm" member-a
"$tool" init --so-pin-env SO_PIN --user-pin-env USER_PIN >/dev/null
"$memory" --module "$softhsm" --token member-a --fill "$objects" >/dev/null
"$memory" --module "$softhsm" --token member-a --name softhsm >"$work/memory.tsv"
"$memory" --module "$cluster" --name p11cluster >>"$work/memory.tsv"
unset P11CLUSTER_CONF

log "writing $out/performance.md"
cp "$results" "$out/perf/results.tsv"
cp "$work/memory.tsv" "$out/perf/memory.tsv"
python3 "$root/bench/report.py" "$results" "$work/memory.tsv" "$out" "$secs" "$reps" "$objects"
