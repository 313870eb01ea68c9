#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time on a scratch copy of its seed
# corpus. A crash, leak or timeout fails the test; the input that caused it is
# left in the build dir, to be added to tests/fuzz/corpus/ as a regression case.
set -euo pipefail
# A json-glib or GLib critical is our bug (a wrong type passed along), not
# noise: make it fatal so that it counts as a crash.
export G_DEBUG=fatal-criticals
target=$1 corpus=$2 seconds=${NATTER_FUZZ_SECONDS:-$3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$corpus"/. "$work/"
artifacts="$(dirname "$target")/fuzz-artifacts/$(basename "$target")-"
mkdir -p "$(dirname "$artifacts")"
# libFuzzer's own failure status is 77, which meson reads as "skipped".
"$target" -error_exitcode=1 -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
  -print_final_stats=1 -artifact_prefix="$artifacts" "$work" 2>&1 | tail -n 25
exit "${PIPESTATUS[0]}"
