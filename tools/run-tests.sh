#!/usr/bin/env bash
# Builds Natter warning-free and runs every test suite twice: once in a
# normal build, and once built by clang with AddressSanitizer,
# UndefinedBehaviorSanitizer and LeakSanitizer, where the fuzz targets also
# run for a bounded time. Ends with one line "N passed, N failed, N skipped".
#
#   NATTER_SANITIZE=0   skip the sanitizer build (a quicker local run)
#   extra arguments     are passed to both `meson test` runs (e.g. --suite server)
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build="${NATTER_TEST_BUILD_DIR:-$top/_build}"
sanitize_build="$build-sanitize"
cd "$top"

failed_setup=0
logs=()

run_suites () {
  local dir=$1; shift
  meson test -C "$dir" --print-errorlogs --num-processes 2 "$@"
  logs+=("$dir/meson-logs/testlog.json")
}

if { [ -f "$build/build.ninja" ] || meson setup "$build" --werror; } && meson compile -C "$build"; then
  run_suites "$build" --no-suite fuzz "$@"
else
  failed_setup=$((failed_setup + 1))
fi

# The warning-free promise is for Debian's gcc (the build above); clang's own
# extra warnings (e.g. on g_autoptr guards kept only for their cleanup) are
# not errors here, this build exists for the sanitizers.
if [ "${NATTER_SANITIZE:-1}" != 0 ]; then
  # A small quarantine keeps use-after-free detection for recent frees while
  # letting the tests that bound server memory measure something real.
  # intercept_tls_get_addr=0: clang 14's runtime takes a thread's dynamic TLS
  # block for glibc < 2.25's layout whenever the block starts 16 bytes past
  # a page boundary (chance, of malloc), and reads a bogus address and size
  # from before it; LeakSanitizer's tracer then crashes at exit ("Tracer
  # caught signal 11") in a test that passed. It hit GnuTLS's threads in
  # every TLS test, and natter-cli and other tests now and then. LLVM 17
  # no longer guesses. With the interceptor off, those blocks are plain
  # heap blocks, still reached from the thread's own TLS: every suite,
  # the TLS tests and cli too, keeps its leak check.
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1:quarantine_size_mb=16:intercept_tls_get_addr=0"
  export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
  export GIO_USE_PROXY_RESOLVER=dummy
  export LSAN_OPTIONS="suppressions=$top/tests/lsan.supp:print_suppressions=0"
  if { [ -f "$sanitize_build/build.ninja" ] ||
       CC=clang meson setup "$sanitize_build" -Dfuzzing=true \
         -Db_sanitize=address,undefined -Db_lundef=false -Dapp=disabled -Dbench=false; } &&
     meson compile -C "$sanitize_build"; then
    run_suites "$sanitize_build" --suite protocol --suite server --suite client --suite cli \
      --suite security --suite fuzz "$@"
  else
    failed_setup=$((failed_setup + 1))
  fi
fi

python3 - "$failed_setup" "${logs[@]}" <<'PY'
import json, sys
passed = skipped = 0
failed = int(sys.argv[1])
for path in sys.argv[2:]:
    try:
        log = open(path)
    except OSError:
        failed += 1
        continue
    for line in log:
        result = json.loads(line).get("result")
        if result in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif result == "SKIP":
            skipped += 1
        else:
            failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
PY
