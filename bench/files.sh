#!/bin/bash
# bench/files.sh: file transfer throughput and memory over loopback (issue 5).
# Uploads a SIZE_MIB file (default 1024) with natter-cli to natter-server
# (tus PATCH, streamed to disk, hashed as it comes), downloads it back, checks
# the SHA-256, and reports MB/s each way and the RSS growth of both processes
# (largest sample during the transfer minus the same process on a 1-byte
# file, or for the server, minus its RSS before the transfer).
# Not part of meson test.
#
#   bench/files.sh [BUILD_DIR]        SIZE_MIB=256 bench/files.sh build
set -euo pipefail

build=${1:-build}
size_mib=${SIZE_MIB:-1024}
server_bin=$build/src/server/natter-server
cli_bin=$build/src/cli/natter-cli
[ -x "$server_bin" ] && [ -x "$cli_bin" ] || { echo "build natter-server and natter-cli in $build first" >&2; exit 2; }

tmp=$(mktemp -d)
server_pid=
cleanup () {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
"$server_bin" --address 127.0.0.1 --port "$port" --data-dir "$tmp/data" --quiet \
  --max-file-size $(( (size_mib + 1) * 1048576 )) --user-quota 0 &
server_pid=$!
for _ in $(seq 100); do
  python3 -c "import urllib.request; urllib.request.urlopen('$url/api/v1/health', timeout=1)" 2>/dev/null && break
  sleep 0.1
done

export NATTER_PASSWORD=bench-password XDG_CACHE_HOME=$tmp/cache XDG_CONFIG_HOME=$tmp/config XDG_DATA_HOME=$tmp/xdg
"$cli_bin" --server "$url" register bench >/dev/null

echo "# generating $size_mib MiB of random data" >&2
head -c $(( size_mib * 1048576 )) /dev/urandom > "$tmp/big"
head -c 1 /dev/urandom > "$tmp/tiny"
want=$(sha256sum < "$tmp/big" | cut -d' ' -f1)

rss_kib () { awk '/^VmRSS/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# run LABEL CMD…: runs CMD in the background, sampling its RSS and the
# server's every 20 ms; sets elapsed (s), client_max, server_max (KiB), out.
run () {
  local start end pid c s
  client_max=0; server_max=$(rss_kib "$server_pid")
  start=$(date +%s.%N)
  "$@" > "$tmp/out.txt" &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    c=$(rss_kib "$pid"); s=$(rss_kib "$server_pid")
    (( c > client_max )) && client_max=$c
    (( s > server_max )) && server_max=$s
    sleep 0.02
  done
  wait "$pid"
  end=$(date +%s.%N)
  elapsed=$(echo "$end - $start" | bc -l)
  out=$(cat "$tmp/out.txt")
}

mbps () { echo "scale=1; $1 / $2 / 1000000" | bc -l; }

bytes=$(( size_mib * 1048576 ))

run "$cli_bin" --server "$url" upload general "$tmp/tiny"
tiny_up_client=$client_max
server_before=$(rss_kib "$server_pid")
run "$cli_bin" --server "$url" upload general "$tmp/big"
id=$out
up_s=$elapsed; up_client=$client_max; up_server=$server_max

tiny_id=$("$cli_bin" --server "$url" upload general "$tmp/tiny")
run "$cli_bin" --server "$url" download "$tiny_id" "$tmp/tiny.copy"
tiny_down_client=$client_max
server_before_down=$(rss_kib "$server_pid")
run "$cli_bin" --server "$url" download "$id" "$tmp/big.copy"
down_s=$elapsed; down_client=$client_max; down_server=$server_max
got=$(sha256sum < "$tmp/big.copy" | cut -d' ' -f1)
[ "$got" = "$want" ] || { echo "SHA-256 mismatch after the round trip" >&2; exit 1; }

printf '%-10s %10s %10s %22s %22s\n' direction MiB MB/s "client RSS growth MiB" "server RSS growth MiB"
printf '%-10s %10d %10s %22s %22s\n' upload "$size_mib" "$(mbps $bytes "$up_s")" \
  "$(echo "scale=1; ($up_client - $tiny_up_client) / 1024" | bc -l)" \
  "$(echo "scale=1; ($up_server - $server_before) / 1024" | bc -l)"
printf '%-10s %10d %10s %22s %22s\n' download "$size_mib" "$(mbps $bytes "$down_s")" \
  "$(echo "scale=1; ($down_client - $tiny_down_client) / 1024" | bc -l)" \
  "$(echo "scale=1; ($down_server - $server_before_down) / 1024" | bc -l)"
echo "# sha256 ok ($want); wall time includes sign-in and connect (~tens of ms)"
