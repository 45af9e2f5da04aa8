#!/usr/bin/env bash
# WebSocket connector benchmark (bench/README.md, "WebSocket connector"): events/s from the bus
# through coapgw-ws-connector (outbox in PostgreSQL, fsync on) to a platform over one connection,
# and command round trips with an executer that answers at once, each against a reference measured
# in the same run (the bus alone; a raw WebSocket round trip). The RD snapshot (one device) comes
# from bench/executer/device_farm. Then the events phase again with coapgw-platform-sim as the
# platform (a fresh outbox database). Loopback only; every phase is bounded.
#   bench/ws_connector/run.sh [events] [window] [commands]     (default 100000 2000 2000)
#   COAPGW_BENCH_BUILD    build folder (default build/bench-release)
#   COAPGW_BENCH_PG_PORT  port of the throwaway PostgreSQL (default 55499)
set -euo pipefail
cd "$(dirname "$0")/../.."
events=${1:-100000}
window=${2:-2000}
commands=${3:-2000}
build=${COAPGW_BENCH_BUILD:-build/bench-release}
pg_port=${COAPGW_BENCH_PG_PORT:-55499}
source bench/lib.sh

bench_build "$build" coapgw_ws_connector coapgw_bus_service device_farm coapgw_platform_sim \
  bench_ws_connector
bench_work ws-connector
pub=tcp://127.0.0.1:$(free_port)
sub=tcp://127.0.0.1:$(free_port)

bench_pg_start "$pg_port" ${COAPGW_BENCH_PG_FAST:+--fast}
"$bin/device_farm" --devices=1 >"$work/farm.out" 2>"$work/farm.log" &
pids+=($!)
COAPGW_BUS_PUB=$pub COAPGW_BUS_SUB=$sub COAPGW_LOG_LEVEL=warn "$bin/coapgw-bus" 2>"$work/bus.log" &
pids+=($!)
rd_uri=$(farm_rd_uri)

bench() {  # database extra-arguments...
  COAPGW_DATABASE_URL=$1 COAPGW_RD_URI=$rd_uri COAPGW_BUS_PUB=$pub COAPGW_BUS_SUB=$sub \
    COAPGW_DEFAULT_DEVICE_TYPE=iot#bench COAPGW_LOG_LEVEL=warn \
    "$bin/bench_ws_connector" --connector="$bin/coapgw-ws-connector" --bus-pub="$pub" \
    --bus-sub="$sub" --events="$events" --window="$window" "${@:2}"
}
bench "$database" --commands="$commands" | tee "$work/result.txt"

# The same events into coapgw-platform-sim (its own database: a fresh outbox and gateway).
psql -X -q "$database" -c "CREATE DATABASE coapgw_sim" >/dev/null
sim_port=$(free_port)
COAPGW_PLATFORM_SIM_LISTEN=127.0.0.1:$sim_port COAPGW_LOG_LEVEL=warn "$bin/coapgw-platform-sim" \
  2>"$work/sim.log" &
pids+=($!)
bench "${database%/*}/coapgw_sim" --sim-port="$sim_port" | tee -a "$work/result.txt"

python3 - "$work/result.txt" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    words = line.split()
    if words:
        rows[words[0]] = dict(w.split("=", 1) for w in words[1:] if "=" in w)
bus, wsc = float(rows["bus"]["rate"]), float(rows["connector"]["rate"])
sim, bus_sim = float(rows["connector-sim"]["rate"]), float(rows["bus-sim"]["rate"])
cmd, echo = rows["commands"], rows["ws-echo"]
print()
print(f"events: connector {wsc:.0f}/s = {wsc / bus:.2f} x the bus alone ({bus:.0f}/s); "
      f"into coapgw-platform-sim {sim:.0f}/s = {sim / bus_sim:.2f} x the bus alone ({bus_sim:.0f}/s)")
print(f"commands: p50 {cmd['p50_us']} us = {float(cmd['p50_us']) / float(echo['p50_us']):.1f} x "
      f"a raw WebSocket round trip ({echo['p50_us']} us); p99 {cmd['p99_us']} us "
      f"(echo {echo['p99_us']} us)")
PY
