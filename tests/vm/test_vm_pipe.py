#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A byte pipe between a real Linux guest and a host process.

`ism-guest cat -l` in the guest and `ismctl ivshmem cat` on the host move
random bytes both ways at once over one channel (1 MiB host to guest,
300 KB guest to host), each side ending its direction at its EOF
(half-close); both checksums must match.  Then the guest's pipe is cut
by kill -9 of its QEMU: the host's cat (ism-cat -d this time) reports
the reset (not a clean end) after writing what the guest had sent.

Usage: test_vm_pipe.py ISMD ISM_GUEST T_VMHOST ISMCTL
"""
import hashlib
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmkit  # noqa: E402
from vmkit import fail, log  # noqa: E402


def test(h, args):
    guest_bin, ismctl = args[0], args[2] if len(args) > 2 else ""
    if not ismctl:
        raise vmkit.Skip("ismctl not built (needs libjson-c-dev)")
    vmkit.qemu_binary()
    parts = vmkit.fetch()
    (ivsh,) = h.start_ismd(["ivsh.sock,size=4M,vectors=2,name=vm,peers=8,"
                            "channels=on"])
    files = {"/bin/ism-guest": guest_bin}
    g = h.guest("g1", parts, files,
                "ism-guest info\n"
                "head -c 300000 /dev/urandom > /tmp/gin\n"
                "echo \"gin $(md5sum < /tmp/gin)\"\n"
                "ism-guest cat -l 11 < /tmp/gin > /tmp/gout || exit 1\n"
                "echo \"gout $(md5sum < /tmp/gout) $(wc -c < /tmp/gout)\"\n"
                "ism-guest cat -l 12 < /dev/zero > /dev/null\n", ivsh)
    gid = int(g.wait_line(r"ism-guest: device \S+ id (\d+)").group(1))
    gin = g.wait_line(r"gin ([0-9a-f]{32})").group(1)
    data = os.urandom(1 << 20)
    hin = os.path.join(h.tmp, "hin")
    hout = os.path.join(h.tmp, "hout")
    with open(hin, "wb") as f:
        f.write(data)
    with open(hin, "rb") as i, open(hout, "wb") as o:
        r = subprocess.run([ismctl, "--socket", h.sock, "ivshmem", "cat",
                            "vm", str(gid), "11"], stdin=i, stdout=o,
                           stderr=subprocess.PIPE, text=True, timeout=600)
    if r.returncode != 0:
        fail("ismctl ivshmem cat: %s" % r.stderr)
    got = open(hout, "rb").read()
    if hashlib.md5(got).hexdigest() != gin or len(got) != 300000:
        fail("guest to host: %d bytes, md5 differs" % len(got))
    m = g.wait_line(r"gout ([0-9a-f]{32})\s+-?\s*(\d+)")
    if m.group(1) != hashlib.md5(data).hexdigest() or \
            int(m.group(2)) != len(data):
        fail("host to guest: %s" % m.group(0))
    log("pipe: 1 MiB host->guest and 300 KB guest->host, both intact")

    # The guest pours zeros until its QEMU is killed: the host's cat
    # ends with the reset, not as if the guest had finished.
    with open(hout, "wb") as o:
        p = h.spawn([os.environ["ISM_CAT"], "-s", h.sock, "-d", "vm",
                     str(gid), "12"], stdin=subprocess.DEVNULL, stdout=o,
                    stderr=subprocess.PIPE, text=True)
        while os.path.getsize(hout) < (1 << 20):
            if p.poll() is not None:
                fail("ism-cat ended early: %s" % p.stderr.read())
            time.sleep(0.1)
        os.kill(g.qemu_pid(), 9)
        rc = p.wait(timeout=120)
        err = p.stderr.read()
    if rc == 0 or "reset" not in err:
        fail("after kill -9: rc %d, %r" % (rc, err))
    if not h.ismd_alive():
        fail("ismd died")
    log("pipe: kill -9 -> %s" % err.strip())


if __name__ == "__main__":
    sys.exit(vmkit.main(test))
