#!/usr/bin/env python3
"""A scripted raw SIP peer for what sipp cannot send: malformed and
hostile bytes, split and pipelined TCP frames, RFC 5626 keep-alives.
Usage: raw_peer.py PORT CHECK   (exit 0 when the check holds)."""
import socket, sys, time, random

HOST = "127.0.0.1"
PORT = int(sys.argv[1])
CHECK = sys.argv[2]
TIMEOUT = 3.0

def options(cid, transport="UDP", extra="", lport=0):
    return (f"OPTIONS sip:ping@{HOST}:{PORT} SIP/2.0\r\n"
            f"Via: SIP/2.0/{transport} {HOST}:{lport};branch=z9hG4bK{cid}\r\n"
            f"From: <sip:raw@{HOST}>;tag={cid}\r\nTo: <sip:ping@{HOST}>\r\n"
            f"Call-ID: {cid}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n").encode()

def udp_exchange(data, expect=True):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((HOST, 0))
    s.settimeout(TIMEOUT if expect else 0.5)
    s.sendto(data.replace(b":0;branch", f":{s.getsockname()[1]};branch".encode()), (HOST, PORT))
    try:
        resp, _ = s.recvfrom(65535)
        return resp
    except socket.timeout:
        return None
    finally:
        s.close()

def status(resp):
    return int(resp.split(b" ", 2)[1]) if resp else None

def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)

def still_alive():
    # UDP may drop a datagram while the switch works through a flood, so
    # retry as a UA would (Timer E); the switch must answer within 5 tries.
    cid = f"alive{random.randint(0, 1 << 30)}"
    for _ in range(5):
        r = udp_exchange(options(cid))
        if status(r) == 200:
            return
    fail(f"switch no longer answers OPTIONS: {r!r}")

def check_malformed_udp():
    cases = {
        "negative Content-Length": b"INVITE sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:0;branch=z9hG4bKm1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: m1\r\nCSeq: 1 INVITE\r\nContent-Length: -5\r\n\r\n",
        "Content-Length larger than body": b"OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:0;branch=z9hG4bKm2\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: m2\r\nCSeq: 1 OPTIONS\r\nContent-Length: 900\r\n\r\nabc",
        "missing CSeq": b"OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:0;branch=z9hG4bKm3\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: m3\r\nContent-Length: 0\r\n\r\n",
        "unterminated display name": b"OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:0;branch=z9hG4bKm4\r\nFrom: \"unterminated <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: m4\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        "spaces in Request-Line": b"OPTIONS  sip:a@127.0.0.1  SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:0;branch=z9hG4bKm5\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: m5\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
    }
    for name, data in cases.items():
        r = udp_exchange(data)
        if status(r) != 400:
            fail(f"{name}: expected 400, got {r!r}")
        if b"Warning: 399" not in r:
            fail(f"{name}: 400 without a Warning saying why: {r!r}")
    r = udp_exchange(b"OPTIONS sip:a@127.0.0.1 SIP/7.0\r\nVia: SIP/7.0/UDP 127.0.0.1:0;branch=z9hG4bKv7\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: v7\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
    if status(r) != 505:
        fail(f"SIP/7.0: expected 505, got {r!r}")
    r = udp_exchange(options("tel1").replace(f"sip:ping@{HOST}:{PORT}".encode(), b"tel:+15551234567", 1))
    if status(r) != 416:
        fail(f"tel: Request-URI: expected 416, got {r!r}")
    still_alive()

def check_garbage_udp():
    rnd = random.Random(4475)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sent = 0
    for i in range(3000):
        kind = i % 4
        if kind == 0:
            data = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 1500)))
        elif kind == 1:
            base = bytearray(options(f"g{i}"))
            for _ in range(rnd.randint(1, 8)):
                base[rnd.randrange(len(base))] = rnd.getrandbits(8)
            data = bytes(base[: rnd.randint(1, len(base))])
        elif kind == 2:
            data = b"INVITE sip:x SIP/2.0\r\n" + b"X: " + b"a" * rnd.randint(0, 60000) + b"\r\n\r\n"
        else:
            data = b"\r\n" * rnd.randint(1, 100) + b"SIP/2.0 200 OK\r\n\r\n"
        s.sendto(data, (HOST, PORT))
        sent += 1
        if i % 200 == 0:
            time.sleep(0.01)
    s.close()
    still_alive()
    print(f"sent {sent} hostile datagrams; switch still answers")

def check_timer_g():
    """A re-INVITE for a dialog the switch does not have (answered 481 by
    a stateful INVITE server transaction), never ACKed at first: the final
    response must come again after T1 and 2*T1 (Timer G), and stop once the
    ACK arrives. No 100 Trying precedes it: the switch answers at once.
    (Challenges to new INVITEs are stateless, so they are not
    retransmitted.)"""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((HOST, 0))
    lport = s.getsockname()[1]
    inv = (f"INVITE sip:nobody@{HOST}:{PORT} SIP/2.0\r\nVia: SIP/2.0/UDP {HOST}:{lport};branch=z9hG4bKtg1\r\n"
           f"From: <sip:raw@{HOST}>;tag=tg\r\nTo: <sip:nobody@{HOST}>;tag=nosuchdialog\r\nCall-ID: timer-g\r\nCSeq: 1 INVITE\r\n"
           f"Contact: <sip:raw@{HOST}:{lport}>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()
    t0 = time.time()
    s.sendto(inv, (HOST, PORT))
    s.settimeout(0.2)
    seen = []
    while time.time() - t0 < 2.2:
        try:
            data, _ = s.recvfrom(65535)
        except socket.timeout:
            continue
        seen.append((round(time.time() - t0, 2), status(data), data))
    codes = [c for _, c, _ in seen]
    finals = [(t, d) for t, c, d in seen if c and c >= 300]
    if 100 in codes:
        fail(f"a 100 Trying before an answer given at once: {codes}")
    if len(finals) != 3:
        fail(f"expected the final response at ~0, 0.5, 1.5 s, got {[(t) for t, _ in finals]}")
    if not (0.4 <= finals[1][0] - finals[0][0] <= 0.8 and 1.2 <= finals[2][0] - finals[0][0] <= 1.8):
        fail(f"retransmission times off: {[t for t, _ in finals]}")
    to = next(l for l in finals[0][1].split(b"\r\n") if l.lower().startswith(b"to:"))
    ack = (f"ACK sip:nobody@{HOST}:{PORT} SIP/2.0\r\nVia: SIP/2.0/UDP {HOST}:{lport};branch=z9hG4bKtg1\r\n"
           f"From: <sip:raw@{HOST}>;tag=tg\r\n").encode() + to + (f"\r\nCall-ID: timer-g\r\nCSeq: 1 ACK\r\n"
           f"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()
    s.sendto(ack, (HOST, PORT))
    s.settimeout(3.0)
    try:
        data, _ = s.recvfrom(65535)
        fail(f"retransmission after the ACK: {data[:40]!r}")
    except socket.timeout:
        pass
    print("final response at", [t for t, _ in finals], "s; silent after ACK")

def check_tls():
    """OPTIONS over TLS (Python's OpenSSL client against our rustls server):
    pipelined requests, keep-alive ping, and a peer that sends plain text to
    the TLS port is dropped without harm."""
    import ssl, os
    tls_port = int(os.environ["TLS_PORT"])
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # self-signed by design on first start
    raw = socket.create_connection((HOST, tls_port), timeout=TIMEOUT)
    c = ctx.wrap_socket(raw)
    c.settimeout(TIMEOUT)
    lport = c.getsockname()[1]
    c.sendall(b"".join(options(f"tls{i}", "TLS", lport=lport) for i in range(3)))
    got = read_responses(c, 3)
    if len(got) != 3 or not all(g.startswith(b"SIP/2.0 200") for g in got):
        fail(f"OPTIONS over TLS: {got!r}")
    via = next(l for l in got[0].split(b"\r\n") if l.lower().startswith(b"via"))
    if b"SIP/2.0/TLS" not in via:
        fail(f"response Via lost the transport: {via!r}")
    c.sendall(b"\r\n\r\n")
    if c.recv(16) != b"\r\n":
        fail("no keep-alive pong over TLS")
    print("TLS version", c.version(), "cipher", c.cipher()[0])
    c.close()
    p = socket.create_connection((HOST, tls_port), timeout=TIMEOUT)
    p.sendall(options("plain", "TCP"))
    try:
        p.recv(100)
    except (ConnectionResetError, socket.timeout):
        pass
    p.close()
    still_alive()

def tcp_connect():
    c = socket.create_connection((HOST, PORT), timeout=TIMEOUT)
    c.settimeout(TIMEOUT)
    return c

def read_responses(c, n):
    buf = b""
    out = []
    deadline = time.time() + TIMEOUT
    while len(out) < n and time.time() < deadline:
        while b"\r\n\r\n" in buf:
            head, rest = buf.split(b"\r\n\r\n", 1)
            cl = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    cl = int(line.split(b":")[1])
            if len(rest) < cl:
                break
            out.append(head)
            buf = rest[cl:]
        if len(out) >= n:
            break
        chunk = c.recv(65535)
        if not chunk:
            break
        buf += chunk
    return out

def check_tcp_framing():
    c = tcp_connect()
    lport = c.getsockname()[1]
    # Three requests in one write (pipelined), then one split byte by byte.
    c.sendall(b"".join(options(f"p{i}", "TCP", lport=lport) for i in range(3)))
    msg = options("split", "TCP", lport=lport)
    for i in range(0, len(msg), 7):
        c.sendall(msg[i:i + 7])
        time.sleep(0.001)
    got = read_responses(c, 4)
    if len(got) != 4 or not all(g.startswith(b"SIP/2.0 200") for g in got):
        fail(f"pipelined/split TCP: {got!r}")
    cids = [next(l for l in g.split(b"\r\n") if l.lower().startswith(b"call-id")).split(b":", 1)[1].strip() for g in got]
    if cids != [b"p0", b"p1", b"p2", b"split"]:
        fail(f"TCP responses out of order: {cids!r}")
    # RFC 5626 keep-alive: CRLFCRLF ping, CRLF pong, on the same connection.
    c.sendall(b"\r\n\r\n")
    pong = c.recv(16)
    if pong != b"\r\n":
        fail(f"keep-alive: expected CRLF pong, got {pong!r}")
    c.sendall(options("after-ping", "TCP", lport=lport))
    if not read_responses(c, 1):
        fail("no answer after keep-alive")
    c.close()
    # A body with a message-sized body split across writes.
    c = tcp_connect()
    body = b"v=0\r\n" * 100
    m = options("body", "TCP", lport=c.getsockname()[1]).replace(b"Content-Length: 0", b"Content-Type: application/sdp\r\nContent-Length: %d" % len(body)) + body
    c.sendall(m[:50]); time.sleep(0.05); c.sendall(m[50:])
    if not read_responses(c, 1):
        fail("message with body split across writes got no answer")
    c.close()

def check_tcp_hostile():
    # Bad Content-Length: the connection is closed.
    c = tcp_connect()
    c.sendall(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: nope\r\n\r\n")
    try:
        data = c.recv(100)
        if data:
            fail(f"expected close, got {data!r}")
    except (ConnectionResetError, socket.timeout) as e:
        if isinstance(e, socket.timeout):
            fail("connection with an unframeable message was left open")
    c.close()
    # Endless header without a blank line: closed once over the bound.
    c = tcp_connect()
    try:
        for _ in range(100):
            c.sendall(b"X-Flood: " + b"a" * 1000 + b"\r\n")
        data = c.recv(100)
        if data:
            fail(f"expected close, got {data!r}")
    except (BrokenPipeError, ConnectionResetError):
        pass
    c.close()
    # Many connections opened and dropped mid-message.
    for i in range(200):
        c = socket.create_connection((HOST, PORT), timeout=TIMEOUT)
        c.sendall(options(f"half{i}", "TCP")[:40])
        c.close()
    still_alive()

{
    "malformed-udp": check_malformed_udp,
    "garbage-udp": check_garbage_udp,
    "tcp-framing": check_tcp_framing,
    "tcp-hostile": check_tcp_hostile,
    "timer-g": check_timer_g,
    "tls": check_tls,
}[CHECK]()
print("ok", CHECK)
