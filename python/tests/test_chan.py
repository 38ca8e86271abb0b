# SPDX-License-Identifier: MIT
"""Channels: copy and zero-copy receive, timeouts, closing rules."""
import errno
import os
import selectors
import sys
import threading

import pytest

import ism


@pytest.fixture
def pair(conn, conn2):
    a = ism.Chan.create(conn, ring_size=1 << 16)
    b = ism.Chan.create(conn2, ring_size=1 << 16)
    a.connect(b.token)
    b.connect(a.token)
    yield a, b
    a.close()
    b.close()


def test_send_recv(pair):
    a, b = pair
    a.send(b"one")
    a.send(bytearray(b"two"))
    a.send(memoryview(b"xthreex")[1:-1])
    assert b.recv() == b"one"
    buf = bytearray(16)
    assert b.recv_into(buf) == 3 and buf[:3] == b"two"
    assert b.recv(100) == b"three"
    b.send(b"back")
    assert a.recv() == b"back"


def test_message_too_big(pair):
    a, b = pair
    with pytest.raises(OSError) as e:
        a.send(bytes(a.max_msg() + 1))
    assert e.value.errno == errno.EMSGSIZE
    a.send(bytes(100))
    with pytest.raises(OSError) as e:
        b.recv(10)  # stays queued
    assert e.value.errno == errno.EMSGSIZE
    assert len(b.recv()) == 100


def test_peek_in_place(pair):
    a, b = pair
    a.send(b"zero-copy")
    a.send(b"next")
    with b.peek() as mv:
        assert mv.readonly and bytes(mv) == b"zero-copy"
        with pytest.raises(BufferError):
            b.recv()  # the peeked message is not released yet
    assert b.recv() == b"next"


def test_peek_release_with_live_subview_fails_cleanly(pair):
    a, b = pair
    a.send(b"abcdef")
    v = b.peek()
    mv = v.__enter__()
    sub = mv[1:3]
    with pytest.raises(BufferError):
        v.__exit__(None, None, None)
    with pytest.raises(BufferError):
        b.close()
    assert bytes(sub) == b"bc"
    sub.release()
    v.release()
    a.send(b"g")
    assert b.recv() == b"g"


def test_numpy_view_of_message(pair):
    np = pytest.importorskip("numpy")
    a, b = pair
    a.send(np.arange(16, dtype=np.int64).tobytes())
    v = b.peek()
    arr = np.frombuffer(v, dtype=np.int64)
    assert int(arr.sum()) == 120 and not arr.flags.writeable
    with pytest.raises(BufferError):
        v.release()
    del arr
    v.release()


def test_timeouts(pair):
    a, b = pair
    assert b.gettimeout() is None
    b.settimeout(0)
    with pytest.raises(BlockingIOError):
        b.recv()
    b.settimeout(0.05)
    with pytest.raises(TimeoutError):
        b.recv()
    b.setblocking(True)
    assert b.gettimeout() is None


def test_blocking_recv_from_another_thread(pair):
    a, b = pair
    got = []
    t = threading.Thread(target=lambda: got.append(b.recv()))
    t.start()
    a.send(b"wake")
    t.join(30)
    assert got == [b"wake"]


def test_selectors(pair):
    a, b = pair
    b.setblocking(False)
    with pytest.raises(BlockingIOError):
        b.recv()
    with selectors.DefaultSelector() as sel:
        sel.register(b, selectors.EVENT_READ)
        a.send(b"ready")
        assert sel.select(30)
    assert b.recv() == b"ready"


def test_shutdown(pair):
    a, b = pair
    a.send(b"last")
    a.shutdown()
    assert b.recv() == b"last"
    with pytest.raises(OSError) as e:
        b.recv()
    assert e.value.errno == errno.ESHUTDOWN


def test_local_channel_across_fork():
    # Each process uses its own end only: closing a copy of the other
    # end would shut that end's direction down for both.
    a = ism.Chan.local()
    b = ism.Chan.local()
    fa = a.local_export()
    fb = b.local_export()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            b.local_connect(*fa)
            b.send(b"from child " + b.recv())
            code = 0
        finally:
            os._exit(code)
    for fd in fa:
        os.close(fd)
    a.local_connect(*fb)
    a.send(b"ping")
    assert a.recv() == b"from child ping"
    _, st = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(st) == 0
    a.close()
    b.close()


def test_close_during_blocking_call_is_refused(pair):
    a, b = pair
    got = []
    started = threading.Event()

    def reader():
        started.set()
        got.append(b.recv())

    # With a long switch interval the reader keeps the GIL from set()
    # until recv() drops it, blocked: when wait() returns, it is inside.
    old = sys.getswitchinterval()
    sys.setswitchinterval(30)
    try:
        t = threading.Thread(target=reader)
        t.start()
        started.wait()
    finally:
        sys.setswitchinterval(old)
    with pytest.raises(OSError) as e:
        b.close()
    assert e.value.errno == errno.EBUSY and not b.closed
    a.send(b"done")
    t.join(30)
    assert got == [b"done"]
    b.close()
    assert b.closed
