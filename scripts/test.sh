#!/usr/bin/env bash
# Builds p11cluster and runs the whole test suite twice: a normal build, and
# a build with AddressSanitizer and UndefinedBehaviorSanitizer; then the
# concurrent paths (threads, member processes, failover, routing, zones)
# once more under ThreadSanitizer (without the fork tests: TSan does not
# support a child that starts threads after a multi-threaded fork).
# The consumer tests (label consumers: nginx, Java, OpenSSL, ... loading the
# module) run in the normal build only: a sanitizer-built module cannot be
# loaded into those programs without preloading the sanitizer's runtime.
# The chaos test (label chaos: three member processes killed, frozen and
# restarted under load for 20 s) runs alone in the normal build.
set -euo pipefail
cd "$(dirname "$0")/.."
# In CI every consumer program is installed: a consumer test that would
# skip fails instead.
if [ "${CI:-}" = true ]; then export P11C_CONSUMERS_REQUIRED=1; fi
jobs=$(nproc 2>/dev/null || echo 2)

# run_suite BUILD_DIR INCLUDE_REGEX EXCLUDE_REGEX EXCLUDE_LABEL [cmake options...]
run_suite() {
  local dir=$1 include=$2 exclude=$3 exclude_label=$4; shift 4
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
  (cd "$dir" && ctest -j"$jobs" --output-on-failure --timeout 300 \
    ${include:+-R "$include"} ${exclude:+-E "$exclude"} ${exclude_label:+-LE "$exclude_label"})
}

echo "== tests: normal build (with the consumer programs)"
run_suite build "" "" ""
echo "== tests: AddressSanitizer + UndefinedBehaviorSanitizer"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_suite build-asan "" "" "consumers|chaos" -DP11C_SANITIZE=address,undefined
echo "== tests: ThreadSanitizer (concurrent paths)"
TSAN_OPTIONS=halt_on_error=1 \
  run_suite build-tsan "threads|remote members|sessions|zones|routing" "fork" "consumers|chaos" -DP11C_SANITIZE=thread
