#!/usr/bin/env python3
"""Run a command; fail if a process or temporary file it started outlives it.

Usage: no-leftovers.py NAME RESULTS -- COMMAND...

Processes: this script makes itself the child subreaper, so whatever the
command starts and abandons (a daemon, a QEMU left paused, a forked child
that outlived its parent) is reparented here rather than to init: it is
listed, killed and reaped.  Files: the command runs with TMPDIR set to a
private directory (tests put everything temporary under $TMPDIR); what is
still in it at the end is listed, then removed.  A private directory, not
a before/after look at /tmp, so that two runs at once do not blame each
other.

Appends "NAME OK" or "NAME FAIL <what>" to RESULTS (for test-summary.py)
and exits with the command's status, or 1 if it succeeded but left
something behind.
"""
import ctypes
import os
import signal
import shutil
import subprocess
import sys
import tempfile
import time

PR_SET_CHILD_SUBREAPER = 36


def children():
    """Our children, adopted ones included."""
    kids = set()
    base = f"/proc/{os.getpid()}/task"
    for tid in os.listdir(base):
        try:
            with open(f"{base}/{tid}/children") as f:
                kids.update(int(p) for p in f.read().split())
        except OSError:
            pass
    return kids


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "?"


def main():
    if len(sys.argv) < 5 or sys.argv[3] != "--":
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    name, results, cmd = sys.argv[1], sys.argv[2], sys.argv[4:]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print("no-leftovers: prctl: cannot become a subreaper", file=sys.stderr)
        return 1
    tmp = tempfile.mkdtemp(prefix="ism-check-")
    os.chmod(tmp, 0o1777)  # like /tmp: tests run parts as other uids
    rc = subprocess.call(cmd, env=dict(os.environ, TMPDIR=tmp))
    problems = []
    # Adopted orphans: give exiting ones a moment, then list and kill.
    deadline = time.time() + 2
    while children() and time.time() < deadline:
        try:
            os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        time.sleep(0.05)
    for pid in sorted(children()):
        problems.append(f"process {pid} still running: {cmdline(pid)}")
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break
    for e in sorted(os.listdir(tmp)):
        problems.append(f"left behind: $TMPDIR/{e}")
    shutil.rmtree(tmp, ignore_errors=True)
    with open(results, "a") as f:
        if problems:
            f.write(f"{name} FAIL {len(problems)} leftover(s)\n")
        else:
            f.write(f"{name} OK\n")
    for p in problems:
        print(f"no-leftovers: {name}: {p}", file=sys.stderr)
    if rc == 0 and problems:
        rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
