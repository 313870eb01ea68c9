#!/usr/bin/env bash
# Builds Natter, starts a local natter-server (SQLite in the user data dir)
# unless one already answers on port 7300, and opens the app against it.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build="$top/_build"
port="${NATTER_PORT:-7300}"
data="${XDG_DATA_HOME:-$HOME/.local/share}/natter-server"

cd "$top"
[ -f "$build/build.ninja" ] || meson setup "$build"
meson compile -C "$build"

server_pid=""
if ! curl -fs "http://127.0.0.1:$port/api/v1/health" >/dev/null 2>&1; then
  mkdir -p "$data"
  "$build/src/server/natter-server" --port "$port" --data-dir "$data" &
  server_pid=$!
  trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null' EXIT
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$port/api/v1/health" >/dev/null 2>&1 && break
    sleep 0.1
  done
fi

# A development run uses the schema from the build tree.
export GSETTINGS_SCHEMA_DIR="$build/data"
"$build/src/app/natter" --server "http://127.0.0.1:$port"
