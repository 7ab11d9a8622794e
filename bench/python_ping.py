#!/usr/bin/env python3
"""Python ping() latency through the shmcp package, next to the C++ client's in the same run.

    bench/python_ping.py --connect shm://NAME [--count 20000] [--cli build/orchestrator/shmcp]

Prints p50/p90/p99 of Client.ping() (ctypes -> libshmcp.so) and, with --cli, of `shmcp ping
--count N` against the same executor, alternating the two three times so both see the same load.
The package's budget: at most 2 µs above the C++ client at p50.
Needs SHMCP_LIBRARY (or an installed libshmcp) and PYTHONPATH=orchestrator/python (or the package
installed). Not part of ctest: speed is measured here, never asserted in tests.
"""
import argparse
import re
import subprocess
import sys
import time

import shmcp


def pct(samples, p):
    s = sorted(samples)
    return s[min(len(s) - 1, int(p / 100.0 * len(s)))]


def python_run(c, count):
    t = time.perf_counter_ns
    out = []
    for _ in range(count):
        a = t()
        c.ping()
        out.append((t() - a) / 1000.0)
    return {"p50": pct(out, 50), "p90": pct(out, 90), "p99": pct(out, 99)}


def cli_run(cli, url, count):
    r = subprocess.run([cli, "ping", "--connect", url, "--count", str(count)], capture_output=True, text=True, check=True)
    got = {}
    for k in ("p50", "p90", "p99"):
        m = re.search(k + r"\D*?([0-9.]+)\s*(ns|us|µs|ms)", r.stdout + r.stderr)
        if m:
            v = float(m.group(1))
            got[k] = v / 1000.0 if m.group(2) == "ns" else v * 1000.0 if m.group(2) == "ms" else v
    if not got:
        sys.exit("cannot parse `shmcp ping` output:\n" + r.stdout + r.stderr)
    return got


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--connect", required=True, help="shm://NAME of a running executor")
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--cli", help="the shmcp CLI, to measure the C++ client alongside")
    a = ap.parse_args()
    with shmcp.Client(a.connect) as c:
        python_run(c, 2000)  # warm-up: lane attach, caches
        rows = []
        for _ in range(3):
            py = python_run(c, a.count)
            cpp = cli_run(a.cli, a.connect, a.count) if a.cli else None
            rows.append((py, cpp))
            line = "python  p50 %.2f  p90 %.2f  p99 %.2f us" % (py["p50"], py["p90"], py["p99"])
            if cpp:
                line += "   |   c++  p50 %.2f  p90 %.2f  p99 %.2f us   |   python - c++ at p50: %+.2f us" % (
                    cpp.get("p50", 0), cpp.get("p90", 0), cpp.get("p99", 0), py["p50"] - cpp.get("p50", 0))
            print(line, flush=True)


if __name__ == "__main__":
    main()
