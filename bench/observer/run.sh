#!/usr/bin/env bash
# The observer benchmark matrix of bench/README.md ("Observer"): one and two coapgw-observer
# instances against 10,000 simulated devices, at the target rate and saturated, and a bus stall.
#   bench/observer/run.sh [BUILD_DIR]     (default: build-release; Release, BUILD_TESTING=OFF)
set -euo pipefail
build=${1:-build-release}
cmake --build "$build" -j2 --target coapgw_bus_service coapgw_observer observer_bench >/dev/null
run() {
  echo "=== observer_bench $* (load: $(cut -d' ' -f1-3 /proc/loadavg))"
  "$build/bin/observer_bench" --bin-dir "$build/bin" --devices 10000 --sockets 100 \
    --warmup 3 --seconds 15 "$@" 2>&1 | grep -v ' INFO '
}
run --instances 1 --rate 25000 --baseline
run --instances 1 --rate 100000
run --instances 2 --rate 25000
run --instances 2 --rate 100000
run --instances 1 --rate 25000 --stall-bus 8 --seconds 20
