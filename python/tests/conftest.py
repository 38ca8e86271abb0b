# SPDX-License-Identifier: MIT
"""A private ismd per test session (or per test, with extra arguments).

Like tests/helpers/t_daemon.c: ismd from $ISMD on a socket in a temp dir,
killed with the test process (PR_SET_PDEATHSIG), always reaped.
"""
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

import ism


def _pdeathsig():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


class Ismd:
    def __init__(self, extra=()):
        self.dir = tempfile.mkdtemp(prefix="ism-py-")
        self.socket = os.path.join(self.dir, "ism.sock")
        self.log = os.path.join(self.dir, "ismd.log")
        exe = os.environ.get("ISMD", "ismd")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [exe, "--socket", self.socket, "--state-dir",
                 os.path.join(self.dir, "state"), "--log-level", "debug",
                 *extra],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                preexec_fn=_pdeathsig)
        deadline = time.monotonic() + 20  # an ASan build starts slowly
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                raise RuntimeError("ismd exited: " + self.log_text())
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
                    s.connect(self.socket)
                return
            except OSError:
                time.sleep(0.01)
        self.stop()
        raise RuntimeError("ismd did not start")

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def conn(self, name="pytest", **kw):
        return ism.Conn(self.socket, name=name, **kw)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        log = self.log_text()
        if not os.environ.get("ISM_TEST_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)
        return rc, log


@pytest.fixture(scope="session")
def ismd():
    d = Ismd()
    yield d
    rc, log = d.stop()
    assert "ERROR: AddressSanitizer" not in log and "runtime error:" not in log, log
    assert rc == 0, "ismd exited with %s:\n%s" % (rc, log)


@pytest.fixture
def conn(ismd):
    with ismd.conn("a") as c:
        yield c


@pytest.fixture
def conn2(ismd):
    with ismd.conn("b") as c:
        yield c


@pytest.fixture
def scratch():
    """A temp dir removed afterwards (pytest's tmp_path outlives the run)."""
    d = tempfile.mkdtemp(prefix="ism-py-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def make_ismd():
    started = []

    def start(*extra):
        d = Ismd(extra)
        started.append(d)
        return d

    yield start
    for d in started:
        d.stop()
