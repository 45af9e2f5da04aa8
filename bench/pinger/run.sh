#!/usr/bin/env bash
# Pinger benchmark (bench/README.md, "Pinger"): CPU that coapgw-pinger uses to keep N devices
# (default 10,000) checked every interval (default 10 s), measured from /proc/<pid>/stat
# (utime + stime) over a bounded window after one interval of warm-up. The devices are
# bench/executer/device_farm (raw UDP sockets on 127.0.0.1 answering pings with RST, plus the RD
# snapshot listing them); its CPU for answering the same pings is the same-run reference.
# No bus is running: the pinger publishes nothing while every device answers. Loopback only.
#   bench/pinger/run.sh [devices] [interval]     (default 10000 10s)
#   COAPGW_BENCH_SECONDS  measuring window in seconds (default 30)
#   COAPGW_BENCH_BUILD    build folder (default build/bench-release)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
devices=${1:-10000}
interval=${2:-10s}
seconds=${COAPGW_BENCH_SECONDS:-30}
build=${COAPGW_BENCH_BUILD:-build/bench-release}
source bench/lib.sh

bench_build "$build" coapgw_pinger device_farm
bench_work pinger
http_port=$(free_port)

"$bin/device_farm" --devices="$devices" >"$work/farm.out" 2>"$work/farm.log" &
farm_pid=$!
pids+=("$farm_pid")
rd_uri=$(farm_rd_uri)

COAPGW_RD_URI=$rd_uri COAPGW_PING_INTERVAL=$interval COAPGW_PING_TIMEOUT=3s \
  COAPGW_PING_SOURCE=127.0.0.1:0 COAPGW_HTTP_LISTEN=127.0.0.1:$http_port COAPGW_LOG_LEVEL=warn \
  COAPGW_BUS_PUB=tcp://127.0.0.1:$(free_port) COAPGW_BUS_SUB=tcp://127.0.0.1:$(free_port) \
  "$bin/coapgw-pinger" 2>"$work/pinger.log" &
pinger_pid=$!
pids+=("$pinger_pid")
wait_ready "$http_port" "$work/pinger.log"

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
metric() { curl -s "http://127.0.0.1:$http_port/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
interval_s=$(python3 -c "import re,sys; t='$interval'; m=re.fullmatch(r'([0-9.]+)(ms|s|m)?', t); v=float(m.group(1)); u=m.group(2) or 's'; print(v/1000 if u=='ms' else v*60 if u=='m' else v)")

echo "== $devices devices, interval $interval: warm-up ${interval_s}s, then ${seconds}s measured"
sleep "$interval_s"
p0=$(ticks "$pinger_pid"); f0=$(ticks "$farm_pid")
pings0=$(metric coapgw_pinger_pings_total); misses0=$(metric coapgw_pinger_misses_total)
t0=$(date +%s.%N)
sleep "$seconds"
p1=$(ticks "$pinger_pid"); f1=$(ticks "$farm_pid")
pings1=$(metric coapgw_pinger_pings_total); misses1=$(metric coapgw_pinger_misses_total)
t1=$(date +%s.%N)
sessions=$(metric coapgw_pinger_sessions)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$pinger_pid/status")

python3 - "$p0" "$p1" "$f0" "$f1" "$pings0" "$pings1" "$misses0" "$misses1" "$t0" "$t1" \
  "$(getconf CLK_TCK)" "$devices" "$interval_s" "$sessions" "$rss" <<'PY'
import sys
p0, p1, f0, f1 = (int(x) for x in sys.argv[1:5])
pings0, pings1, misses0, misses1 = (float(x) for x in sys.argv[5:9])
t0, t1, hz = float(sys.argv[9]), float(sys.argv[10]), int(sys.argv[11])
devices, interval, sessions, rss = int(sys.argv[12]), float(sys.argv[13]), sys.argv[14], sys.argv[15]
wall = t1 - t0
pings = pings1 - pings0
pinger_cpu = (p1 - p0) / hz
farm_cpu = (f1 - f0) / hz
print(f"window {wall:.1f} s: {pings:.0f} pings = {pings/wall:.0f}/s (expected {devices/interval:.0f}/s), "
      f"{misses1-misses0:.0f} misses")
print(f"pinger CPU {pinger_cpu:.2f} s = {100*pinger_cpu/wall:.1f} % of one core, "
      f"{1e6*pinger_cpu/max(pings,1):.1f} us per ping; RSS {rss} KiB; sessions open {sessions}")
print(f"reference (device_farm answering the same pings, raw epoll + recvfrom/sendto): "
      f"CPU {farm_cpu:.2f} s = {100*farm_cpu/wall:.1f} %, {1e6*farm_cpu/max(pings,1):.1f} us per ping")
PY
