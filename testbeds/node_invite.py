#!/usr/bin/env python3
"""Send one INVITE to a cluster node carrying an X-Ferroswitch-Node header
and print the final status code it gets (or "none").
Usage: node_invite.py PORT EXT HEADER_KIND [SECRET]
  HEADER_KIND: good (signed with SECRET now), stale (signed 60 s ago),
  forged (a signature of zeros), none (no header), replay:FILE (send the
  header saved in FILE by an earlier `good`; `good` saves its header to
  FILE when given as good:FILE)."""
import hashlib, hmac, os, socket, sys, time

HOST = "127.0.0.1"
port, ext, kind = int(sys.argv[1]), sys.argv[2], sys.argv[3]
secret = sys.argv[4].encode() if len(sys.argv) > 4 else b""


def signed(ts):
    nonce = os.urandom(12).hex()
    sig = hmac.new(secret, f"testnode|{ts}|{nonce}|ext|{ext}".encode(), hashlib.sha256).hexdigest()
    return f"testnode;ts={ts};nonce={nonce};ext={ext};sig={sig}"


now = int(time.time() * 1000)
save = None
if kind.startswith("good"):
    header = signed(now)
    save = kind.split(":", 1)[1] if ":" in kind else None
elif kind == "stale":
    header = signed(now - 60_000)
elif kind == "forged":
    header = f"testnode;ts={now};nonce={os.urandom(12).hex()};ext={ext};sig={'0' * 64}"
elif kind.startswith("replay:"):
    header = open(kind.split(":", 1)[1]).read().strip()
else:
    header = None
if save:
    open(save, "w").write(header)

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((HOST, 0))
s.settimeout(3)
lport = s.getsockname()[1]
cid = os.urandom(8).hex()
sdp = (f"v=0\r\no=- 1 1 IN IP4 {HOST}\r\ns=-\r\nc=IN IP4 {HOST}\r\nt=0 0\r\n"
       f"m=audio {lport + 2} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
msg = (f"INVITE sip:{ext}@{HOST}:{port} SIP/2.0\r\n"
       f"Via: SIP/2.0/UDP {HOST}:{lport};branch=z9hG4bK{cid};rport\r\n"
       f"From: <sip:5555@{HOST}>;tag={cid}\r\nTo: <sip:{ext}@{HOST}>\r\n"
       f"Call-ID: {cid}@{HOST}\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
       f"Contact: <sip:5555@{HOST}:{lport}>\r\n"
       + (f"X-Ferroswitch-Node: {header}\r\n" if header else "")
       + f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}")
s.sendto(msg.encode(), (HOST, port))
code = "none"
deadline = time.time() + 5
while time.time() < deadline:
    try:
        data, _ = s.recvfrom(65535)
    except socket.timeout:
        break
    line = data.split(b"\r\n", 1)[0].decode(errors="replace")
    parts = line.split(" ")
    if len(parts) > 1 and parts[0] == "SIP/2.0" and parts[1].isdigit() and int(parts[1]) >= 200:
        code = parts[1]
        # ACK a final non-2xx (same branch) so the switch stops resending.
        to = next((l for l in data.decode(errors="replace").split("\r\n") if l.lower().startswith("to:")), f"To: <sip:{ext}@{HOST}>")
        ack = (f"ACK sip:{ext}@{HOST}:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {HOST}:{lport};branch=z9hG4bK{cid};rport\r\n"
               f"From: <sip:5555@{HOST}>;tag={cid}\r\n{to}\r\nCall-ID: {cid}@{HOST}\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
        s.sendto(ack.encode(), (HOST, port))
        break
print(code)
