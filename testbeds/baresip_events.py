#!/usr/bin/env python3
"""Collect a baresip's ctrl_tcp events (netstring JSON) for a while.
  baresip_events.py PORT OUTFILE SECONDS
Writes one JSON event per line to OUTFILE (and OUTFILE.ready once connected)."""
import json, socket, sys, time

port, out, secs = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
s = socket.create_connection(("127.0.0.1", port), timeout=3)
open(out + ".ready", "w").close()
end = time.time() + secs
buf = b""
with open(out, "w") as f:
    while time.time() < end:
        s.settimeout(max(0.05, end - time.time()))
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        buf += chunk
        while b":" in buf:
            n, rest = buf.split(b":", 1)
            if not n.isdigit() or len(rest) < int(n) + 1:
                break
            body, buf = rest[:int(n)], rest[int(n) + 1:]
            try:
                ev = json.loads(body)
            except ValueError:
                continue
            f.write(json.dumps(ev) + "\n")
            f.flush()
