#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Channels between real Linux guests and a host process over ivshmem.

One ismd domain (channels=on), one host member (t-vmhost, libism) and
four guests booted in turn (Debian's kernel under TCG, ism-guest):

  g1: host->guest echo and guest->host echo, 200 messages of 1000 bytes,
      every byte checked, with MSI-X interrupts counted in the guest
      (VFIO); then it writes garbage into its own ring: the host's
      channel fails with EPROTO, and the host and ismd stay up;
  g2: floods the host with numbered messages (`ismctl ivshmem channels`
      lists its offer meanwhile) and is killed (kill -9 of its QEMU)
      mid-transfer: the host receives every message the guest
      had committed, in order, then EPIPE;
  g3: joins the same domain after that (a new guest is accepted and
      talks to the host), then echoes for g4;
  g4: talks to g3 (guest to guest).

Usage: test_vm_chan.py ISMD ISM_GUEST T_VMHOST [ISMCTL]
"""
import os
import re
import signal
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmkit  # noqa: E402
from vmkit import fail, log  # noqa: E402


class Lines:
    """A child's stdout, line by line, with waits."""

    def __init__(self, proc):
        self.proc = proc
        self.lines = []
        self.cv = threading.Condition()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.proc.stdout:
            with self.cv:
                self.lines.append(line.rstrip("\n"))
                self.cv.notify_all()
        with self.cv:
            self.lines.append(None)
            self.cv.notify_all()

    def wait(self, pattern, secs=300):
        rx = re.compile(pattern)
        end = time.time() + secs
        with self.cv:
            i = 0
            while True:
                while i < len(self.lines):
                    line = self.lines[i]
                    if line is None:
                        fail("t-vmhost ended before %r:\n%s"
                             % (pattern, "\n".join(
                                 l for l in self.lines if l)))
                    m = rx.search(line)
                    if m:
                        return m
                    i += 1
                if time.time() > end:
                    fail("t-vmhost: timed out waiting for %r" % pattern)
                self.cv.wait(1)


def guest_id(g):
    return int(g.wait_line(r"ism-guest: device \S+ id (\d+) .* irq vfio")
               .group(1))


def test(h, args):
    guest_bin, vmhost = args[0], args[1]
    vmkit.qemu_binary()
    parts = vmkit.fetch()
    (ivsh,) = h.start_ismd(["ivsh.sock,size=4M,vectors=2,name=vm,peers=8,"
                            "channels=on"])
    files = {"/bin/ism-guest": guest_bin}
    host = h.spawn([vmhost, h.sock, "vm",
                    "send", "1", "5", "200", "1000", "50", "--",
                    "echo", "6", "--",
                    "expect-proto", "7", "--",
                    "drain", "8", "--",
                    "echo", "9"],
                   stdout=subprocess.PIPE, text=True)
    out = Lines(host)
    hid = int(out.wait(r"joined vm as (\d+)").group(1))

    # g1: both directions, then garbage.
    g1 = h.guest("g1", parts, files,
                 "ism-guest info\n"
                 "ism-guest echo 5 || exit 1\n"
                 "ism-guest send %d 6 200 1000 || exit 1\n"
                 "ism-guest garbage %d 7\n" % (hid, hid), ivsh)
    if guest_id(g1) != 1:
        fail("g1 is not peer 1: the host's script needs it")
    m = g1.wait_line(r"echo: (\d+) messages (\d+) bytes end (.*) irqs (\d+)"
                     r" irq (\w+)")
    if m.group(1) != "200" or m.group(2) != "200000":
        fail("guest echo: %s" % m.group(0))
    # The host paused before its first messages: the guest slept in
    # recv, and only an interrupt (not its bounded sleep) counts here.
    if m.group(5) != "vfio" or int(m.group(4)) == 0:
        fail("the guest took no interrupt: %s" % m.group(0))
    out.wait(r"send: ok 200 messages of 1000 bytes")
    g1.wait_line(r"send: ok 200 messages of 1000 bytes irqs \d+ irq vfio")
    out.wait(r"echo: 200 messages 200000 bytes end")
    out.wait(r"proto: \d+ messages end Protocol error")
    g1.wait_line(r"ISM-VM-EXIT 0")
    log("g1: echo both ways ok, %s interrupts in the guest; garbage ring "
        "-> host EPROTO" % m.group(4))

    # g2: killed mid-transfer.
    g2 = h.guest("g2", parts, files, "ism-guest flood %d 8\n" % hid, ivsh)
    out.wait(r"drain: accepted from \d+")
    committed = 0
    while committed < 3000:
        committed = int(g2.wait_line(r"flood: committed (\d+)",
                                     start=len(g2.lines) - 1).group(1))
    if len(args) > 2:
        # The operator's view: g2's live offer to the host on port 8.
        r = subprocess.run([args[2], "--socket", h.sock, "ivshmem",
                            "channels", "vm"], capture_output=True,
                           text=True, timeout=120)
        rows = [l.split() for l in r.stdout.splitlines()[1:]]
        if r.returncode != 0 or not any(
                x[0] == "2" and x[2] == "offer" and x[3] == str(hid) and
                x[4] == "8" for x in rows):
            fail("ismctl ivshmem channels: %r %r" % (r.stdout, r.stderr))
    qpid = g2.qemu_pid()
    if not qpid:
        fail("g2's QEMU is gone")
    os.kill(qpid, signal.SIGKILL)
    g2.proc.wait(timeout=60)
    last = max(int(x) for x in re.findall(r"flood: committed (\d+)",
                                          "\n".join(g2.lines)))
    m = out.wait(r"drain: (\d+) messages end (.*)")
    if int(m.group(1)) < last or m.group(2) != "Broken pipe":
        fail("after kill -9: %s (the guest had committed %d)"
             % (m.group(0), last))
    log("g2: kill -9 after %d committed: host got %s then EPIPE"
        % (last, m.group(1)))

    # g3 joins the same domain, then g4 talks to g3.
    g3 = h.guest("g3", parts, files,
                 "ism-guest info\n"
                 "ism-guest send %d 9 50 64 || exit 1\n"
                 "ism-guest echo 10\n" % hid, ivsh)
    g3id = guest_id(g3)
    g3.wait_line(r"send: ok 50 messages of 64 bytes")
    out.wait(r"echo: 50 messages 3200 bytes end")
    out.wait(r"t-vmhost: done")
    g4 = h.guest("g4", parts, files,
                 "ism-guest send %d 10 100 512\n" % g3id, ivsh)
    g4.wait_line(r"send: ok 100 messages of 512 bytes irqs \d+ irq vfio")
    g3.wait_line(r"echo: 100 messages 51200 bytes end")
    g4.wait_line(r"ISM-VM-EXIT 0")
    g3.wait_line(r"ISM-VM-EXIT 0")
    if host.wait(timeout=60) != 0:
        fail("t-vmhost failed")
    if not h.ismd_alive():
        fail("ismd died")
    log("vm-chan: ok")


if __name__ == "__main__":
    sys.exit(vmkit.main(test))
