# shellcheck shell=bash
# What the bench/*/run.sh scripts share; sourced from the repository root (`source bench/lib.sh`).
#   bench_build BUILD TARGET...   Release build (BUILD_TESTING=OFF) of the targets; sets $bin
#   bench_work NAME               a work folder $work and an empty $pids; on exit (or INT/TERM)
#                                 every process in $pids is stopped (SIGTERM, last started first,
#                                 SIGKILL after 10 s), PostgreSQL of bench_pg_start too, $work removed
#   free_port [tcp|udp]           a free port on 127.0.0.1 (default tcp)
#   bench_pg_start PORT [--fast]  a throwaway PostgreSQL in $work/pg; sets $database (its URL)
#   farm_rd_uri                   the RD URI bench/executer/device_farm wrote to $work/farm.out
#   wait_ready PORT LOG           waits (30 s) for 200 from http://127.0.0.1:PORT/readyz; else
#                                 prints LOG and exits 1

# shellcheck disable=SC2034 # (bin is for the caller)
bench_build() {
  local build=$1
  shift
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
  cmake --build "$build" -j2 --target "$@" >/dev/null
  bin=$(cd "$build/bin" && pwd)
}

# shellcheck disable=SC2317 # (run by the trap)
bench_cleanup() {
  local pid i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[$i]}" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  if [ -d "$work/pg" ]; then scripts/pg stop "$work/pg" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}

bench_work() {
  work=$(mktemp -d "/tmp/coapgw-bench-$1.XXXXXX")
  chmod 755 "$work"
  pids=()
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

free_port() {
  python3 -c 'import socket, sys
s = socket.socket(type=socket.SOCK_STREAM if sys.argv[1] == "tcp" else socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' "${1:-tcp}"
}

# shellcheck disable=SC2034 # (database is for the caller)
bench_pg_start() {
  scripts/pg start "$work/pg" "$@" >/dev/null
  database=$(scripts/pg url "$work/pg" "$1")
}

farm_rd_uri() {
  for _ in $(seq 100); do grep -q '^rd=' "$work/farm.out" && break; sleep 0.1; done
  sed -n 's/^rd=\([^ ]*\).*/\1/p' "$work/farm.out"
}

wait_ready() {
  for _ in $(seq 300); do
    curl -sf "http://127.0.0.1:$1/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  cat "$2"
  exit 1
}
