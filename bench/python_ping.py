#!/usr/bin/env python3
"""Python ping() latency through the shmcp package, next to the C++ client's in the same run.

    bench/python_ping.py --connect shm://NAME [--count 20000] [--cli build/orchestrator/shmcp]

Prints p50/p90/p99 of Client.ping() (ctypes -> libshmcp.so) and, with --cli, of `shmcp ping
--count N` against the same executor, alternating the two three times so both see the same load.
The package's budget: at most 2 µs above the C++ client at p50.

On a busy machine the round trip's own noise (tens of µs) hides a 2 µs difference between two
processes, so the binding's cost is also measured directly, in one process:
  crossing  one ctypes call into libshmcp that returns at once (shmcp_ping on a NULL client),
  wrapper   Client.ping()'s Python code: Client.ping() with its native function swapped for a no-op
            of the same signature (shmcp_free(NULL), extra arguments ignored by the x86-64 ABI),
            minus that no-op called bare.
Python's extra cost over the C++ client is crossing + wrapper (the C ABI's own shim is C++).
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


def overhead(c, count):
    import ctypes
    lib = c._lib
    err = ctypes.create_string_buffer(512)
    t = time.perf_counter_ns

    def med(fn):
        out = []
        for _ in range(count):
            a = t()
            fn()
            out.append((t() - a) / 1000.0)
        return pct(out, 50)

    timer = med(lambda: None)
    f = lib.shmcp_ping
    cross = med(lambda: f(None, 0, err, 512)) - timer
    noop = ctypes.CDLL(lib._name).shmcp_free  # a private function object: lib's declarations stay
    noop.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t]
    noop.restype = None
    real_ping, real_handle = c._ping, c._handle
    probe = type(real_handle).__new__(type(real_handle))
    probe._lib, probe.ptr = None, ctypes.c_void_p(None)  # its __del__ then fails quietly: closes nothing
    c._ping, c._handle = noop, probe
    try:
        wrapped = med(c.ping) - med(lambda: noop(None, 0, err, 512))
    finally:
        c._ping, c._handle = real_ping, real_handle
    return cross, wrapped


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
        cross, wrap = overhead(c, a.count)
        print("binding: ctypes crossing %.2f us + Client.ping() wrapper %.2f us = %.2f us over the C ABI call"
              % (cross, wrap, cross + wrap), flush=True)


if __name__ == "__main__":
    main()
