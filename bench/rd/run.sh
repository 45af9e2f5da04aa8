#!/usr/bin/env bash
# RD benchmark (bench/README.md, "Resource Directory"): durable registrations/s, lookups/s with
# 100,000 registered endpoints (3 links each) by rt and by ep, p50/p99 latency, RSS per endpoint,
# and libcoap's coap-server-notls GET rate in the same run as the reference. Loopback only;
# every phase is bounded in count and time.
#   bench/rd/run.sh [endpoints]     (default 100000)
# COAPGW_BENCH_BUILD names the Release build tree (default build/bench-release);
# COAPGW_BENCH_SECONDS the length of each rate phase (default 10).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
endpoints=${1:-100000}
seconds=${COAPGW_BENCH_SECONDS:-10}

scripts/install-deps >/dev/null
build=${COAPGW_BENCH_BUILD:-build/bench-release}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF -DCOAPGW_SANITIZE= >/dev/null
cmake --build "$build" -j2 --target coapgw_rd rd_load >/dev/null
case $build in /*) bin=$build/bin ;; *) bin=$root/$build/bin ;; esac

work=$(mktemp -d "$root/var/bench-rd.XXXXXX")
pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
rd_port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ref_port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  scripts/pg stop "$work/pg" || true
  rm -rf "$work"
}
trap cleanup EXIT

# Durable means durable: the database runs with fsync and synchronous_commit on (no --fast).
scripts/pg start "$work/pg" "$pg_port" >/dev/null
COAPGW_DATABASE_URL=$(scripts/pg url "$work/pg" "$pg_port") COAPGW_RD_LISTEN=127.0.0.1:$rd_port \
  COAPGW_LOG_LEVEL=warn COAPGW_BUS_PUB=tcp://127.0.0.1:1 "$bin/coapgw-rd" 2>"$work/rd.log" &
rd_pid=$!
pids+=("$rd_pid")
coap-server-notls -A 127.0.0.1 -p "$ref_port" 2>/dev/null &
pids+=($!)
sleep 1

rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
tick_hz=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
pg_ticks() {  # the bench cluster's postmaster and its children
  local postmaster total=0
  postmaster=$(head -1 "$work/pg/data/postmaster.pid")
  for pid in $postmaster $(ps --ppid "$postmaster" -o pid=); do
    total=$((total + $(cpu_ticks "$pid")))
  done
  echo "$total"
}
# rd_load "$@", plus the CPU seconds coapgw-rd and PostgreSQL used meanwhile: on a shared machine
# the rates depend on what else runs, the CPU cost per request much less.
measure() {
  local rd0 pg0 out
  rd0=$(cpu_ticks "$rd_pid")
  pg0=$(pg_ticks)
  out=$("$bin/rd_load" "$@" || true)
  awk -v out="$out" -v rd="$(($(cpu_ticks "$rd_pid") - rd0))" -v pg="$(($(pg_ticks) - pg0))" \
    -v hz="$tick_hz" 'BEGIN { printf "%s rd_cpu_s=%.2f pg_cpu_s=%.2f\n", out, rd / hz, pg / hz }'
}

echo "load average at start: $(cut -d" " -f1-3 /proc/loadavg)"
echo "== reference: coap-server-notls GET / (window 32, ${seconds}s)"
ref1=$("$bin/rd_load" --target="127.0.0.1:$ref_port" --mode=get --path=/ --window=32 --seconds="$seconds" --count=100000000 || true)
echo "$ref1"

rss_before=$(rss_kib "$rd_pid")
# Devices register from addresses of their own: every registration comes from a new source port.
echo "== registrations: $endpoints endpoints, 3 links each, a new peer each (window 256)"
reg=$(measure --target="127.0.0.1:$rd_port" --mode=register --count="$endpoints" --window=256 --seconds=600 --timeout=30 --peers=each)
echo "$reg"
sleep 2
rss_after=$(rss_kib "$rd_pid")
one=$(( endpoints < 20000 ? endpoints : 20000 ))
echo "== registrations: $one more endpoints from one peer (window 256)"
reg1=$(measure --target="127.0.0.1:$rd_port" --mode=register --first="$endpoints" --count="$one" --window=256 --seconds=600 --timeout=30)
echo "$reg1"

echo "== lookups by rt (window 32, ${seconds}s)"
lrt=$(measure --target="127.0.0.1:$rd_port" --mode=lookup-rt --endpoints="$endpoints" --window=32 --seconds="$seconds" --count=100000000)
echo "$lrt"
echo "== lookups by ep (window 32, ${seconds}s)"
lep=$(measure --target="127.0.0.1:$rd_port" --mode=lookup-ep --endpoints="$endpoints" --window=32 --seconds="$seconds" --count=100000000)
echo "$lep"

echo "== reference again"
ref2=$("$bin/rd_load" --target="127.0.0.1:$ref_port" --mode=get --path=/ --window=32 --seconds="$seconds" --count=100000000 || true)
echo "$ref2"

echo "load average at end: $(cut -d" " -f1-3 /proc/loadavg)"
python3 - "$ref1" "$ref2" "$reg" "$lrt" "$lep" "$reg1" "$rss_before" "$rss_after" "$endpoints" <<'PY'
import sys
def parse(line): return dict(kv.split("=", 1) for kv in line.split())
ref1, ref2, reg, lrt, lep, reg1 = (parse(x) for x in sys.argv[1:7])
rss_before, rss_after, n = int(sys.argv[7]), int(sys.argv[8]), int(sys.argv[9])
ref = (float(ref1["rate"]) + float(ref2["rate"])) / 2
print(f"\nsummary: reference {ref:.0f} GET/s (runs {ref1['rate']} and {ref2['rate']})")
def cost(r):
    n = max(int(r["answered"]), 1)
    rd, pg = float(r["rd_cpu_s"]), float(r["pg_cpu_s"])
    return (f"CPU per request: coapgw-rd {rd * 1e6 / n:.0f} us, PostgreSQL {pg * 1e6 / n:.0f} us"
            f" (one core each: {n / max(rd, 0.01):.0f}/s and {n / max(pg, 0.01):.0f}/s)")
for name, r in (("a new peer each", reg), ("one peer", reg1)):
    print(f"  durable registrations/s, {name}: {float(r['rate']):.0f}  p50 {r['p50_us']} us  p99 {r['p99_us']} us  ({r.get('code_2.01','0')} x 2.01, {r['timeouts']} timeouts)")
    print(f"    {cost(r)}")
for name, r in (("lookup by rt", lrt), ("lookup by ep", lep)):
    print(f"  {name}: {float(r['rate']):.0f}/s = {float(r['rate'])/ref:.2f} x reference  p50 {r['p50_us']} us  p99 {r['p99_us']} us")
    print(f"    {cost(r)}")
print(f"  RSS {rss_before} KiB -> {rss_after} KiB: {(rss_after-rss_before)*1024/n:.0f} bytes per endpoint")
PY
