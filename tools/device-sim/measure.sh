#!/usr/bin/env bash
# What N simulated devices cost: one coapgw-device-sim with N devices on consecutive loopback
# ports registering with a real coapgw-rd (fresh database) through a real coapgw-bus.
#   tools/device-sim/measure.sh BUILD_DIR N [full|simple|none] [FIRST_PORT]
# Needs a PostgreSQL: COAPGW_DATABASE_URL (a role that may CREATE DATABASE), else one is started
# with scripts/pg in var/pg-devsim-bench on port 55437 (left running; scripts/pg stop to end it).
# Prints one line: devices, seconds to bind, seconds until every device registered and the CPU
# seconds the simulator and the RD spent until then, descriptors, RSS, CPU over 10 s of steady
# state (sensors change every 5 s, nobody observes), CPU while 2,000 pings/s go round all devices
# (pingload.py) and the RSS after, seconds to stop (deregistration included, 3 s at most).
# COAPGW_DEVICE_SIM_DEVICES_PER_LOOP and other COAPGW_DEVICE_SIM_* settings pass through.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:?build dir}
count=${2:?device count}
mode=${3:-full}
first_port=${4:-20000}
bin=$build/bin

if [ -z "${COAPGW_DATABASE_URL:-}" ]; then
  scripts/pg start var/pg-devsim-bench 55437 --fast >/dev/null
  COAPGW_DATABASE_URL=$(scripts/pg url var/pg-devsim-bench 55437)
fi
database=devsim_bench_$$
psql -X -q "$COAPGW_DATABASE_URL" -c "CREATE DATABASE $database" </dev/null
url=${COAPGW_DATABASE_URL%/*}/$database

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rd_port=$(free_port)
bus_pub=tcp://127.0.0.1:$(free_port)
bus_sub=tcp://127.0.0.1:$(free_port)
logs=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  psql -X -q "$COAPGW_DATABASE_URL" -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" </dev/null || true
  rm -rf "$logs"
}
trap cleanup EXIT

wait_for() {  # wait_for FILE TEXT SECONDS
  local deadline=$((SECONDS + $3))
  until grep -qs "$2" "$1"; do
    [ $SECONDS -lt $deadline ] || { echo "timeout waiting for '$2' in $1" >&2; tail -5 "$1" >&2; exit 1; }
    sleep 0.05
  done
}

COAPGW_BUS_PUB=$bus_pub COAPGW_BUS_SUB=$bus_sub "$bin/coapgw-bus" 2>"$logs/bus.log" &
pids+=($!)
wait_for "$logs/bus.log" forwarding 10
COAPGW_DATABASE_URL=$url COAPGW_RD_LISTEN=127.0.0.1:$rd_port COAPGW_BUS_PUB=$bus_pub \
  COAPGW_BUS_SUB=$bus_sub COAPGW_LOG_LEVEL=warn "$bin/coapgw-rd" 2>"$logs/rd.log" &
rd=$!
pids+=($rd)
sleep 0.5
until python3 - "$rd_port" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.2)
s.sendto(bytes([0x40, 0, 0, 1]), ("127.0.0.1", int(sys.argv[1])))  # CoAP ping
try:
    s.recv(16)
except OSError:
    sys.exit(1)
EOF
do sleep 0.1; done

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rd_ticks0=$(ticks "$rd")
start=$(date +%s.%N)
COAPGW_RD_URI=coap://127.0.0.1:$rd_port COAPGW_DEVICE_SIM_DEVICES=$count \
  COAPGW_DEVICE_SIM_LISTEN=127.0.0.1:$first_port COAPGW_DEVICE_SIM_REGISTRATION=$mode \
  COAPGW_DEVICE_SIM_LIFETIME=3600 COAPGW_LOG_LEVEL=info "$bin/coapgw-device-sim" 2>"$logs/sim.log" &
sim=$!
pids+=($sim)
wait_for "$logs/sim.log" "devices listening" 600
bound=$(date +%s.%N)
if [ "$mode" != none ]; then
  wait_for "$logs/sim.log" "all devices registered" 600
fi
registered=$(date +%s.%N)
# CPU time spent until every device registered (a busy machine stretches the wall clock, not
# this): the simulator's and the RD's.
sim_ticks_registered=$(ticks "$sim")
rd_ticks_registered=$(ticks "$rd")

t0=$(ticks "$sim")
sleep 10
t1=$(ticks "$sim")
# After 10 s the sessions that carried the registrations are closed (1 s idle).
fds=$(ls "/proc/$sim/fd" | wc -l)
rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$sim/status")
# 2,000 pings a second over every device for 5 s: each wakes a loop and leaves a server session.
p0=$(ticks "$sim")
pings=$(python3 tools/device-sim/pingload.py "$first_port" "$count" 2000 5)
p1=$(ticks "$sim")
rss_pinged_kb=$(awk '/VmRSS/ {print $2}' "/proc/$sim/status")
hz=$(getconf CLK_TCK)
stop_start=$(date +%s.%N)
kill -TERM "$sim"
wait "$sim" || true
stopped=$(date +%s.%N)

python3 - "$count" "$mode" "$start" "$bound" "$registered" "$fds" "$rss_kb" "$t0" "$t1" "$hz" \
  "$stop_start" "$stopped" "$sim_ticks_registered" "$rd_ticks0" "$rd_ticks_registered" \
  "$p0" "$p1" "$rss_pinged_kb" "$pings" <<'EOF'
import sys
n, mode = int(sys.argv[1]), sys.argv[2]
start, bound, registered = map(float, sys.argv[3:6])
fds, rss_kb, t0, t1, hz = map(int, sys.argv[6:11])
stop_start, stopped = map(float, sys.argv[11:13])
sim_reg, rd0, rd_reg, p0, p1, rss_pinged_kb = map(int, sys.argv[13:19])
pings = sys.argv[19]
print(f"devices={n} registration={mode} bind_s={bound - start:.2f} "
      f"registered_s={registered - bound:.2f} sim_cpu_s={sim_reg / hz:.2f} "
      f"rd_cpu_s={(rd_reg - rd0) / hz:.2f} fds={fds} rss_mib={rss_kb / 1024:.1f} "
      f"idle_cpu_pct={(t1 - t0) * 100 / hz / 10:.1f} ping_cpu_pct={(p1 - p0) * 100 / hz / 5:.1f} "
      f"({pings}) rss_after_pings_mib={rss_pinged_kb / 1024:.1f} "
      f"stop_s={stopped - stop_start:.2f}")
EOF
grep -E "all devices registered|WARN|ERROR" "$logs/sim.log" | tail -3 >&2 || true
