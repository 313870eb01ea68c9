#!/bin/bash
# bench/files.sh: file transfer throughput and memory over loopback (issue 5).
# Uploads a SIZE_MIB file (default 1024) with natter-cli to natter-server
# (tus PATCH, streamed to disk, hashed as it comes), downloads it back, checks
# the SHA-256, ROUNDS times (default 3), and reports for each direction:
#  - MB/s of the transfer itself: from its first byte on disk (the server's
#    .part file for an upload, the client's for a download) to the command's
#    exit; and MB/s of the whole command (process start, sign-in with
#    argon2id, connect, transfer);
#  - the RSS growth of both processes: for the client, its largest sample
#    minus the same command's on a 1-byte file; for the server, its largest
#    sample once bytes flow minus its RSS before the command (so the 64 MiB
#    that argon2id takes for a moment at sign-in is not counted);
#  - the medians over the rounds, the largest growth, and the load average.
# Not part of meson test.
#
# The machine is shared: when run as root with autogroups, the script moves
# itself (server and clients) into a session of its own whose autogroup
# gets nice -15, as bench/run.py does; PRIORITY=0 measures without that.
#
#   bench/files.sh [BUILD_DIR]        SIZE_MIB=256 ROUNDS=5 TMPDIR=/dev/shm bench/files.sh build
set -euo pipefail

if [ "${PRIORITY:-1}" != 0 ] && [ -z "${NATTER_BENCH_SESSION:-}" ] && [ "$(id -u)" = 0 ] &&
   [ -w /proc/self/autogroup ]; then
  export NATTER_BENCH_SESSION=1
  exec setsid bash -c 'echo -15 > /proc/self/autogroup && exec "$0" "$@"' "$0" "$@"
fi
priority=$(cat /proc/self/autogroup 2>/dev/null || echo "no autogroup")

build=${1:-build}
size_mib=${SIZE_MIB:-1024}
rounds=${ROUNDS:-3}
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

# Sets $rss to the VmRSS (KiB) of process $1 without forking: the sampling
# loop must not take the CPU the transfer needs.
read_rss () {
  local key value rest
  rss=0
  # The process may have just exited: then its RSS is 0, quietly.
  { while read -r key value rest; do
      [ "$key" = "VmRSS:" ] && { rss=$value; return; }
    done < "/proc/$1/status"; } 2>/dev/null || true
}

# A sleep without a fork: read with a timeout on a pipe nobody writes to.
exec {nap}<> <(:)

cpu_ticks () { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# True once a file matching the glob $1 has bytes (no fork: [ -s ] is a builtin).
has_bytes () {
  local f
  for f in $1; do [ -s "$f" ] && return 0; done
  return 1
}

# run GLOB CMD…: runs CMD in the background, sampling its RSS and the
# server's every 20 ms; GLOB names the file whose first bytes mark the
# transfer's start. Sets elapsed and xfer (s), client_max, server_base,
# server_max (KiB), client_cpu, server_cpu (s of user + system time), out.
run () {
  local glob=$1 start end first= pid child server_ticks
  shift
  client_max=0; read_rss "$server_pid"; server_base=$rss; server_max=$rss
  server_ticks=$(cpu_ticks "$server_pid")
  start=$(date +%s.%N)
  /usr/bin/time -f '%U %S' -o "$tmp/cpu.txt" "$@" > "$tmp/out.txt" &
  pid=$!
  child=
  while kill -0 "$pid" 2>/dev/null; do
    [ -z "$child" ] && child=$(pgrep -P "$pid" | head -1 || true)
    if [ -n "$child" ]; then read_rss "$child"; (( rss > client_max )) && client_max=$rss; fi
    if [ -z "$first" ] && has_bytes "$glob"; then first=$(date +%s.%N); fi
    if [ -n "$first" ]; then read_rss "$server_pid"; (( rss > server_max )) && server_max=$rss; fi
    read -rt 0.02 -u "$nap" || true
  done
  wait "$pid"
  end=$(date +%s.%N)
  [ -n "$first" ] || first=$start
  elapsed=$(echo "$end - $start" | bc -l)
  xfer=$(echo "$end - $first" | bc -l)
  client_cpu=$(awk '{ print $1 + $2 }' "$tmp/cpu.txt")
  server_cpu=$(echo "($(cpu_ticks "$server_pid") - $server_ticks) / $(getconf CLK_TCK)" | bc -l)
  out=$(cat "$tmp/out.txt")
}

mbps () { echo "scale=1; $1 / $2 / 1000000" | bc -l; }
growth () { echo "scale=1; ($1 - $2) / 1024" | bc -l; }
median () { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
largest () { printf '%s\n' "$@" | sort -n | tail -1; }

bytes=$(( size_mib * 1048576 ))

# The 1-byte runs measure what a client takes anyway (sign-in, connect).
run "$tmp/data/uploads/*.part" "$cli_bin" --server "$url" upload general "$tmp/tiny"
tiny_up_client=$client_max
tiny_id=$("$cli_bin" --server "$url" upload general "$tmp/tiny")
run "$tmp/tiny.copy.part" "$cli_bin" --server "$url" download "$tiny_id" "$tmp/tiny.copy"
tiny_down_client=$client_max

up_rates=(); up_walls=(); down_rates=(); down_walls=()
up_cg=(); up_sg=(); down_cg=(); down_sg=()
printf '%-6s %-9s %6s %9s %9s %9s %9s %11s %11s\n' round direction MiB "MB/s" "wall MB/s" \
  "client s" "server s" "client +MiB" "server +MiB"
for round in $(seq "$rounds"); do
  # A file of its own each round: the same bytes again would take the
  # server's dedupe path (the blob exists, the upload is dropped).
  if (( round > 1 )); then
    printf '%08d' "$round" | dd of="$tmp/big" bs=8 count=1 conv=notrunc status=none
    want=$(sha256sum < "$tmp/big" | cut -d' ' -f1)
  fi
  run "$tmp/data/uploads/*.part" "$cli_bin" --server "$url" upload general "$tmp/big"
  id=$out
  up_rates+=("$(mbps $bytes "$xfer")"); up_walls+=("$(mbps $bytes "$elapsed")")
  up_cg+=("$(growth "$client_max" "$tiny_up_client")"); up_sg+=("$(growth "$server_max" "$server_base")")
  printf '%-6s %-9s %6d %9s %9s %9.2f %9.2f %11s %11s\n' "$round" upload "$size_mib" \
    "${up_rates[-1]}" "${up_walls[-1]}" "$client_cpu" "$server_cpu" "${up_cg[-1]}" "${up_sg[-1]}"

  rm -f "$tmp/big.copy"
  run "$tmp/big.copy.part" "$cli_bin" --server "$url" download "$id" "$tmp/big.copy"
  down_rates+=("$(mbps $bytes "$xfer")"); down_walls+=("$(mbps $bytes "$elapsed")")
  down_cg+=("$(growth "$client_max" "$tiny_down_client")"); down_sg+=("$(growth "$server_max" "$server_base")")
  printf '%-6s %-9s %6d %9s %9s %9.2f %9.2f %11s %11s\n' "$round" download "$size_mib" \
    "${down_rates[-1]}" "${down_walls[-1]}" "$client_cpu" "$server_cpu" "${down_cg[-1]}" "${down_sg[-1]}"
  got=$(sha256sum < "$tmp/big.copy" | cut -d' ' -f1)
  [ "$got" = "$want" ] || { echo "SHA-256 mismatch after the round trip" >&2; exit 1; }
done

echo "# median over $rounds rounds (MB/s of the transfer; of the whole command), largest RSS growth:"
echo "upload:   $(median "${up_rates[@]}") MB/s ($(median "${up_walls[@]}") wall); client +$(largest "${up_cg[@]}") MiB, server +$(largest "${up_sg[@]}") MiB"
echo "download: $(median "${down_rates[@]}") MB/s ($(median "${down_walls[@]}") wall); client +$(largest "${down_cg[@]}") MiB, server +$(largest "${down_sg[@]}") MiB"
echo "# sha256 ok every round; load average: $(cut -d' ' -f1-3 /proc/loadavg); autogroup: $priority"
