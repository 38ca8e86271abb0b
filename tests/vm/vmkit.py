# SPDX-License-Identifier: MIT
"""Real Linux guests for the tests: fetch, cache, initramfs, boot, reap.

Debian's guest kernel (linux-image-amd64) and busybox-static are fetched
with `apt-get download` into a cache on first use (never installed on the
host): $ISM_VM_CACHE, else $XDG_CACHE_HOME/ism-vm, else ~/.cache/ism-vm.
The kernel is booted straight from its uncompressed ELF image (PVH entry,
no firmware: about 4 s to userspace under TCG) with an initramfs the test
builds: busybox, the kernel modules a guest needs (vfio-pci and its
dependencies), ism-guest and a script.  The serial console is read line
by line; every QEMU runs in a process group of its own under a hard
timeout and is killed and reaped on success, failure and timeout.

KVM is used only when ISM_VM_ACCEL=kvm says so: the software KVM of some
machines cannot boot Debian's kernel.  Skip (exit 77) only when QEMU or
the packages cannot be had.
"""
import fcntl
import lzma
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

SKIP = 77
# Modules the guest loads, in order: vfio-pci takes the ivshmem device;
# virtio-net is for the benchmark's TCP baseline.
MODULES = ["irqbypass", "vfio", "vfio_iommu_type1", "vfio_virqfd",
           "vfio-pci-core", "vfio-pci", "virtio_ring", "virtio",
           "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio_pci",
           "failover", "net_failover", "virtio_net"]


class Skip(Exception):
    pass


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def log(msg):
    print(msg, flush=True)


def qemu_binary():
    q = shutil.which("qemu-system-x86_64")
    if not q:
        raise Skip("qemu-system-x86_64 not installed (apt-get install "
                   "qemu-system-x86)")
    return q


def cache_dir():
    d = os.environ.get("ISM_VM_CACHE")
    if not d:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
            os.path.expanduser("~"), ".cache")
        d = os.path.join(base, "ism-vm")
    os.makedirs(d, exist_ok=True)
    return d


def _run(args, cwd=None):
    r = subprocess.run(args, cwd=cwd, capture_output=True, text=True,
                       timeout=600)
    if r.returncode != 0:
        raise Skip("%s failed: %s" % (" ".join(args),
                                      (r.stderr or r.stdout).strip()[-300:]))
    return r.stdout


def _kernel_package():
    out = _run(["apt-cache", "depends", "linux-image-amd64"])
    m = re.search(r"Depends:\s*(linux-image-[0-9][^\s]*-amd64)", out)
    if not m:
        raise Skip("apt-cache: no kernel behind linux-image-amd64")
    return m.group(1)


def _vmlinux(bzimage, out):
    """The uncompressed ELF kernel inside a bzImage (xz, gzip or zstd)."""
    data = open(bzimage, "rb").read()
    i = data.find(b"\xfd7zXZ\x00")
    if i < 0:
        raise Skip("kernel image: no xz payload (compression changed?)")
    elf = lzma.LZMADecompressor().decompress(data[i:])
    if elf[:4] != b"\x7fELF":
        raise Skip("kernel image: payload is not an ELF")
    with open(out + ".tmp", "wb") as f:
        f.write(elf)
    os.rename(out + ".tmp", out)


def _depends(ko):
    m = re.search(rb"depends=([^\0]*)\0", open(ko, "rb").read())
    return [x for x in m.group(1).decode().split(",") if x] if m else []


def fetch():
    """The cached guest parts: {'kernel', 'busybox', 'modules': [paths]}."""
    for tool in ("apt-get", "apt-cache", "dpkg-deb"):
        if not shutil.which(tool):
            raise Skip(tool + " not available: cannot fetch guest packages")
    cache = cache_dir()
    with open(os.path.join(cache, "lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ready = os.path.join(cache, "ready")
        if os.path.exists(ready):
            parts = _parts(cache, open(ready).read().strip())
            if all(os.path.exists(p) for p in parts["modules"] +
                   [parts["kernel"], parts["busybox"]]):
                return parts
        pkg = _kernel_package()
        work = tempfile.mkdtemp(dir=cache, prefix="fetch-")
        try:
            try:
                _run(["apt-get", "download", pkg, "busybox-static"],
                     cwd=work)
            except Skip:
                # A machine without package lists yet.
                if os.geteuid() == 0:
                    _run(["apt-get", "update", "-q"])
                _run(["apt-get", "download", pkg, "busybox-static"],
                     cwd=work)
            debs = [f for f in os.listdir(work) if f.endswith(".deb")]
            x = os.path.join(work, "x")
            for deb in debs:
                _run(["dpkg-deb", "-x", os.path.join(work, deb), x])
            ver = pkg[len("linux-image-"):]
            dest = os.path.join(cache, ver)
            os.makedirs(os.path.join(dest, "modules"), exist_ok=True)
            _vmlinux(os.path.join(x, "boot", "vmlinuz-" + ver),
                     os.path.join(dest, "vmlinux"))
            shutil.copy(os.path.join(x, "bin", "busybox"),
                        os.path.join(dest, "busybox"))
            kos = {}
            for root, _, files in os.walk(os.path.join(x, "lib", "modules")):
                for f in files:
                    if f.endswith(".ko"):
                        kos[f[:-3]] = os.path.join(root, f)
            for name in MODULES:
                if name not in kos:
                    raise Skip("kernel %s has no module %s" % (ver, name))
                shutil.copy(kos[name], os.path.join(dest, "modules",
                                                    name + ".ko"))
            with open(ready + ".tmp", "w") as f:
                f.write(ver + "\n")
            os.rename(ready + ".tmp", ready)
            return _parts(cache, ver)
        finally:
            shutil.rmtree(work, ignore_errors=True)


def _parts(cache, ver):
    d = os.path.join(cache, ver)
    return {"version": ver, "kernel": os.path.join(d, "vmlinux"),
            "busybox": os.path.join(d, "busybox"),
            "modules": [os.path.join(d, "modules", m + ".ko")
                        for m in MODULES]}


# ---- initramfs (newc cpio, uncompressed: the kernel always takes it) ----

def _cpio_entry(out, name, mode, data=b"", ino=[1000]):
    ino[0] += 1
    name_b = name.encode() + b"\0"
    hdr = "070701" + "".join("%08x" % v for v in (
        ino[0], mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name_b), 0))
    out.write(hdr.encode() + name_b)
    out.write(b"\0" * ((4 - (110 + len(name_b)) % 4) % 4))
    out.write(data)
    out.write(b"\0" * ((4 - len(data) % 4) % 4))


INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /tmp
for m in $(cat /modules.order); do insmod /lib/$m.ko 2>/dev/null; done
echo "ISM-VM-UP $(cut -d' ' -f1 /proc/uptime)"
sh /run.sh
echo "ISM-VM-EXIT $?"
poweroff -f
"""


def initramfs(path, parts, files, script):
    """Write an initramfs: busybox, modules, @files {guest path: host
    path} and /run.sh = @script."""
    with open(path, "wb") as out:
        for d in ("bin", "dev", "proc", "sys", "lib", "tmp", "run"):
            _cpio_entry(out, d, 0o40755)
        _cpio_entry(out, "bin/busybox", 0o100755,
                    open(parts["busybox"], "rb").read())
        _cpio_entry(out, "init", 0o100755, INIT.encode())
        order = []
        for m in parts["modules"]:
            name = os.path.basename(m)[:-3]
            order.append(name)
            _cpio_entry(out, "lib/" + name + ".ko", 0o100644,
                        open(m, "rb").read())
        _cpio_entry(out, "modules.order", 0o100644,
                    ("\n".join(order) + "\n").encode())
        for gpath, hpath in files.items():
            _cpio_entry(out, gpath.lstrip("/"), 0o100755,
                        open(hpath, "rb").read())
        _cpio_entry(out, "run.sh", 0o100755, script.encode())
        _cpio_entry(out, "TRAILER!!!", 0)


# ---- a running guest ----

class Guest:
    """One QEMU guest with an ivshmem-doorbell device on @ivsh_sock.

    Serial console lines are collected by a thread; wait_line() waits for
    one matching a regex.  kill() ends the whole process group."""

    def __init__(self, tmp, name, parts, files, script, ivsh_sock,
                 vectors=2, iommu=True, timeout=300, mem=256, extra=()):
        self.name = name
        self.lines = []
        self.cv = threading.Condition()
        self.done = False
        self.initrd = os.path.join(tmp, name + ".cpio")
        initramfs(self.initrd, parts, files, script)
        accel = os.environ.get("ISM_VM_ACCEL", "tcg")
        machine = "q35"
        # no_timer_check: under TCG on a loaded host the kernel's check
        # that the timer ticks through the (remapped) IO-APIC can miss its
        # window and panic ("timer doesn't work through Interrupt-
        # remapped IO-APIC"); the timer works, only the check is slow.
        append = "console=ttyS0 quiet panic=-1 loglevel=3 no_timer_check"
        args = []
        if iommu:
            if accel == "kvm":
                machine += ",kernel-irqchip=split"
            args += ["-device", "intel-iommu,intremap=on"]
            append += " intel_iommu=on"
        args = ["timeout", "-s", "KILL", str(timeout), qemu_binary(),
                "-M", machine, "-accel", accel, "-m", str(mem),
                "-nodefaults", "-display", "none", "-no-reboot",
                "-serial", "stdio", "-monitor", "none",
                "-kernel", parts["kernel"], "-initrd", self.initrd,
                "-append", append] + args + [
                "-chardev", "socket,path=%s,id=ivsh" % ivsh_sock,
                "-device", "ivshmem-doorbell,chardev=ivsh,vectors=%d"
                % vectors] + list(extra)
        self.started = time.time()
        # Its own session: timeout and QEMU die together.
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\r\n")
            if os.environ.get("ISM_VM_VERBOSE"):
                print("[%s] %s" % (self.name, line), flush=True)
            with self.cv:
                self.lines.append(line)
                self.cv.notify_all()
        with self.cv:
            self.done = True
            self.cv.notify_all()

    def wait_line(self, pattern, secs=240, start=0):
        """The first match of @pattern in a line (from index @start)."""
        rx = re.compile(pattern)
        end = time.time() + secs
        i = start
        with self.cv:
            while True:
                while i < len(self.lines):
                    m = rx.search(self.lines[i])
                    if m:
                        return m
                    i += 1
                if self.done:
                    fail("%s: no line matching %r before QEMU exited:\n%s"
                         % (self.name, pattern, self.transcript()))
                left = end - time.time()
                if left <= 0:
                    fail("%s: timed out waiting for %r:\n%s"
                         % (self.name, pattern, self.transcript()))
                self.cv.wait(min(left, 1.0))

    def transcript(self):
        return "\n".join("  | " + l for l in self.lines[-60:])

    def qemu_pid(self):
        """QEMU's own pid (the child of timeout), or None."""
        try:
            with open("/proc/%d/task/%d/children"
                      % (self.proc.pid, self.proc.pid)) as f:
                kids = f.read().split()
            return int(kids[0]) if kids else None
        except OSError:
            return None

    def wait_exit(self, secs=120):
        try:
            return self.proc.wait(timeout=secs)
        except subprocess.TimeoutExpired:
            fail("%s: QEMU did not exit:\n%s" % (self.name, self.transcript()))

    def kill(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        self.reader.join(timeout=10)
        try:
            os.unlink(self.initrd)
        except OSError:
            pass


class Harness:
    """A test's temp dir, ismd and guests, all reaped by close()."""

    def __init__(self, ismd):
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
        self.tmp = tempfile.mkdtemp(prefix="ism-vm-")
        self.ismd_path = ismd
        self.guests = []
        self.procs = []
        self.ismd = None

    def start_ismd(self, domains):
        """ismd with @domains: a list of --ivshmem option strings whose
        PATH is a name in the temp dir."""
        self.sock = os.path.join(self.tmp, "ism.sock")
        args = [self.ismd_path, "--socket", self.sock, "--state-dir",
                os.path.join(self.tmp, "state")]
        paths = []
        for dom in domains:
            path = os.path.join(self.tmp, dom.split(",")[0])
            paths.append(path)
            args += ["--ivshmem", path + dom[len(dom.split(",")[0]):]]
        self.ismd_log = os.path.join(self.tmp, "ismd.log")
        self.ismd = subprocess.Popen(args, stderr=open(self.ismd_log, "w"))
        end = time.time() + 30
        while not all(os.path.exists(p) for p in paths + [self.sock]):
            if self.ismd.poll() is not None or time.time() > end:
                fail("ismd did not start:\n" + open(self.ismd_log).read())
            time.sleep(0.05)
        return paths

    def guest(self, name, parts, files, script, ivsh_sock, **kw):
        g = Guest(self.tmp, name, parts, files, script, ivsh_sock, **kw)
        self.guests.append(g)
        return g

    def spawn(self, args, **kw):
        p = subprocess.Popen(args, **kw)
        self.procs.append(p)
        return p

    def ismd_alive(self):
        return self.ismd is not None and self.ismd.poll() is None

    def close(self, ok):
        for g in self.guests:
            g.kill()
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        if self.ismd is not None:
            if self.ismd.poll() is None:
                self.ismd.terminate()
            try:
                self.ismd.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.ismd.kill()
                self.ismd.wait()
            if not ok:
                sys.stdout.write("--- ismd.log ---\n" +
                                 open(self.ismd_log).read()[-6000:])
        shutil.rmtree(self.tmp, ignore_errors=True)


def main(test):
    """Run test(harness) with argv; exit 0, 1 or 77."""
    h = None
    ok = False
    try:
        h = Harness(sys.argv[1])
        test(h, sys.argv[2:])
        ok = True
        return 0
    except Skip as e:
        print("SKIP: %s" % e, flush=True)
        ok = True
        return SKIP
    finally:
        if h:
            h.close(ok)
