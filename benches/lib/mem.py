#!/usr/bin/env python3
"""Memory of a server process tree, for the benchmark shell scripts.

  mem.py PID
      Print "rss_kb=N pss_kb=N procs=N": the sum of VmRSS (/proc/P/status)
      and of Pss (/proc/P/smaps_rollup) over PID and all its descendants.
      For one process (ferroswitch) the two are about equal. For a forking
      server (Kamailio) the VmRSS sum counts the shared memory segment once
      per process that touched it; the Pss sum splits shared pages between
      the processes and is the fairer total.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import step  # noqa: E402  (tree_pids: the process and its descendants)


def field(path, name):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    pids = step.tree_pids(int(sys.argv[1]))
    rss = sum(field(f"/proc/{p}/status", "VmRSS") for p in pids)
    pss = sum(field(f"/proc/{p}/smaps_rollup", "Pss") for p in pids)
    print(f"rss_kb={rss} pss_kb={pss} procs={len(pids)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
