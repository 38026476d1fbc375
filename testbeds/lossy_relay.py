#!/usr/bin/env python3
"""A degraded signalling path for testbeds (issue 10, degraded networks).

The kernel here has no netem, so the impairment is done in user space: a
UDP relay between one SIP client and the switch, on 127.0.0.1 only.

    client --> LISTEN (this relay) --> from an ephemeral socket --> TARGET
    client <-- LISTEN (this relay) <-- that socket        <-- TARGET

The switch sees the relay's ephemeral socket as the client's address
(the client's Via has rport), so its responses and, for a registered
client, its requests come back through the relay too. Every datagram,
both ways, is independently dropped (LOSS), duplicated (DUP; the copy
follows 0-20 ms later) or held back 20-80 ms so later ones overtake it
(REORDER). Deterministic for a SEED. Counts are written to STATS (JSON)
every second and on exit.

usage: lossy_relay.py LISTEN_PORT TARGET_PORT STATS [LOSS DUP REORDER SEED]
"""
import heapq
import json
import random
import select
import signal
import socket
import sys
import time

listen_port, target_port, stats_path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
loss, dup, reorder = (float(x) for x in (sys.argv[4:7] if len(sys.argv) >= 7 else ("0.05", "0.05", "0.05")))
rng = random.Random(int(sys.argv[7]) if len(sys.argv) >= 8 else 1)
target = ("127.0.0.1", target_port)

front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
front.bind(("127.0.0.1", listen_port))
back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
back.bind(("127.0.0.1", 0))
client = None
stats = {"in": 0, "dropped": 0, "duplicated": 0, "reordered": 0, "sent": 0}
queue = []  # (due, seq, sock, data, addr)
seq = 0


def schedule(sock, data, addr, delay):
    global seq
    seq += 1
    heapq.heappush(queue, (time.monotonic() + delay, seq, sock, data, addr))


def impair(sock, data, addr):
    stats["in"] += 1
    if rng.random() < loss:
        stats["dropped"] += 1
        return
    delay = 0.0
    if rng.random() < reorder:
        stats["reordered"] += 1
        delay = rng.uniform(0.02, 0.08)
    schedule(sock, data, addr, delay)
    if rng.random() < dup:
        stats["duplicated"] += 1
        schedule(sock, data, addr, delay + rng.uniform(0.0, 0.02))


def dump():
    with open(stats_path + ".tmp", "w") as f:
        json.dump(stats, f)
    import os
    os.replace(stats_path + ".tmp", stats_path)


def stop(*_):
    dump()
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
last_dump = time.monotonic()
while True:
    now = time.monotonic()
    timeout = max(0.0, queue[0][0] - now) if queue else 0.5
    readable, _, _ = select.select([front, back], [], [], min(timeout, 0.5))
    for s in readable:
        data, addr = s.recvfrom(65535)
        if s is front:
            client = addr
            impair(back, data, target)
        elif client is not None:
            impair(front, data, client)
    now = time.monotonic()
    while queue and queue[0][0] <= now:
        _, _, sock, data, addr = heapq.heappop(queue)
        sock.sendto(data, addr)
        stats["sent"] += 1
    if now - last_dump >= 1.0:
        dump()
        last_dump = now
