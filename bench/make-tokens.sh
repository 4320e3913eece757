#!/usr/bin/env bash
# Fresh SoftHSM tokens for benchmarks: makes DIR/softhsm2.conf and N
# initialised tokens in DIR/tokens labelled member-a, member-b, ... (user PIN
# 1234, SO PIN 5678), as tests/support/softhsm_env.cpp does, and prints the
# SOFTHSM2_CONF path.
#
#   export SOFTHSM2_CONF=$(bench/make-tokens.sh /tmp/bench-tokens 2)
set -euo pipefail
dir=${1:?usage: make-tokens.sh DIR N}
count=${2:?usage: make-tokens.sh DIR N}
[[ $count =~ ^[0-9]+$ ]] && [ "$count" -ge 1 ] && [ "$count" -le 26 ] ||
  { echo "make-tokens.sh: N must be 1 to 26" >&2; exit 2; }
mkdir -p "$dir/tokens"
dir=$(cd "$dir" && pwd)
[ -z "$(ls -A "$dir/tokens")" ] || { echo "make-tokens.sh: $dir/tokens is not empty" >&2; exit 1; }
cat >"$dir/softhsm2.conf" <<CONF
directories.tokendir = $dir/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF
export SOFTHSM2_CONF=$dir/softhsm2.conf
letters=abcdefghijklmnopqrstuvwxyz
for ((i = 0; i < count; i++)); do
  softhsm2-util --init-token --free --label "member-${letters:i:1}" --pin 1234 --so-pin 5678 \
    >/dev/null
done
echo "$SOFTHSM2_CONF"
