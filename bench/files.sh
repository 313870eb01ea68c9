#!/bin/bash
# bench/files.sh: file transfer throughput and memory over loopback (issue 5).
# Uploads a SIZE_MIB file (default 1024) with natter-cli to natter-server
# (tus PATCH, streamed to disk, hashed as it comes), downloads it back, checks
# the SHA-256, and reports MB/s each way and the RSS growth of both processes
# (largest sample during the transfer minus the same process on a 1-byte
# file, or for the server, minus its RSS before the transfer).
# Not part of meson test.
#
#   bench/files.sh [BUILD_DIR]        SIZE_MIB=256 TMPDIR=/dev/shm bench/files.sh build
set -euo pipefail

build=${1:-build}
size_mib=${SIZE_MIB:-1024}
server_bin=$build/src/server/natter-server
cli_bin=$build/src/cli/natter-cli
[ -x "$server_bin" ] && [ -x "$cli_bin" ] || { echo "build natter-server and natter-cli in $build first" >&2; exit 2; }

# TMPDIR=/dev/shm takes the disk out of the measurement (3 × SIZE_MIB of RAM).
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

# Sets $rss to the VmRSS (KiB) of process $1 without forking: the sampling
# loop must not take the CPU the transfer needs.
read_rss () {
  local key value rest
  rss=0
  while read -r key value rest; do
    [ "$key" = "VmRSS:" ] && { rss=$value; return; }
  done < "/proc/$1/status" 2>/dev/null || true
}

cpu_ticks () { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# run CMD…: runs CMD in the background, sampling its RSS and the server's
# every 20 ms; sets elapsed (s), client_max, server_max (KiB), client_cpu,
# server_cpu (s of user + system time) and out.
run () {
  local start end pid child c s server_ticks
  client_max=0; server_max=$(rss_kib "$server_pid"); server_ticks=$(cpu_ticks "$server_pid")
  start=$(date +%s.%N)
  /usr/bin/time -f '%U %S' -o "$tmp/cpu.txt" "$@" > "$tmp/out.txt" &
  pid=$!
  child=
  while kill -0 "$pid" 2>/dev/null; do
    [ -z "$child" ] && child=$(pgrep -P "$pid" | head -1 || true)
    if [ -n "$child" ]; then read_rss "$child"; (( rss > client_max )) && client_max=$rss; fi
    read_rss "$server_pid"; (( rss > server_max )) && server_max=$rss
    sleep 0.05
  done
  wait "$pid"
  end=$(date +%s.%N)
  elapsed=$(echo "$end - $start" | bc -l)
  client_cpu=$(awk '{ print $1 + $2 }' "$tmp/cpu.txt")
  server_cpu=$(echo "($(cpu_ticks "$server_pid") - $server_ticks) / $(getconf CLK_TCK)" | bc -l)
  out=$(cat "$tmp/out.txt")
}

mbps () { echo "scale=1; $1 / $2 / 1000000" | bc -l; }

bytes=$(( size_mib * 1048576 ))

# Each run signs in again, and the server's argon2id check of the password
# takes 64 MiB for a moment: the 1-byte runs measure that baseline.
run "$cli_bin" --server "$url" upload general "$tmp/tiny"
tiny_up_client=$client_max; tiny_up_server=$server_max
run "$cli_bin" --server "$url" upload general "$tmp/big"
id=$out
up_s=$elapsed; up_client=$client_max; up_server=$server_max
up_ccpu=$client_cpu; up_scpu=$server_cpu

tiny_id=$("$cli_bin" --server "$url" upload general "$tmp/tiny")
run "$cli_bin" --server "$url" download "$tiny_id" "$tmp/tiny.copy"
tiny_down_client=$client_max; tiny_down_server=$server_max
run "$cli_bin" --server "$url" download "$id" "$tmp/big.copy"
down_s=$elapsed; down_client=$client_max; down_server=$server_max
down_ccpu=$client_cpu; down_scpu=$server_cpu
got=$(sha256sum < "$tmp/big.copy" | cut -d' ' -f1)
[ "$got" = "$want" ] || { echo "SHA-256 mismatch after the round trip" >&2; exit 1; }

growth () { echo "scale=1; ($1 - $2) / 1024" | bc -l; }
printf '%-9s %6s %8s %14s %14s %16s %16s\n' direction MiB MB/s "client CPU s" "server CPU s" \
  "client +RSS MiB" "server +RSS MiB"
printf '%-9s %6d %8s %14.2f %14.2f %16s %16s\n' upload "$size_mib" "$(mbps $bytes "$up_s")" \
  "$up_ccpu" "$up_scpu" "$(growth "$up_client" "$tiny_up_client")" "$(growth "$up_server" "$tiny_up_server")"
printf '%-9s %6d %8s %14.2f %14.2f %16s %16s\n' download "$size_mib" "$(mbps $bytes "$down_s")" \
  "$down_ccpu" "$down_scpu" "$(growth "$down_client" "$tiny_down_client")" \
  "$(growth "$down_server" "$tiny_down_server")"
echo "# sha256 ok; wall time includes sign-in (argon2id) and connect; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
