#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A real Linux guest on an ismd ivshmem domain: boot, find the device.

Debian's kernel and busybox (vmkit.py) boot under TCG with ism-guest in
the initramfs and an ivshmem-doorbell device on a channels=on domain.
Checked: the guest finds the device, takes interrupts through VFIO
(behind QEMU's intel-iommu), reads its peer id (the one ismd lists) and
the channel slots ismd laid out; the serial console says it ended well;
QEMU is gone afterwards.  Prints the boot time.

Usage: test_vm_smoke.py ISMD ISM_GUEST T_VMHOST
"""
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmkit  # noqa: E402
from vmkit import fail, log  # noqa: E402


def test(h, args):
    guest_bin, vmhost = args[0], args[1]
    vmkit.qemu_binary()
    parts = vmkit.fetch()
    (ivsh,) = h.start_ismd(["ivsh.sock,size=4M,vectors=2,name=vm,peers=8,"
                            "channels=on"])
    g = h.guest("g1", parts, {"/bin/ism-guest": guest_bin},
                "ism-guest info\n", ivsh)
    up = g.wait_line(r"ISM-VM-UP ([0-9.]+)")
    boot = time.time() - g.started
    m = g.wait_line(r"ism-guest: device (\S+) id (\d+) size (\d+) "
                    r"vectors (\d+) irq (\w+)")
    if int(m.group(3)) != 4 << 20:
        fail("BAR2 size %s" % m.group(3))
    if m.group(5) != "vfio":
        fail("interrupts through %s, not VFIO:\n%s"
             % (m.group(5), g.transcript()))
    if int(m.group(4)) != 2:
        fail("%s MSI-X vectors" % m.group(4))
    gid = int(m.group(2))
    s = g.wait_line(r"ism-guest: channels: (\d+) slots, present:(.*)")
    if int(s.group(1)) != 8 or str(gid) not in s.group(2).split():
        fail("channel slots: %r" % s.group(0))
    g.wait_line(r"ISM-VM-EXIT 0")
    g.wait_exit()
    if not h.ismd_alive():
        fail("ismd died")
    log("vm-smoke: ok: kernel %s, guest id %d on %s, irq %s; boot to "
        "userspace %.1f s (guest uptime %s s)"
        % (parts["version"], gid, m.group(1), m.group(5), boot,
           up.group(1)))


if __name__ == "__main__":
    sys.exit(vmkit.main(test))
