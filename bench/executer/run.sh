#!/usr/bin/env bash
# Executer benchmark (bench/README.md, "Executer"): commands/s and p50/p99 latency through
# coapgw-bus and coapgw-executer to N simulated devices (default 1,000), against the same GETs sent
# straight over CoAP in the same run (the reference; overhead = executer path minus direct).
# The devices and the RD snapshot listing them come from bench/executer/device_farm (raw UDP on
# 127.0.0.1); no PostgreSQL is involved. Loopback only; every phase is bounded.
# Two runs: throughput (`window` commands outstanding) and latency (one at a time, 2,000 commands).
#   bench/executer/run.sh [devices] [commands] [window]     (default 1000 50000 64)
#   COAPGW_BENCH_BUILD    build folder (default build/bench-release)
set -euo pipefail
cd "$(dirname "$0")/../.."
devices=${1:-1000}
commands=${2:-50000}
window=${3:-64}
build=${COAPGW_BENCH_BUILD:-build/bench-release}
source bench/lib.sh

bench_build "$build" coapgw_executer coapgw_bus_service device_farm bench_executer
bench_work executer
pub=tcp://127.0.0.1:$(free_port)
sub=tcp://127.0.0.1:$(free_port)
http_port=$(free_port)

"$bin/device_farm" --devices="$devices" >"$work/farm.out" 2>"$work/farm.log" &
pids+=($!)
COAPGW_BUS_PUB=$pub COAPGW_BUS_SUB=$sub COAPGW_LOG_LEVEL=warn "$bin/coapgw-bus" 2>"$work/bus.log" &
pids+=($!)
rd_uri=$(farm_rd_uri)

COAPGW_RD_URI=$rd_uri COAPGW_BUS_PUB=$pub COAPGW_BUS_SUB=$sub COAPGW_LOG_LEVEL=warn \
  COAPGW_HTTP_LISTEN=127.0.0.1:$http_port "$bin/coapgw-executer" 2>"$work/executer.log" &
executer_pid=$!
pids+=("$executer_pid")
wait_ready "$http_port" "$work/executer.log"

run() {  # name commands window
  echo "== $1: $2 commands, window $3"
  "$bin/bench_executer" --rd="$rd_uri" --bus-pub="$pub" --bus-sub="$sub" --commands="$2" \
    --window="$3" --executer-pid="$executer_pid" 2>>"$work/bench.log" | tee "$work/$1.txt"
}
run throughput "$commands" "$window"
run latency 2000 1

python3 - "$work/throughput.txt" "$work/latency.txt" <<'PY'
import sys
print()
for path in sys.argv[1:]:
    rows, extra = {}, {}
    for line in open(path):
        words = line.split()
        pairs = dict(w.split("=", 1) for w in words if "=" in w)
        if words and "=" not in words[0]:
            rows[words[0]] = pairs
        else:
            extra.update(pairs)
    d, e = rows["direct"], rows["executer"]
    name = path.rsplit("/", 1)[-1][:-4]
    print(f"{name} (window {extra['window']}): executer {float(e['rate']):.0f} commands/s, direct "
          f"CoAP {float(d['rate']):.0f}/s ({float(e['rate'])/float(d['rate']):.2f} x); "
          f"p50 {e['p50_us']} vs {d['p50_us']} us (overhead {float(e['p50_us'])-float(d['p50_us']):.0f} us); "
          f"p99 {e['p99_us']} vs {d['p99_us']} us (overhead {float(e['p99_us'])-float(d['p99_us']):.0f} us); "
          f"executer CPU {extra['cpu_us_per_command']} us/command; failed {e['failed']} + {d['failed']}")
PY
