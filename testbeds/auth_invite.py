#!/usr/bin/env python3
"""One authenticated INVITE from a raw UDP peer, for toll-fraud tests.

usage: auth_invite.py SWITCH_PORT USER PASSWORD TARGET_USER [EXTRA_HEADER...]
(environment CALL_ID: the Call-ID to use; random by default)

Sends INVITE sip:TARGET@127.0.0.1 with the extra headers (e.g. a Route to a
gateway), answers the 407 with MD5 digest, prints the final status code and
exits 0 (the caller judges the code). ACKs non-2xx finals; a 2xx is ACKed
and hung up with BYE.
"""
import hashlib, os, random, re, socket, sys

port, user, pw, target = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
extra = "".join(h + "\r\n" for h in sys.argv[5:])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
s.settimeout(5)
lp = s.getsockname()[1]
cid = os.environ.get("CALL_ID") or f"fraud-{random.getrandbits(48):x}"
sdp = f"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {lp + 2} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"

def invite(cseq, branch, auth=""):
    m = (f"INVITE sip:{target}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{lp};branch=z9hG4bK{branch};rport\r\n"
         f"From: <sip:{user}@127.0.0.1>;tag=f{cid}\r\nTo: <sip:{target}@127.0.0.1>\r\nCall-ID: {cid}\r\nCSeq: {cseq} INVITE\r\n"
         f"Contact: <sip:{user}@127.0.0.1:{lp}>\r\nMax-Forwards: 70\r\n{extra}{auth}Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}")
    s.sendto(m.encode(), ("127.0.0.1", port))

def final():
    while True:
        r = s.recv(65535).decode(errors="replace")
        code = int(r.split(" ", 2)[1])
        if code >= 200:
            return code, r

def ack(cseq, branch, resp):
    to = re.search(r"^To: (.*)$", resp, re.M | re.I).group(1).strip()
    m = (f"ACK sip:{target}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{lp};branch=z9hG4bK{branch};rport\r\n"
         f"From: <sip:{user}@127.0.0.1>;tag=f{cid}\r\nTo: {to}\r\nCall-ID: {cid}\r\nCSeq: {cseq} ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
    s.sendto(m.encode(), ("127.0.0.1", port))

invite(1, "a1")
code, r = final()
if code == 407:
    ack(1, "a1", r)
    ch = re.search(r"^Proxy-Authenticate: (.*MD5.*)$", r, re.M | re.I) or re.search(r"^Proxy-Authenticate: (.*)$", r, re.M | re.I)
    realm = re.search(r'realm="([^"]+)"', ch.group(1)).group(1)
    nonce = re.search(r'nonce="([^"]+)"', ch.group(1)).group(1)
    md5 = lambda x: hashlib.md5(x.encode()).hexdigest()
    uri = f"sip:{target}@127.0.0.1"
    resp = md5(f"{md5(f'{user}:{realm}:{pw}')}:{nonce}:00000001:c0ffee:auth:{md5('INVITE:' + uri)}")
    invite(2, "a2", f'Proxy-Authorization: Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
                    f'response="{resp}", algorithm=MD5, qop=auth, nc=00000001, cnonce="c0ffee"\r\n')
    code, r = final()
    ack(2, "a2", r)
print(code)
