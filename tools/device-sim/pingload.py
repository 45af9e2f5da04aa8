#!/usr/bin/env python3
# CoAP pings (empty CON, RFC 7252 §4.3) round-robin to N consecutive loopback ports:
#   pingload.py FIRST_PORT N RATE SECONDS
# at RATE per second for SECONDS from one socket; prints how many were sent and how many RSTs came
# back. Used by measure.sh to see what a wake-up of the simulator costs.
import socket, sys, time
first, n, rate, seconds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setblocking(False)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
sent = got = 0
start = time.time()
mid = 0
while time.time() - start < seconds:
    due = int((time.time() - start) * rate)
    while sent < due:
        mid = (mid + 1) & 0xFFFF
        s.sendto(bytes([0x40, 0, mid >> 8, mid & 0xFF]), ("127.0.0.1", first + sent % n))
        sent += 1
    try:
        while True:
            s.recv(64); got += 1
    except BlockingIOError:
        pass
    time.sleep(0.001)
print(f"sent={sent} rst={got}")
