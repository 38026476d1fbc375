#!/usr/bin/env python3
"""Drive linphonec (Debian's linphone-cli) headless through its stdin.
Usage: linphone_peer.py register EXT PASSWORD DOMAIN PROXY_URI SIP_PORT API_PORT TOKEN OUTDIR
Registers, waits until the switch's API lists the registration, then
unregisters and waits until it is gone. Exit 0 when both happened."""
import json, os, subprocess, sys, time, urllib.request

mode, ext, pw, domain, proxy, sip_port, api_port, token, outdir = sys.argv[1:10]
home = os.path.join(outdir, f"linphone-{ext}")
os.makedirs(os.path.join(home, ".local/share/linphone"), exist_ok=True)
rc = os.path.join(home, "rc")
tcp = "transport=tcp" in proxy
with open(rc, "w") as f:
    # The Debian build takes its TCP port from the config file only; UDP is
    # set with the "ports" command below.
    if tcp:
        f.write(f"[sip]\nsip_port=0\nsip_tcp_port={sip_port}\nsip_tls_port=0\n")

def registrations():
    req = urllib.request.Request(f"http://127.0.0.1:{api_port}/v1/registrations", headers={"Authorization": "Bearer " + token})
    return [r for r in json.load(urllib.request.urlopen(req, timeout=3))["items"] if r["extension"] == ext]

def sip_trail(since):
    """The SIP start lines linphonec logged after the line `since` (and
    the timestamps of the log lines before them), so a failure shows
    whether a request went out and what came back."""
    try:
        lines = open(log_path, errors="replace").read().splitlines()
    except OSError:
        return []
    start = next((i for i, l in enumerate(lines) if l.strip() == since), None)
    if start is None:
        return [f"(linphonec never echoed {since!r}: its stdin was not read)"]
    out, stamp = [], ""
    for l in lines[start:]:
        if l[:2] == "20" and l[4:5] == "-":
            stamp = l[:23]
        elif l.startswith(("REGISTER ", "SIP/2.0 ", "Expires:", "Authorization:", "WWW-Authenticate:", "Via:")):
            out.append(f"{stamp}  {l[:160]}")
    return out

def wait(pred, secs, what, since=None, fatal=True):
    end = time.time() + secs
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    print("FAIL: timed out waiting for" if fatal else "timed out waiting for", what)
    if since:
        print(f"linphonec's SIP messages after {since!r} (full log {log_path}):")
        for l in sip_trail(since)[-20:]:
            print("  ", l)
    if fatal:
        sys.exit(1)
    return None

log_path = os.path.join(outdir, f"linphone-{ext}-{'tcp' if tcp else 'udp'}.log")
log = open(log_path, "w")
p = subprocess.Popen(["linphonec", "-c", rc, "-d", "5"], stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                     env=dict(os.environ, HOME=home), text=True)
def cmd(c):
    p.stdin.write(c + "\n")
    p.stdin.flush()
try:
    if not tcp:
        cmd(f"ports sip {sip_port}")
    cmd(f"register sip:{ext}@{domain} {proxy} {pw}")
    regs = wait(registrations, 15, "registration to appear in GET /v1/registrations")
    print("registered:", regs)
    want = "tcp" if tcp else "udp"
    if regs[0]["transport"] != want:
        print(f"FAIL: registered over {regs[0]['transport']}, expected {want}")
        sys.exit(1)
    if "Linphone" not in (regs[0].get("user_agent") or ""):
        print("FAIL: registration not from linphonec:", regs)
        sys.exit(1)
    cmd("unregister")
    # linphonec sometimes reads its next stdin command only after a stall
    # of about 15 s (seen in CI: the unregister went out 15 s after it was
    # typed), so give it room; the switch itself answers at once.
    gone = lambda: not registrations()
    if not wait(gone, 45, "the registration to go after unregister", since="unregister", fatal=False):
        # Only a client that never sent its unregister gets a second
        # chance (linphonec's stdin is sometimes read late); one that sent
        # it while the binding stayed is the switch's failure.
        if any("Expires: 0" in l for l in sip_trail("unregister")):
            sys.exit(1)
        print("linphonec sent no unregister; typing it again")
        cmd("unregister")
        wait(gone, 45, "the registration to go after the second unregister", since="unregister")
    print("unregistered")
finally:
    try:
        cmd("quit")
        p.wait(timeout=10)
    except Exception:
        p.kill()
