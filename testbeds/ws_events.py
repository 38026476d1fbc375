#!/usr/bin/env python3
"""A minimal WebSocket client (RFC 6455) for /v1/events, standard library only.
  ws_events.py PORT TOKEN QUERY collect OUTFILE SECONDS UNTIL_TYPE
      write each JSON event (one per line) to OUTFILE until an event of
      UNTIL_TYPE arrives or SECONDS pass; exit 0 if UNTIL_TYPE was seen.
      OUTFILE.ready appears once subscribed.
  ws_events.py PORT TOKEN QUERY stall SECONDS
      connect with a tiny receive buffer and read nothing for SECONDS, then
      read what is there: exit 0 if the server sent an overflow notice or
      closed the connection (the slow client was dropped). With WS_READY
      set, that file is created once the client is subscribed."""
import base64, json, os, socket, struct, sys, time

port, token, query, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]

def connect(rcvbuf=None):
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sep = "&" if query else ""
    s.sendall((f"GET /v1/events?{query}{sep}token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            sys.exit("connection closed during handshake")
        head += chunk
    if b" 101 " not in head.split(b"\r\n")[0]:
        sys.exit(f"no upgrade: {head!r}")
    return s

def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError
        b += c
    return b

def frames(s):
    while True:
        h = recv_exact(s, 2)
        op, ln = h[0] & 0x0F, h[1] & 0x7F
        if ln == 126:
            ln = struct.unpack(">H", recv_exact(s, 2))[0]
        elif ln == 127:
            ln = struct.unpack(">Q", recv_exact(s, 8))[0]
        data = recv_exact(s, ln)
        yield op, data
        if op == 8:
            return

if mode == "collect":
    out, secs, until = sys.argv[5], float(sys.argv[6]), sys.argv[7]
    s = connect()
    open(out + ".ready", "w").close()  # subscribed: the test may go on
    s.settimeout(secs)
    end = time.time() + secs
    seen = False
    with open(out, "w") as f:
        try:
            for op, data in frames(s):
                if op == 1:
                    f.write(data.decode() + "\n"); f.flush()
                    if json.loads(data).get("type") == until:
                        seen = True
                        break
                if time.time() > end:
                    break
        except (socket.timeout, EOFError):
            pass
    sys.exit(0 if seen else 1)
elif mode == "stall":
    secs = float(sys.argv[5])
    s = connect(rcvbuf=4096)
    if os.environ.get("WS_READY"):
        open(os.environ["WS_READY"], "w").close()
    time.sleep(secs)  # the point of this client is to not read
    s.settimeout(10)
    try:
        for op, data in frames(s):
            if op == 1 and b'"overflow"' in data:
                print("RESULT=overflow-notice"); sys.exit(0)
            if op == 8:
                print("RESULT=closed-by-server"); sys.exit(0)
    except (EOFError, ConnectionResetError):
        print("RESULT=dropped-by-server"); sys.exit(0)
    except socket.timeout:
        print("RESULT=still-connected"); sys.exit(1)
