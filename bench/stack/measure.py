#!/usr/bin/env python3
"""Measures a running whole stack (started by bench/stack/run.sh): waits until every device is
observed and on the platform, then over one window of SECONDS measures the data events the platform
simulator received against the notifications the device simulator emitted, command round trips
through the gateway (platform-sim POST /api/command -> response) against direct CoAP GETs to the
same devices, and the CPU (utime + stime from /proc/<pid>/stat) and RSS of every process.

Everything talks to 127.0.0.1 only. Bounded: setup waits at most --setup-timeout seconds, the
window lasts --seconds, one command or direct GET waits at most 15 s."""

import argparse
import json
import os
import random
import socket
import statistics
import struct
import sys
import threading
import time
import urllib.request

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
HZ = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def http(url, body=None, timeout=20.0):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with OPENER.open(request, timeout=timeout) as response:
        return response.read()


def metrics(port):
    """Prometheus text of 127.0.0.1:port/metrics as {name{labels}: value}."""
    values = {}
    for line in http(f"http://127.0.0.1:{port}/metrics").decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def ticks(pid):
    """utime + stime of a process in clock ticks (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except OSError:
        return 0


def rss_mib(pid):
    try:
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * PAGE / 2**20
    except OSError:
        return 0.0


def children(pid):
    """The process and its direct children (PostgreSQL's backends)."""
    found = [pid]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except OSError:
                pass
    return found


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


class CoapGet:
    """Confirmable CoAP GETs from one UDP socket, one at a time (the direct reference)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.mid = random.randrange(65536)

    def get(self, address, path, timeout=15.0):
        host, port = address.rsplit(":", 1)
        self.mid = (self.mid + 1) % 65536
        token = os.urandom(4)
        options = b""
        previous = 0
        for segment in path.strip("/").split("/"):
            value = segment.encode()
            delta = 11 - previous  # Uri-Path
            previous = 11
            options += bytes([(delta << 4) | len(value)]) + value  # segments < 13 bytes
        message = struct.pack("!BBH", 0x44, 0x01, self.mid) + token + options
        deadline = time.monotonic() + timeout
        self.sock.sendto(message, (host, int(port)))
        while True:
            self.sock.settimeout(max(0.001, deadline - time.monotonic()))
            reply = self.sock.recv(2048)
            if reply[4:8] == token and reply[1] == 0x45:  # 2.05 Content
                return


def wait_until(what, timeout, condition, pids):
    deadline = time.monotonic() + timeout
    while True:
        for name, pid in pids.items():
            if ticks(pid) == 0 and not os.path.exists(f"/proc/{pid}"):
                sys.exit(f"bench: {name} exited during the setup")
        done, detail = condition()
        if done:
            print(f"  {what}: {detail}", flush=True)
            return
        if time.monotonic() > deadline:
            sys.exit(f"bench: {what} not reached within {timeout} s ({detail})")
        time.sleep(1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--setup-timeout", type=float, default=180)
    parser.add_argument("--command-rate", type=float, default=20, help="gateway commands per s")
    parser.add_argument("--platform", required=True, help="platform-sim port")
    parser.add_argument("--control", required=True, help="device-sim control port")
    parser.add_argument("--observer-metrics", required=True)
    parser.add_argument("--wsc-metrics", required=True)
    parser.add_argument("--pids", required=True, help="name=pid,...; postgres = the postmaster")
    args = parser.parse_args()
    platform = f"http://127.0.0.1:{args.platform}"
    pids = dict((name, int(pid)) for name, pid in (p.split("=") for p in args.pids.split(",")))

    print("setup:", flush=True)

    def observed():
        m = metrics(args.observer_metrics)
        n = m.get("coapgw_observer_observed_resources", 0)
        return n >= 2 * args.devices, f"{n:.0f} of {2 * args.devices} sensors observed"

    wait_until("observer", args.setup_timeout, observed, pids)

    def listened():
        state = json.loads(http(f"{platform}/api/state"))
        n = sum(1 for d in state["devices"] if d["listened"])
        return n >= args.devices, f"{n} of {args.devices} devices listened on the platform"

    wait_until("platform", args.setup_timeout, listened, pids)
    state = json.loads(http(f"{platform}/api/state"))
    uri_of = {d["name"]: d["uri"] for d in state["devices"] if d["listened"]}
    devices = [(uri_of[d["ep"]], d["address"]) for d in json.loads(http(
        f"http://127.0.0.1:{args.control}/devices")) if d["ep"] in uri_of]
    time.sleep(args.warmup)

    def snapshot():
        sim = metrics(args.control)
        obs = metrics(args.observer_metrics)
        wsc = metrics(args.wsc_metrics)
        counters = json.loads(http(f"{platform}/api/state"))["counters"]
        cpu = {name: sum(ticks(p) for p in (children(pid) if name == "postgres" else [pid]))
               for name, pid in pids.items()}
        return {
            "time": time.monotonic(),
            "emitted": sim.get("coapgw_device_sim_notifications_total", 0),
            "observed": obs.get('coapgw_observer_values_total{source="notification"}', 0),
            "published": obs.get("coapgw_observer_events_total", 0),
            "sent": wsc.get("coapgw_wsc_events_sent_total", 0),
            "outbox": wsc.get("coapgw_wsc_outbox_pending", 0),
            "delivered": counters.get("events", 0),
            "cpu": cpu,
            "self": os.times(),
        }

    latencies = {"gateway": [], "direct": []}
    failures = {"gateway": 0, "direct": 0}
    stop = threading.Event()

    def commands():
        coap = CoapGet()
        period = 1.0 / args.command_rate
        next_at = time.monotonic()
        while not stop.is_set():
            uri, address = random.choice(devices)
            start = time.monotonic()
            try:
                task = json.loads(http(f"{platform}/api/command",
                                       {"device_uri": uri, "service_url": "GET /sensors/temp"}))
                response = json.loads(http(
                    f"{platform}/api/responses?task_id={task['task_id']}&wait_ms=15000"))
                parts = {p["name"]: p["value"] for p in response["payload"]["protocol_parts"]}
                if json.loads(parts["metadata"]).get("code") != "2.05":
                    raise ValueError(parts["metadata"])
                latencies["gateway"].append(time.monotonic() - start)
            except Exception:  # noqa: BLE001 - counted, the window goes on
                failures["gateway"] += 1
            start = time.monotonic()
            try:
                coap.get(address, "/sensors/temp")
                latencies["direct"].append(time.monotonic() - start)
            except OSError:
                failures["direct"] += 1
            next_at += period
            stop.wait(max(0.0, next_at - time.monotonic()))

    before = snapshot()
    load_before = open("/proc/loadavg").read().split()[:3]
    driver = threading.Thread(target=commands)
    driver.start()
    time.sleep(args.seconds)
    stop.set()
    driver.join()
    after = snapshot()
    load_after = open("/proc/loadavg").read().split()[:3]
    wall = after["time"] - before["time"]

    def rate(key):
        return (after[key] - before[key]) / wall

    delivered = rate("delivered")
    emitted = rate("emitted")
    print(f"window {wall:.1f} s, {args.devices} devices, load average "
          f"{' '.join(load_before)} -> {' '.join(load_after)}")
    print(f"events/s: emitted by the devices {emitted:,.0f}, observed {rate('observed'):,.0f}, "
          f"published {rate('published'):,.0f}, sent by the ws-connector {rate('sent'):,.0f}, "
          f"delivered to the platform {delivered:,.0f}; delivered/emitted "
          f"{delivered / emitted if emitted else 0:.3f}; ws-connector outbox "
          f"{before['outbox']:,.0f} -> {after['outbox']:,.0f} waiting")
    for path in ("gateway", "direct"):
        values = latencies[path]
        if values:
            print(f"{path:7s} GET /sensors/temp: {len(values)} ok, {failures[path]} failed, p50 "
                  f"{1e3 * percentile(values, 50):.2f} ms, p99 {1e3 * percentile(values, 99):.2f}"
                  f" ms, mean {1e3 * statistics.mean(values):.2f} ms")
        else:
            print(f"{path:7s}: none answered, {failures[path]} failed")
    if latencies["gateway"] and latencies["direct"]:
        g, d = latencies["gateway"], latencies["direct"]
        print(f"command round trip / direct CoAP: p50 "
              f"{percentile(g, 50) / percentile(d, 50):.1f}x, p99 "
              f"{percentile(g, 99) / percentile(d, 99):.1f}x")
    events = after["delivered"] - before["delivered"]
    total = 0.0
    print(f"{'process':14s} {'CPU %':>7s} {'us/event':>9s} {'RSS MiB':>8s}")
    for name, pid in pids.items():
        cpu = (after["cpu"][name] - before["cpu"][name]) / HZ
        total += cpu
        rss = sum(rss_mib(p) for p in (children(pid) if name == "postgres" else [pid]))
        print(f"{name:14s} {100 * cpu / wall:7.1f} {1e6 * cpu / max(events, 1):9.1f} {rss:8.1f}")
    own = sum(after["self"][:2]) - sum(before["self"][:2])
    print(f"{'(all above)':14s} {100 * total / wall:7.1f} {1e6 * total / max(events, 1):9.1f}")
    print(f"{'(this script)':14s} {100 * own / wall:7.1f}")


if __name__ == "__main__":
    main()
