#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A real Linux guest as an ism peer (ismd --ivshmem ...,control=on).

One ismd domain served with control=on; the host side is ismctl (an
ordinary ism peer on ismd's socket); the guest runs one ism-guest peer
that chains, on one control channel to ismd's member of the domain:

  - attach a host process's region by token: read-write refused (the
    owner granted read-only), read-only attached, its bytes read through
    ismd and checked, a write refused;
  - allocate a region and write into it: the host reads the guest's
    bytes by token (ismctl read) and sees the guest in `ismctl peers`
    (uid nobody, not an administrator);
  - attach a second host region and watch: the host destroys it, the
    guest receives the revocation as an event, taken through an
    interrupt (the guest counts MSI-X interrupts through VFIO), and its
    read fails from then on.

Usage: test_vm_peer.py ISMD ISM_GUEST T_VMHOST [ISMCTL]
"""
import json
import os
import re
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmkit  # noqa: E402
from vmkit import fail, log  # noqa: E402


def ismctl_alloc(h, ismctl, data):
    """A host region held by `ismctl alloc` (read-only grant): its id
    and token."""
    p = h.spawn([ismctl, "--socket", h.sock, "alloc", "4096", "--data",
                 data, "--name", "host-region"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    region = token = None
    end = time.time() + 60
    while token is None:
        line = p.stdout.readline()
        if not line or time.time() > end:
            fail("ismctl alloc: %r" % line)
        m = re.match(r"region (\w+)", line)
        if m:
            region = m.group(1)
        m = re.match(r"token (\w+)", line)
        if m:
            token = m.group(1)
    return region, token


def test(h, args):
    guest_bin = args[0]
    if len(args) < 3:
        raise vmkit.Skip("no ismctl (built without json-c)")
    ismctl = args[2]
    vmkit.qemu_binary()
    parts = vmkit.fetch()
    (ivsh,) = h.start_ismd(["ivsh.sock,size=4M,vectors=2,name=vm,peers=8,"
                            "channels=on,control=on"])
    r1, t1 = ismctl_alloc(h, ismctl, "host bytes 1234")
    r2, t2 = ismctl_alloc(h, ismctl, "revoke me")
    script = ("ism-guest --timeout 120000 '!attach' %s rw + attach %s ro"
              " + read 0 15 + '!write' 0 x"
              " + alloc 4096 ro guest-region + write 0 written-by-guest"
              " + attach %s ro + read 0 9 + watch 600 + '!read' 0 9\n"
              % (t1, t1, t2))
    g = h.guest("g1", parts, {"/bin/ism-guest": guest_bin}, script, ivsh,
                timeout=900)
    g.wait_line(r"ISM-VM-UP")
    g.wait_line(r"ism-guest: ism peer 0x[0-9a-f]+ \(ismd member 0\)")
    g.wait_line(r"ism-guest: attach: Permission denied \(refused, as "
                r"expected\)")
    m = g.wait_line(r"ism-guest: attach region (0x[0-9a-f]+) size 4096")
    if int(m.group(1), 16) != int(r1, 16):
        fail("attached region %s, not %s" % (m.group(1), r1))
    g.wait_line(r"ism-guest: read 15 bytes: host bytes 1234$")
    g.wait_line(r"ism-guest: write: Permission denied \(refused, as "
                r"expected\)")
    m = g.wait_line(r"ism-guest: alloc region (0x[0-9a-f]+) token (\w+)")
    gtok = m.group(2)
    g.wait_line(r"ism-guest: write 16 bytes")
    g.wait_line(r"ism-guest: read 9 bytes: revoke me$")
    g.wait_line(r"ism-guest: watching")

    # The host reads what the guest wrote, by token, and lists the guest.
    r = subprocess.run([ismctl, "--socket", h.sock, "read", gtok, "0", "16"],
                       capture_output=True, timeout=60)
    if r.returncode != 0 or r.stdout != b"written-by-guest":
        fail("ismctl read of the guest's region: %r %r"
             % (r.stdout, r.stderr))
    r = subprocess.run([ismctl, "--socket", h.sock, "--json", "peers"],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        fail("ismctl peers: %r" % r.stderr)
    doc = json.loads(r.stdout)
    peers = doc["peers"] if isinstance(doc, dict) else doc
    guests = [p for p in peers if p.get("name") == "ism-guest"]
    if len(guests) != 1 or guests[0].get("uid") != 65534 or \
            guests[0].get("regions") != 1:
        fail("the guest in ismctl peers: %r" % peers)

    # The read's attach and detach reach the guest first (so that the
    # revocation most likely finds it asleep).
    g.wait_line(r"ism-guest: event peer-detached ")
    # Revocation: the host destroys the region the guest watches.
    r = subprocess.run([ismctl, "--socket", h.sock, "destroy", r2],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        fail("ismctl destroy: %r %r" % (r.stdout, r.stderr))
    m = g.wait_line(r"ism-guest: event region-gone region (0x[0-9a-f]+) "
                    r".* \(interrupts (\d+)\)")
    if int(m.group(1), 16) != int(r2, 16):
        fail("region-gone for %s, not %s" % (m.group(1), r2))
    # Interrupts counted since the watch began.  The guest never polls
    # when it has interrupts (it sleeps on the armed channel until one
    # comes), so events need them; but a revocation that arrives while
    # the guest is still busy with the events before it is read without
    # a wake-up of its own, so the count only has to be non-zero.
    if int(m.group(2)) < 1:
        fail("events came without an interrupt:\n" + g.transcript())
    g.wait_line(r"ism-guest: read: No such file or directory \(refused, "
                r"as expected\)")
    g.wait_line(r"ISM-VM-EXIT 0")
    g.wait_exit()
    # The guest's peer ended with it, and its region with it.
    end = time.time() + 60
    while True:
        r = subprocess.run([ismctl, "--socket", h.sock, "read", gtok, "0",
                            "1"], capture_output=True, timeout=60)
        if r.returncode != 0:
            break
        if time.time() > end:
            fail("the guest's region outlived the guest")
        time.sleep(0.2)
    if not h.ismd_alive():
        fail("ismd died")
    log("vm-peer: ok: kernel %s; a guest attached, read, was refused a "
        "write, allocated a region the host read, and saw a revocation "
        "through %s interrupts" % (parts["version"], m.group(2)))


if __name__ == "__main__":
    sys.exit(vmkit.main(test))
