#!/usr/bin/env bash
# Builds Natter warning-free and runs every test suite, then prints one
# closing line "N passed, N failed, N skipped" for people and CI alike.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build="${NATTER_TEST_BUILD_DIR:-$top/_build}"
cd "$top"

if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" --werror || { echo "0 passed, 1 failed"; exit 1; }
fi

if ! meson compile -C "$build"; then
  echo "0 passed, 1 failed"
  exit 1
fi

meson test -C "$build" --print-errorlogs --num-processes 2 "$@"
status=$?

python3 - "$build/meson-logs/testlog.json" <<'PY'
import json, sys
passed = failed = skipped = 0
with open(sys.argv[1]) as log:
    for line in log:
        result = json.loads(line).get("result")
        if result in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif result == "SKIP":
            skipped += 1
        else:
            failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
exit $status
