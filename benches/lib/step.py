#!/usr/bin/env python3
"""Helpers for the benchmark shell scripts (stdlib only).

  step.py probe PORT [SECONDS]
      Send OPTIONS over UDP to 127.0.0.1:PORT until a 200 comes back.
      Exit 0 when it does, 1 when SECONDS (default 10) pass first.

  step.py run SERVER_PID CSV TIMEOUT -- sipp ARGS...
      Run one sipp load step and print one line of key=value pairs:
        rc         sipp's exit code (124 when we had to kill it)
        ok failed  SuccessfulCall(C), FailedCall(C) from the last CSV row
        non200     of the failed: a reply other than 200 (e.g. 503)
        noreply    of the failed: no reply within sipp's -recv_timeout
        retrans    Retransmissions(C)
        achieved   calls sipp actually started per second while sending: from
                   the once-a-second rows, leaving out the last, partial one
                   (CallRate(C) would also count the wait for the last replies
                   and retransmissions, which is not a pacing problem)
        wall       seconds sipp ran
        server_cpu CPU seconds (user+sys) used by SERVER_PID and all its
                   descendants while sipp ran, from /proc/PID/stat
        sipp_cpu   CPU seconds used by sipp itself (from wait4)
        irq_cpu    CPU seconds of all cores in irq/softirq (/proc/stat): mostly
                   the kernel carrying the loopback UDP packets
        other_cpu  CPU seconds all cores were busy otherwise, minus server and
                   sipp: anything else competing for the cores (should be ~0)
        udp_drops  datagrams the kernel dropped for a full socket receive
                   buffer (/proc/net/snmp Udp RcvbufErrors), any socket
      SIGTERM/SIGINT are passed on to sipp, so killing this process by its
      PID also stops the sipp it started.
"""
import os
import signal
import socket
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def tree_pids(root):
    """root and every descendant of it (kamailio forks its workers)."""
    parent = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        fields = s[s.rindex(")") + 2:].split()
        parent.setdefault(int(fields[1]), []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(parent.get(p, []))
    return out


def tree_cpu(root):
    """utime+stime, in seconds, of root and its descendants (threads included)."""
    total = 0
    for p in tree_pids(root):
        try:
            with open(f"/proc/{p}/stat") as f:
                s = f.read()
        except OSError:
            continue
        fields = s[s.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def machine_busy():
    """(busy outside irq, irq+softirq) CPU seconds of all cores since boot."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest is inside user)
    irq = v[5] + v[6]
    return (v[0] + v[1] + v[2] + v[7]) / TICK, irq / TICK


def udp_rcvbuf_errors():
    with open("/proc/net/snmp") as f:
        lines = [l.split() for l in f if l.startswith("Udp:")]
    head, vals = lines[0], lines[1]
    return int(vals[head.index("RcvbufErrors")])


def rows(csv):
    """The statistics rows of a sipp -trace_stat CSV, as dicts."""
    try:
        with open(csv, encoding="latin-1") as f:
            lines = [l.rstrip("\n") for l in f if l.strip()]
    except OSError:
        return []
    head = lines[0].split(";") if lines else []
    return [dict(zip(head, l.split(";"))) for l in lines[1:]]


def num(row, key):
    try:
        return float(row.get(key, "0") or 0)
    except ValueError:
        return 0.0


def stamp(row):
    """CurrentTime ends with the epoch in seconds, to the microsecond."""
    try:
        return float(row.get("CurrentTime", "").split()[-1])
    except (IndexError, ValueError):
        return None


def pace(rs):
    """Calls started per second over the periods in which sipp was sending,
    without the last such period (it ends when the last call is sent)."""
    sending = []
    for prev, cur in zip(rs, rs[1:]):
        t0, t1 = stamp(prev), stamp(cur)
        if num(cur, "OutgoingCall(P)") > 0 and t0 is not None and t1 is not None and t1 > t0:
            sending.append((num(cur, "OutgoingCall(P)"), t1 - t0))
    full = sending[:-1]
    if not full:
        return num(rs[-1], "CallRate(C)") if rs else 0.0
    return sum(c for c, _ in full) / sum(d for _, d in full)


def probe(port, seconds):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.2)
    lport = s.getsockname()[1]
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        n += 1
        msg = (
            f"OPTIONS sip:ping@127.0.0.1:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK-probe-{os.getpid()}-{n}\r\n"
            f"From: <sip:probe@127.0.0.1:{lport}>;tag=p{n}\r\n"
            f"To: <sip:ping@127.0.0.1:{port}>\r\n"
            f"Call-ID: probe-{os.getpid()}-{n}@127.0.0.1\r\n"
            "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
        s.sendto(msg.encode(), ("127.0.0.1", port))
        try:
            data = s.recv(65535)
        except (socket.timeout, ConnectionRefusedError):
            time.sleep(0.05)
            continue
        if data.startswith(b"SIP/2.0 200"):
            return 0
    return 1


def run(server_pid, csv, timeout, argv):
    cpu0 = tree_cpu(server_pid)
    busy0 = machine_busy()
    drops0 = udp_rcvbuf_errors()
    t0 = time.monotonic()
    child = os.fork()
    if child == 0:
        fd = os.open(os.devnull, os.O_RDWR)
        for i in (0, 1, 2):
            os.dup2(fd, i)
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)

    def stop(_sig, _frm):
        try:
            os.kill(child, signal.SIGTERM)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGALRM, stop)
    signal.alarm(timeout)
    killed = False
    while True:
        try:
            _pid, status, ru = os.wait4(child, 0)
            break
        except InterruptedError:
            continue
    signal.alarm(0)
    wall = time.monotonic() - t0
    cpu1 = tree_cpu(server_pid)
    busy1 = machine_busy()
    drops1 = udp_rcvbuf_errors()
    sipp_cpu = ru.ru_utime + ru.ru_stime
    if os.WIFSIGNALED(status):
        rc, killed = 124, True
    else:
        rc = os.WEXITSTATUS(status)
    rs = rows(csv)
    last = rs[-1] if rs else {}

    def n(key):
        return int(num(last, key))

    print(
        f"rc={rc} ok={n('SuccessfulCall(C)')} failed={n('FailedCall(C)')} "
        f"non200={n('FailedUnexpectedMessage(C)')} noreply={n('FailedTimeoutOnRecv(C)')} "
        f"retrans={n('Retransmissions(C)')} achieved={pace(rs):.0f} "
        f"wall={wall:.2f} server_cpu={cpu1 - cpu0:.2f} "
        f"sipp_cpu={sipp_cpu:.2f} "
        f"irq_cpu={busy1[1] - busy0[1]:.2f} "
        f"other_cpu={max(0.0, busy1[0] - busy0[0] - (cpu1 - cpu0) - sipp_cpu):.2f} "
        f"udp_drops={drops1 - drops0} killed={int(killed)}"
    )
    return 0


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "probe":
        secs = float(sys.argv[3]) if len(sys.argv) > 3 else 10.0
        return probe(int(sys.argv[2]), secs)
    if len(sys.argv) >= 7 and sys.argv[1] == "run" and sys.argv[5] == "--":
        return run(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[6:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
