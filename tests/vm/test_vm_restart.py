#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""ismd restarted with guests attached: what survives.

Two guests in one domain: g2 floods g1 with numbered messages over a
channel; ismd is stopped and started again (same socket, same state
directory) in the middle.  What survives: the guests' channel (QEMU
keeps its mapping of the memory and its eventfds: every message arrives,
in order, with doorbells); what does not: the domain itself (the new ismd
has new memory: a new guest (g3) and a new host member meet there, not
in the old one).

Usage: test_vm_restart.py ISMD ISM_GUEST T_VMHOST [ISMCTL]
"""
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmkit  # noqa: E402
from vmkit import fail, log  # noqa: E402

COUNT = 3000000


def test(h, args):
    guest_bin, vmhost = args[0], args[1]
    vmkit.qemu_binary()
    parts = vmkit.fetch()
    dom = "ivsh.sock,size=4M,vectors=2,name=vm,peers=8,channels=on"
    (ivsh,) = h.start_ismd([dom])
    files = {"/bin/ism-guest": guest_bin}
    g1 = h.guest("g1", parts, files,
                 "ism-guest info\nism-guest --timeout 600000 drain 20\n",
                 ivsh)
    g1id = int(g1.wait_line(r"ism-guest: device \S+ id (\d+)").group(1))
    g2 = h.guest("g2", parts, files,
                 "ism-guest --timeout 600000 flood %d 20 %d\n"
                 % (g1id, COUNT), ivsh)
    g2.wait_line(r"flood: committed 10000$")
    # Restart ismd in the middle of the flood.
    h.ismd.terminate()
    if h.ismd.wait(timeout=60) != 0:
        fail("ismd did not exit cleanly")
    done_before = any("flood: sent" in l for l in g2.lines)
    h.start_ismd([dom])
    if done_before:
        fail("the flood ended before the restart: raise COUNT")
    m = g1.wait_line(r"drain: (\d+) messages end (.*)", secs=600)
    if int(m.group(1)) != COUNT or "shutdown" not in m.group(2):
        fail("g1 after the restart: %s" % m.group(0))
    g2.wait_line(r"flood: sent %d" % COUNT)
    log("restart: the guests' channel carried all %d messages across it"
        % COUNT)
    # The new ismd's domain is a new one: a new guest and a new host
    # member talk there.
    host = h.spawn([vmhost, h.sock, "vm", "echo", "21"],
                   stdout=subprocess.PIPE, text=True)
    hid = int(host.stdout.readline().split()[-1])
    g3 = h.guest("g3", parts, files, "ism-guest send %d 21 20 64\n" % hid,
                 ivsh)
    g3.wait_line(r"send: ok 20 messages of 64 bytes")
    if host.wait(timeout=120) != 0:
        fail("t-vmhost failed")
    if not h.ismd_alive():
        fail("ismd died")
    log("restart: a new guest and a host member meet in the new domain")


if __name__ == "__main__":
    sys.exit(vmkit.main(test))
