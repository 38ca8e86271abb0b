#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""ivshmem domains with real QEMU (qemu-system-x86_64, Debian's 7.2).

Two QEMUs with ivshmem-doorbell devices and one ism peer (`ismctl ivshmem
join`) in one ismd domain.  No guest: each QEMU is paused (-S) and driven
through the qtest protocol, which programs the device's BARs and reads and
writes guest-physical memory.  Checked: every peer's memory writes are
read by the others; a doorbell from a QEMU reaches the ism peer's eventfd;
one from the ism peer (through ismd) and one from the other QEMU set the
target's MSI-X pending bit; kill -9 of one QEMU makes the other drop
exactly that peer's eventfds.  Every QEMU runs under a timeout.  Exit 77
(skipped, said so) when QEMU cannot be had.

Usage: test_ivshmem_qemu.py ISMD ISMCTL
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

VECTORS = 2
BAR0, BAR1, BAR2 = 0xE0100000, 0xE0101000, 0xE0000000
CFG = 0x80002000  # bus 0, slot 4 (addr=4), function 0


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def wait_for(cond, what, secs=20.0):
    end = time.time() + secs
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    fail("timed out waiting for " + what)


class QTest:
    """One paused QEMU driven over its qtest socket."""

    def __init__(self, qemu, tmp, name, ivsh_sock, accel, qemus):
        self.path = os.path.join(tmp, name + ".qtest")
        args = ["timeout", "-s", "KILL", "120", qemu, "-M", "q35", "-accel",
                accel, "-S", "-m", "64", "-nodefaults", "-display", "none",
                "-monitor", "none", "-serial", "none",
                "-qtest", "unix:%s,server=on,wait=off" % self.path,
                "-qtest-log", "/dev/null",
                "-chardev", "socket,path=%s,id=ivsh" % ivsh_sock,
                "-device", "ivshmem-doorbell,chardev=ivsh,vectors=%d,addr=4"
                % VECTORS]
        self.log = open(os.path.join(tmp, name + ".log"), "w")
        # A session of its own: timeout and QEMU die together (killing
        # timeout alone would leave QEMU paused forever, reparented).
        self.proc = subprocess.Popen(args, stdout=self.log,
                                     stderr=subprocess.STDOUT,
                                     start_new_session=True)
        qemus.append(self.proc)  # reaped by main()'s finally, whatever fails
        wait_for(lambda: os.path.exists(self.path) or self.proc.poll()
                 is not None, name + "'s qtest socket")
        if self.proc.poll() is not None:
            fail("%s exited: %s" % (name, open(self.log.name).read()))
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        wait_for(lambda: self.sock.connect_ex(self.path) == 0,
                 name + " accepting qtest")
        self.sock.settimeout(20)
        self.buf = b""
        # The QEMU pid (not timeout's): the child of the timeout process.
        self.pid = self._qemu_pid()

    def _qemu_pid(self):
        def child():
            try:
                with open("/proc/%d/task/%d/children"
                          % (self.proc.pid, self.proc.pid)) as f:
                    kids = f.read().split()
                return int(kids[0]) if kids else None
            except OSError:
                return None
        return wait_for(child, "the QEMU process")

    def cmd(self, line):
        self.sock.sendall(line.encode() + b"\n")
        while b"\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                fail("qtest connection closed on: " + line)
            self.buf += chunk
        reply, self.buf = self.buf.split(b"\n", 1)
        reply = reply.decode()
        if not reply.startswith("OK"):
            fail("qtest %r -> %r" % (line, reply))
        return reply[3:].strip()

    def cfg_read(self, off):
        self.cmd("outl 0xcf8 0x%x" % (CFG + off))
        return int(self.cmd("inl 0xcfc"), 16)

    def cfg_write(self, off, val):
        self.cmd("outl 0xcf8 0x%x" % (CFG + off))
        self.cmd("outl 0xcfc 0x%x" % val)

    def setup(self):
        ident = self.cfg_read(0)
        if ident != 0x11101AF4:
            fail("not an ivshmem device at 00:04.0: 0x%x" % ident)
        self.cfg_write(0x10, BAR0)
        self.cfg_write(0x14, BAR1)
        self.cfg_write(0x18, BAR2)
        self.cfg_write(0x1C, 0)
        self.cmd("outl 0xcf8 0x%x" % (CFG + 4))
        self.cmd("outw 0xcfc 0x6")  # memory space + bus master
        # MSI-X capability: enable; the vectors stay masked, so a doorbell
        # shows as a pending bit.
        cap = self.cfg_read(0x34) & 0xFF
        while cap:
            hdr = self.cfg_read(cap)
            if hdr & 0xFF == 0x11:
                break
            cap = (hdr >> 8) & 0xFF
        if not cap:
            fail("no MSI-X capability")
        self.cmd("outl 0xcf8 0x%x" % (CFG + cap))
        self.cmd("outw 0xcfe 0x8000")
        return int(self.cmd("readl 0x%x" % (BAR0 + 8)), 16)  # IVPosition

    def write(self, off, data):
        self.cmd("write 0x%x %d 0x%s" % (BAR2 + off, len(data), data.hex()))

    def read(self, off, n):
        return bytes.fromhex(self.cmd("read 0x%x %d" % (BAR2 + off, n))[2:])

    def ring(self, peer, vector):
        self.cmd("writel 0x%x 0x%x" % (BAR0 + 12, (peer << 16) | vector))

    def pending(self):
        return int(self.cmd("readl 0x%x" % (BAR1 + 0x800)), 16)

    def eventfds(self):
        n = 0
        for fd in os.listdir("/proc/%d/fd" % self.pid):
            try:
                if os.readlink("/proc/%d/fd/%s" % (self.pid, fd)) == \
                        "anon_inode:[eventfd]":
                    n += 1
            except OSError:
                pass
        return n


def memfd_of(pid):
    """An fd path of the domain's memory in process @pid."""
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith(
                    "/memfd:qt"):
                return "/proc/%d/fd/%s" % (pid, fd)
        except OSError:
            pass
    return None


def main():
    if len(sys.argv) != 3:
        print("usage: test_ivshmem_qemu.py ISMD ISMCTL", file=sys.stderr)
        return 2
    ismd, ismctl = sys.argv[1:]
    # meson's timeout sends SIGTERM: clean up (finally) rather than die.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        print("SKIP: qemu-system-x86_64 not installed (as root the test "
              "command installs qemu-system-x86; else: sudo apt-get install "
              "qemu-system-x86)", flush=True)
        return 77
    accel = os.environ.get("ISM_TEST_ACCEL") or (
        "kvm" if os.access("/dev/kvm", os.R_OK | os.W_OK) else "tcg")
    tmp = tempfile.mkdtemp(prefix="ism-qemu-")
    procs = []
    qemus = []
    try:
        sock = os.path.join(tmp, "ism.sock")
        ivsh = os.path.join(tmp, "ivsh.sock")
        d = subprocess.Popen([ismd, "--socket", sock, "--state-dir",
                              os.path.join(tmp, "state"), "--ivshmem",
                              "%s,size=1M,vectors=%d,name=qt,peers=8"
                              % (ivsh, VECTORS)],
                             stderr=open(os.path.join(tmp, "ismd.log"), "w"))
        procs.append(d)
        wait_for(lambda: os.path.exists(ivsh) and os.path.exists(sock),
                 "ismd")
        member = subprocess.Popen([ismctl, "--socket", sock, "ivshmem",
                                   "join", "qt"], stdout=subprocess.PIPE,
                                  text=True)
        procs.append(member)
        line = member.stdout.readline()
        if not line.startswith("joined qt as peer "):
            fail("ismctl ivshmem join: %r" % line)
        mid = int(line.split()[4])

        q1 = QTest(qemu, tmp, "q1", ivsh, accel, qemus)
        q2 = QTest(qemu, tmp, "q2", ivsh, accel, qemus)
        id1, id2 = q1.setup(), q2.setup()
        print("accel %s: ism peer %d, QEMU peers %d and %d"
              % (accel, mid, id1, id2), flush=True)
        if len({mid, id1, id2}) != 3:
            fail("peer ids not distinct")

        # Memory: each writes, the others read.
        q1.write(0x1000, b"from q1!")
        if q2.read(0x1000, 8) != b"from q1!":
            fail("q2 does not see q1's write")
        mem = memfd_of(member.pid)
        if not mem:
            fail("the ism peer holds no domain memory")
        with open(mem, "r+b") as f:
            if os.pread(f.fileno(), 8, 0x1000) != b"from q1!":
                fail("the ism peer does not see q1's write")
            os.pwrite(f.fileno(), b"from ism", 0x2000)
        for q in (q1, q2):
            if q.read(0x2000, 8) != b"from ism":
                fail("a QEMU does not see the ism peer's write")

        # QEMU -> ism peer.
        q1.ring(mid, 1)
        got = member.stdout.readline()
        if not got.startswith("vector 1 rung"):
            fail("the ism peer got %r" % got)
        # ism peer -> QEMU (through ismd), and QEMU -> QEMU.
        if q2.pending() != 0:
            fail("q2 has pending vectors before any doorbell")
        subprocess.run([ismctl, "--socket", sock, "ivshmem", "ring", "qt",
                        str(id2), "0"], check=True, timeout=20)
        wait_for(lambda: q2.pending() & 1, "q2's vector 0 pending bit")
        q1.ring(id2, 1)
        wait_for(lambda: q2.pending() & 2, "q2's vector 1 pending bit")

        # kill -9 of q1: q2 drops exactly q1's eventfds.
        before = q2.eventfds()
        os.kill(q1.pid, signal.SIGKILL)
        q1.proc.wait(timeout=20)
        wait_for(lambda: q2.eventfds() == before - VECTORS,
                 "q2 to close q1's %d eventfds (had %d, now %d)"
                 % (VECTORS, before, q2.eventfds()))
        out = subprocess.run([ismctl, "--socket", sock, "ivshmem", "peers",
                              "qt"], capture_output=True, text=True,
                             check=True, timeout=20).stdout
        ids = [int(l.split()[0]) for l in out.splitlines()[1:]]
        if sorted(ids) != sorted([mid, id2]):
            fail("peers after the kill: %s" % ids)
        if d.poll() is not None:
            fail("ismd died")
        print("ivshmem-qemu: ok", flush=True)
        return 0
    finally:
        for p in qemus:
            # The whole session: timeout and its QEMU.
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        for p in reversed(procs):
            if p.poll() is None:
                p.kill() if p is not procs[0] else p.terminate()
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
