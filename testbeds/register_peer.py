#!/usr/bin/env python3
"""A scripted REGISTER client for the digest cases sipp cannot express.
Usage: register_peer.py PORT DOMAIN CHECK EXT PASSWORD
  replay      an Authorization reused with the same nonce-count is refused
  retransmit  the same authenticated REGISTER sent again (its 200 lost) is
              answered 200 again, listing the binding
  same-answer a wrong password and an unknown user get identical answers
  ban         repeated failures silence the source (exit 0 once ignored)
  unbanned    a correct REGISTER from this host is answered 200
  once        the same as unbanned (one authenticated REGISTER), from the local
              port in $BIND_PORT if set, CSeq numbers from $CSEQ (default
              1): the same phone registering with another node"""
import hashlib, random, re, socket, sys

PORT, DOMAIN, CHECK, EXT, PW = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", int(__import__("os").environ.get("BIND_PORT", "0"))))
LPORT = sock.getsockname()[1]
seq = [int(__import__("os").environ.get("CSEQ", "1")) - 1]
DEST = [PORT]

def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)

def register(user, auth=None, call_id="rp-1"):
    seq[0] += 1
    m = (f"REGISTER sip:{DOMAIN} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{LPORT};rport;branch=z9hG4bK{random.getrandbits(48):x}\r\n"
         f"From: <sip:{user}@{DOMAIN}>;tag=rp{LPORT}\r\nTo: <sip:{user}@{DOMAIN}>\r\nCall-ID: {call_id}\r\nCSeq: {seq[0]} REGISTER\r\n"
         f"Contact: <sip:{user}@127.0.0.1:{LPORT}>\r\nExpires: 60\r\nMax-Forwards: 70\r\n")
    if auth:
        m += f"Authorization: {auth}\r\n"
    m += "Content-Length: 0\r\n\r\n"
    sock.sendto(m.encode(), ("127.0.0.1", DEST[0]))
    return m.encode()

def recv(timeout=2.0):
    sock.settimeout(timeout)
    try:
        while True:
            data, _ = sock.recvfrom(65535)
            text = data.decode(errors="replace")
            if not text.startswith("SIP/2.0 100"):
                return text
    except socket.timeout:
        return None

def status(r):
    return int(r.split(" ", 2)[1]) if r else None

def md5(s):
    return hashlib.md5(s.encode()).hexdigest()

def authorization(user, pw, challenge, nc=1):
    nonce = re.search(r'nonce="([^"]+)"', challenge).group(1)
    realm = re.search(r'realm="([^"]+)"', challenge).group(1)
    uri = f"sip:{DOMAIN}"
    ha1, ha2 = md5(f"{user}:{realm}:{pw}"), md5(f"REGISTER:{uri}")
    resp = md5(f"{ha1}:{nonce}:{nc:08x}:cn0:auth:{ha2}")
    return (f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", response="{resp}", '
            f'algorithm=MD5, qop=auth, nc={nc:08x}, cnonce="cn0"')

def challenge_for(user):
    register(user)
    r = recv()
    if status(r) != 401:
        fail(f"expected 401 challenge, got {r!r}")
    m = re.search(r"WWW-Authenticate: (Digest [^\r]*algorithm=MD5[^\r]*)", r)
    if not m:
        fail(f"no MD5 challenge in {r!r}")
    return m.group(1)

def shape(r):
    """What a client can learn from a response: status, reason, header names, challenge params without the nonce."""
    lines = r.split("\r\n")
    names = sorted(l.split(":")[0].lower() for l in lines[1:] if ":" in l)
    chals = [re.sub(r'nonce="[^"]+"', "nonce", l) for l in lines if l.startswith("WWW-Authenticate")]
    return lines[0], names, chals

if CHECK == "replay":
    auth = authorization(EXT, PW, challenge_for(EXT))
    register(EXT, auth, call_id="rp-replay")
    r1 = recv()
    register(EXT, auth, call_id="rp-replay")
    r2 = recv()
    if status(r1) != 200:
        fail(f"first use of the credentials: {r1!r}")
    if status(r2) != 401:
        fail(f"replayed nonce-count was accepted: {r2!r}")
    print("replayed nonce-count refused with 401")
elif CHECK == "retransmit":
    auth = authorization(EXT, PW, challenge_for(EXT))
    datagram = register(EXT, auth, call_id="rp-retrans")
    r1 = recv()
    # The UAC's Timer E retransmission: the very same datagram.
    sock.sendto(datagram, ("127.0.0.1", PORT))
    r2 = recv()
    if status(r1) != 200:
        fail(f"first REGISTER: {r1!r}")
    if status(r2) != 200:
        fail(f"retransmitted REGISTER: {r2!r}")
    if f"127.0.0.1:{LPORT}" not in r2 or not re.search(r"^Contact:", r2, re.M):
        fail(f"the second 200 does not list the binding: {r2!r}")
    print("retransmission answered 200 again, listing the binding")
elif CHECK == "same-answer":
    wrong = authorization(EXT, "not-the-password", challenge_for(EXT))
    register(EXT, wrong, call_id="rp-wrong")
    a = recv()
    unknown = authorization("nosuchuser", "whatever", challenge_for("nosuchuser"))
    register("nosuchuser", unknown, call_id="rp-unknown")
    b = recv()
    if status(a) != 401 or shape(a) != shape(b):
        fail(f"answers differ:\n{shape(a)}\n{shape(b)}")
    print("wrong password and unknown user both get:", shape(a)[0])
elif CHECK == "ban":
    for i in range(10):
        register(EXT)
        r = recv(1.0)
        if r is None:
            print(f"source ignored after {i} failed attempts")
            sys.exit(0)
        bad = authorization(EXT, f"guess{i}", re.search(r"WWW-Authenticate: (Digest [^\r]*algorithm=MD5[^\r]*)", r).group(1))
        register(EXT, bad, call_id=f"rp-ban{i}")
        if recv(1.0) is None:
            print(f"source ignored after {i + 1} failed attempts")
            sys.exit(0)
    fail("never blocked")
elif CHECK in ("unbanned", "once"):
    auth = authorization(EXT, PW, challenge_for(EXT))
    register(EXT, auth, call_id="rp-ok")
    r = recv()
    if status(r) != 200:
        fail(f"expected 200, got {r!r}")
    print(f"answered 200 (from 127.0.0.1:{LPORT})")
else:
    fail("unknown check " + CHECK)
