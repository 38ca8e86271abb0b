#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Python-level ism figures, each beside its baseline in the same run.

  1. 64-byte round trips between two processes: an ism channel against
     socket.socketpair() (AF_UNIX stream), both driven from Python.
  2. Reading a 64 MiB region: zlib.crc32 over a memoryview of the mapping
     (no copy) against crc32 over bytes(view) (a copy first), and against
     Region.read() (a copy through ismd).

  python/bench/bench_py.py [--ismd PATH] [--rounds N] [--json]
Run it alone: flock /tmp/ism-bench.lock python3 python/bench/bench_py.py
Only ratios from one run are meant to be compared.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zlib

import ism

MSG = 64
TRIPS = 20000
REGION = 64 << 20


def echo_child(recv, send):
    try:
        while True:
            m = recv()
            if not m:
                break
            send(m)
    finally:
        os._exit(0)


def chan_round_trips(n, spin_us=0):
    a = ism.Chan.local(spin_us=spin_us)
    b = ism.Chan.local(spin_us=spin_us)
    fa, fb = a.local_export(), b.local_export()
    pid = os.fork()
    if pid == 0:
        b.local_connect(*fa)
        echo_child(b.recv, b.send)
    for fd in fa:
        os.close(fd)
    a.local_connect(*fb)
    msg = b"x" * MSG
    a.send(msg)
    a.recv()
    t = time.perf_counter()
    for _ in range(n):
        a.send(msg)
        a.recv()
    dt = time.perf_counter() - t
    a.send(b"")
    os.waitpid(pid, 0)
    a.close()
    b.close()
    return dt / n * 1e9


def socketpair_round_trips(n):
    s, t_ = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        s.close()

        def recv():
            return t_.recv(MSG, socket.MSG_WAITALL)
        echo_child(recv, t_.sendall)
    t_.close()
    msg = b"x" * MSG
    s.sendall(msg)
    s.recv(MSG, socket.MSG_WAITALL)
    t = time.perf_counter()
    for _ in range(n):
        s.sendall(msg)
        s.recv(MSG, socket.MSG_WAITALL)
    dt = time.perf_counter() - t
    s.close()
    os.waitpid(pid, 0)
    return dt / n * 1e9


def region_reads(conn):
    r = conn.alloc(REGION, populate=True)
    mv = memoryview(r)
    mv[:] = os.urandom(1 << 20) * (REGION >> 20)
    gib = REGION / 1e9
    t = time.perf_counter()
    c1 = zlib.crc32(mv)
    view_gbs = gib / (time.perf_counter() - t)
    t = time.perf_counter()
    c2 = zlib.crc32(bytes(mv))
    copy_gbs = gib / (time.perf_counter() - t)
    t = time.perf_counter()
    c3 = zlib.crc32(r.read(0, REGION))
    ismd_gbs = gib / (time.perf_counter() - t)
    assert c1 == c2 == c3
    mv.release()
    r.close()
    return view_gbs, copy_gbs, ismd_gbs


def start_ismd(exe, tmp):
    sock = os.path.join(tmp, "ism.sock")
    p = subprocess.Popen([exe, "--socket", sock, "--state-dir",
                          os.path.join(tmp, "state"), "--log-level", "warn"],
                         stdin=subprocess.DEVNULL)
    for _ in range(2000):
        try:
            return p, ism.Conn(sock, name="bench_py")
        except OSError:
            time.sleep(0.01)
    p.kill()
    p.wait()
    raise SystemExit("bench_py: ismd did not start")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ismd", default=os.environ.get("ISMD", "ismd"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    o = ap.parse_args()
    rounds = max(1, min(o.rounds, 9))
    chan, nospin, sp, view, copy, via = [], [], [], [], [], []
    tmp = tempfile.mkdtemp(prefix="ism-bench-py-")
    p, conn = start_ismd(o.ismd, tmp)
    try:
        for _ in range(rounds):
            chan.append(chan_round_trips(TRIPS))
            nospin.append(chan_round_trips(TRIPS, ism.CHAN_NO_SPIN))
            sp.append(socketpair_round_trips(TRIPS))
            v, c, i = region_reads(conn)
            view.append(v)
            copy.append(c)
            via.append(i)
    finally:
        conn.close()
        p.send_signal(signal.SIGTERM)
        p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    med = statistics.median
    res = {
        "suite": "python",
        "figures": {
            "chan_rtt_64B_ns": med(chan),
            "chan_nospin_rtt_64B_ns": med(nospin),
            "socketpair_rtt_64B_ns": med(sp),
            "region_crc32_memoryview_GBps": med(view),
            "region_crc32_bytes_copy_GBps": med(copy),
            "region_crc32_read_via_ismd_GBps": med(via),
        },
        "ratios": {
            "socketpair_rtt_over_chan_rtt":
                med([s / c for s, c in zip(sp, chan)]),
            "socketpair_rtt_over_chan_nospin_rtt":
                med([s / c for s, c in zip(sp, nospin)]),
            "memoryview_over_bytes_copy":
                med([v / c for v, c in zip(view, copy)]),
        },
    }
    if o.json:
        print(json.dumps(res))
        return
    f, r = res["figures"], res["ratios"]
    print(f"python: {rounds} rounds, medians (one run: compare ratios)")
    print(f"  64 B round trip, ism channel      {f['chan_rtt_64B_ns']/1e3:8.2f} us")
    print(f"  64 B round trip, channel no spin  {f['chan_nospin_rtt_64B_ns']/1e3:8.2f} us")
    print(f"  64 B round trip, socketpair       {f['socketpair_rtt_64B_ns']/1e3:8.2f} us")
    print(f"  crc32 of 64 MiB via memoryview    {f['region_crc32_memoryview_GBps']:8.2f} GB/s")
    print(f"  crc32 of bytes(view) (copy first) {f['region_crc32_bytes_copy_GBps']:8.2f} GB/s")
    print(f"  crc32 of Region.read() (ismd)     {f['region_crc32_read_via_ismd_GBps']:8.2f} GB/s")
    print(f"  socketpair RTT / channel RTT      {r['socketpair_rtt_over_chan_rtt']:8.2f} x")
    print(f"  socketpair RTT / no-spin chan RTT {r['socketpair_rtt_over_chan_nospin_rtt']:8.2f} x")
    print(f"  memoryview / bytes copy           {r['memoryview_over_bytes_copy']:8.2f} x")


if __name__ == "__main__":
    sys.exit(main())
