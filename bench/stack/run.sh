#!/usr/bin/env bash
# Whole-stack benchmark (bench/README.md, "Whole stack"): PostgreSQL, coapgw-bus, -rd,
# -ws-connector, -executer, -pinger, -observer, the platform simulator and N simulated devices
# (default 1,000) on this machine, Release binaries, loopback only. bench/stack/measure.py waits
# until every sensor is observed and every device is on the platform, then measures over a window
# (default 30 s): data events delivered to the platform against the notifications the devices
# emitted, command round trips through the gateway against direct CoAP GETs to the same devices
# in the same window, CPU and RSS per process. Every process is stopped on exit.
#   bench/stack/run.sh [devices] [seconds]      (default 1000 30; at most 10000 and 600)
#   COAPGW_BENCH_INTERVAL       sensor period of every device (default 1s: 2 notifications each)
#   COAPGW_BENCH_COMMAND_RATE   gateway commands per second, each followed by a direct GET (20)
#   COAPGW_BENCH_BUILD          Release build folder (default build/release, as scripts/run-stack)
set -euo pipefail
cd "$(dirname "$0")/../.."
devices=${1:-1000}
seconds=${2:-30}
interval=${COAPGW_BENCH_INTERVAL:-1s}
command_rate=${COAPGW_BENCH_COMMAND_RATE:-20}
build=${COAPGW_BENCH_BUILD:-build/release}
if ! [ "$devices" -ge 1 ] || ! [ "$devices" -le 10000 ] || ! [ "$seconds" -ge 1 ] ||
  ! [ "$seconds" -le 600 ]; then
  echo "usage: bench/stack/run.sh [devices 1..10000] [seconds 1..600]" >&2
  exit 2
fi

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j2 --target coapgw_bus_service coapgw_rd coapgw_ws_connector \
  coapgw_executer coapgw_pinger coapgw_observer coapgw_platform_sim coapgw_device_sim >/dev/null
bin=$(cd "$build/bin" && pwd)
source bench/lib.sh

bench_work stack
bench_pg_start "$(free_port tcp)"
export COAPGW_DATABASE_URL=$database
COAPGW_BUS_PUB=tcp://127.0.0.1:$(free_port tcp)
COAPGW_BUS_SUB=tcp://127.0.0.1:$(free_port tcp)
COAPGW_RD_LISTEN=127.0.0.1:$(free_port udp)
export COAPGW_BUS_PUB COAPGW_BUS_SUB COAPGW_RD_LISTEN COAPGW_RD_URI=coap://$COAPGW_RD_LISTEN
export COAPGW_LOG_LEVEL=warn COAPGW_PING_SOURCE=127.0.0.1:0
platform_port=$(free_port tcp)
control_port=$(free_port tcp)
observer_metrics=$(free_port tcp)
wsc_metrics=$(free_port tcp)

names=()
start() {  # start NAME [VAR=VALUE...] BINARY [ARGS...]
  local name=$1
  shift
  env "$@" >"$work/$name.log" 2>&1 </dev/null &
  pids+=($!)
  names+=("$name=$!")
}
wait_port() {  # wait_port udp|tcp PORT: the last started process listens on 127.0.0.1:PORT
  for _ in $(seq 300); do
    ss -Hln --"$1" "sport = :$2" | grep -q . && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

start bus "$bin/coapgw-bus"
start rd "$bin/coapgw-rd"
wait_port udp "${COAPGW_RD_LISTEN##*:}" || { cat "$work/rd.log"; exit 1; }
start platform-sim COAPGW_PLATFORM_SIM_LISTEN="127.0.0.1:$platform_port" \
  COAPGW_PLATFORM_SIM_HISTORY=100 "$bin/coapgw-platform-sim"
wait_port tcp "$platform_port" || { cat "$work/platform-sim.log"; exit 1; }
export COAPGW_PLATFORM_URL=ws://127.0.0.1:$platform_port
export COAPGW_PLATFORM_USER=demo COAPGW_PLATFORM_PASSWORD=demo
start ws-connector COAPGW_HTTP_LISTEN="127.0.0.1:$wsc_metrics" "$bin/coapgw-ws-connector"
start executer "$bin/coapgw-executer"
start pinger "$bin/coapgw-pinger"
# The two sensors of every device (not /info, /config/label, /firmware... every 30 s).
start observer COAPGW_HTTP_LISTEN="127.0.0.1:$observer_metrics" COAPGW_OBSERVER_FILTER=if=core.s \
  "$bin/coapgw-observer"
# Devices on consecutive ports below the ephemeral range (32768...), from a random base: another
# program may hold one of them, so a start that cannot bind is tried again at another base.
for attempt in 1 2 3; do
  base=$((20000 + RANDOM % (12000 - devices)))
  start device-sim COAPGW_DEVICE_SIM_DEVICES="$devices" COAPGW_DEVICE_SIM_OBS_PERCENT=100 \
    COAPGW_DEVICE_SIM_LISTEN="127.0.0.1:$base" COAPGW_DEVICE_SIM_INTERVAL="$interval" \
    COAPGW_DEVICE_SIM_LIFETIME=3600 COAPGW_DEVICE_SIM_TYPE=iot#bench-device \
    COAPGW_DEVICE_SIM_DEREGISTER=false COAPGW_DEVICE_SIM_CONTROL="127.0.0.1:$control_port" \
    "$bin/coapgw-device-sim"
  wait_port tcp "$control_port" && break
  if ! grep -q "cannot bind" "$work/device-sim.log" || [ "$attempt" -eq 3 ]; then
    cat "$work/device-sim.log"
    exit 1
  fi
  wait "${pids[-1]}" || true
  unset 'pids[-1]' 'names[-1]'
done
postmaster=$(head -n 1 "$work/pg/data/postmaster.pid")

echo "== whole stack: $devices devices, sensors every $interval, $command_rate commands/s," \
  "${seconds} s measured ($(git rev-parse --short HEAD), $build)"
status=0
python3 bench/stack/measure.py --devices "$devices" --seconds "$seconds" \
  --command-rate "$command_rate" --platform "$platform_port" --control "$control_port" \
  --observer-metrics "$observer_metrics" --wsc-metrics "$wsc_metrics" \
  --pids "$(IFS=,; echo "${names[*]}"),postgres=$postmaster" || status=$?
for pid in "${pids[@]}"; do
  kill -0 "$pid" 2>/dev/null || { echo "bench: a process exited early; logs:" >&2; status=1; }
done
if [ "$status" -ne 0 ]; then
  for log in "$work"/*.log; do echo "== $log"; tail -n 5 "$log"; done >&2
fi
for log in "$work"/*.log; do  # the services log at warn: anything here is worth a look
  n=$(grep -c -E ' (WARN|ERROR) ' "$log" || true)
  if [ "$n" -gt 0 ]; then
    echo "$(basename "$log" .log): $n warnings/errors, the last:"
    grep -E ' (WARN|ERROR) ' "$log" | tail -n 2
  fi
done
exit "$status"
