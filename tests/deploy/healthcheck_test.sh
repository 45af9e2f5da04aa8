#!/bin/bash
# deploy/docker/healthcheck (the images' HEALTHCHECK) against a real coapgw-bus on loopback:
# 0 while /healthz and /readyz answer 200, 1 with a reason for a 404, a closed port and an unset
# COAPGW_HTTP_LISTEN.
#   healthcheck_test.sh HEALTHCHECK COAPGW_BUS_BINARY
set -u
check=$1
bus=$2
[ -x "$bus" ] || { echo "$bus not built" >&2; exit 1; }
failures=0
expect() {  # expect CODE DESCRIPTION COMMAND...
  local want=$1 what=$2
  shift 2
  local output code
  output=$("$@" 2>&1)
  code=$?
  if [ "$code" -ne "$want" ]; then
    echo "FAIL: $what: exit $code, expected $want ($output)" >&2
    failures=$((failures + 1))
  else
    echo "ok: $what${output:+ ($output)}"
  fi
}

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
COAPGW_BUS_PUB='tcp://127.0.0.1:*' COAPGW_BUS_SUB='tcp://127.0.0.1:*' \
  COAPGW_HTTP_LISTEN="127.0.0.1:$port" "$bus" 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
# Ready within 10 s (polled; the bus binds in milliseconds).
for ((i = 0; i < 200; i++)); do
  COAPGW_HTTP_LISTEN="0.0.0.0:$port" "$check" /readyz 2>/dev/null && break
  kill -0 $pid 2>/dev/null || { echo "coapgw-bus exited" >&2; exit 1; }
  sleep 0.05
done

export COAPGW_HTTP_LISTEN="0.0.0.0:$port"
expect 0 "/healthz of a running service (wildcard host asked on loopback)" "$check"
expect 0 "/readyz of a ready service" "$check" /readyz
expect 1 "a path that answers 404" "$check" /no-such-path
COAPGW_HTTP_LISTEN="127.0.0.1:$port" expect 0 "an explicit host" "$check"
kill $pid
wait $pid 2>/dev/null
expect 1 "a stopped service" "$check"
COAPGW_HTTP_LISTEN="" expect 1 "no COAPGW_HTTP_LISTEN" "$check"
echo "deploy.healthcheck: $((6 - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
