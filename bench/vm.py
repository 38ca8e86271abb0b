#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""ism-bench vm: a real guest talking to the host over an ism channel in an
ivshmem domain, against the same guest over QEMU's virtio-net, in one run.

Boots Debian's kernel under TCG (tests/vm/vmkit.py: the same cache and
initramfs as the tests) with an ivshmem-doorbell device on a private
ismd's channels=on domain and a virtio-net device.  In the guest,
`ism-guest bench` and `ism-guest bench-tcp` measure, on the guest's
clock: round trips of 64-byte messages (median), a stream of 64-byte
messages (per second) and 64 KiB messages (MB/s), against
ism-bench-vm-host on the host.  Under TCG the guest's CPU is emulated,
so only the ratios mean anything.

Networking: QEMU user networking (-netdev user): the guest's 10.0.2.2 is
the host's 127.0.0.1, so every packet the host sees is loopback.  A tap
device would be faster for the TCP baseline, but it needs addresses
outside the loopback range, which this workplace does not allow a test
to send to; the ratios are therefore against slirp, which favours ism.

Usage: bench/vm.py BUILD_DIR [--runs N]
"""
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(HERE, "..", "tests", "vm"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "helpers"))
import vmkit  # noqa: E402
from ports import free_port  # noqa: E402


def one_run(h, build, parts, ivsh, idx):
    host = h.spawn([os.path.join(build, "bench", "ism-bench-vm-host"),
                    h.sock, "vm", "7", str(tcp := free_port())],
                   stdout=subprocess.PIPE, text=True)
    m = re.match(r"ready (\d+)", host.stdout.readline())
    if not m:
        vmkit.fail("ism-bench-vm-host did not start")
    script = ("ip link set lo up\nip link set eth0 up\n"
              "ip addr add 10.0.2.15/24 dev eth0\n"
              "ism-guest bench %s 7 || exit 1\n"
              "ism-guest bench-tcp 10.0.2.2 %d || exit 1\n"
              % (m.group(1), tcp))
    g = h.guest("bench%d" % idx, parts,
                {"/bin/ism-guest": os.path.join(build, "guest", "ism-guest")},
                script, ivsh, timeout=900, mem=512,
                extra=["-netdev", "user,id=n0",
                       "-device", "virtio-net-pci,netdev=n0"])
    g.wait_line(r"ISM-VM-UP")
    boot = time.time() - g.started
    res = {}
    for name in ("ivchan", "tcp"):
        r = g.wait_line(r"bench %s rtt_us_median ([\d.]+) msg64_per_s "
                        r"([\d.]+) bulk64k_mb_per_s ([\d.]+)" % name,
                        secs=900)
        res[name] = [float(r.group(i)) for i in (1, 2, 3)]
    g.wait_line(r"ISM-VM-EXIT 0")
    g.kill()
    host.wait(timeout=60)
    return boot, res


def main():
    if len(sys.argv) < 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    build = os.path.abspath(sys.argv[1])
    runs = int(sys.argv[3]) if len(sys.argv) > 3 and \
        sys.argv[2] == "--runs" else 3
    h = vmkit.Harness(os.path.join(build, "ismd", "ismd"))
    ok = False
    try:
        vmkit.qemu_binary()
        parts = vmkit.fetch()
        (ivsh,) = h.start_ismd(["ivsh.sock,size=64M,vectors=2,name=vm,"
                                "peers=4,channels=on"])
        boots, rows = [], []
        for i in range(runs):
            boot, res = one_run(h, build, parts, ivsh, i)
            boots.append(boot)
            rows.append(res)
            print("run %d: boot %.1f s; ivchan %s; tcp %s"
                  % (i + 1, boot, res["ivchan"], res["tcp"]), flush=True)
        med = {k: [statistics.median(r[k][j] for r in rows)
                   for j in range(3)] for k in ("ivchan", "tcp")}
        print("\nism-bench vm (TCG guest, %d runs, medians; guest clock)"
              % runs)
        print("%-34s %12s %12s" % ("", "ism channel", "virtio-net"))
        print("%-34s %12.1f %12.1f" % ("round trip 64 B (us)",
                                        med["ivchan"][0], med["tcp"][0]))
        print("%-34s %12.1f %12.1f" % ("one-way latency 64 B (us)",
                                        med["ivchan"][0] / 2,
                                        med["tcp"][0] / 2))
        print("%-34s %12.0f %12.0f" % ("64 B messages per second",
                                        med["ivchan"][1], med["tcp"][1]))
        print("%-34s %12.1f %12.1f" % ("64 KiB throughput (MB/s)",
                                        med["ivchan"][2], med["tcp"][2]))
        print("boot to userspace: %.1f s (median)" % statistics.median(boots))
        print("vm_rtt_vs_virtio_net %.3f (target <= 0.2)"
              % (med["ivchan"][0] / med["tcp"][0]))
        print("vm_throughput_vs_virtio_net %.2f (target >= 3)"
              % (med["ivchan"][2] / med["tcp"][2]))
        print("vm_msg64_vs_virtio_net %.2f"
              % (med["ivchan"][1] / med["tcp"][1]))
        ok = True
        return 0
    except vmkit.Skip as e:
        print("ism-bench vm: skipped: %s" % e)
        ok = True
        return 0
    finally:
        h.close(ok)


if __name__ == "__main__":
    sys.exit(main())
