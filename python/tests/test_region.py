# SPDX-License-Identifier: MIT
"""Regions: buffers over the mapping, read-only views, closing rules."""
import errno
import gc
import os

import pytest

import ism


def test_version():
    assert ism.version() == ism.__version__
    assert ism.version().count(".") == 2


def test_no_daemon_is_an_oserror(scratch):
    with pytest.raises(OSError) as e:
        ism.Conn(os.path.join(scratch, "nobody.sock"))
    assert e.value.errno in (errno.ENOENT, errno.ECONNREFUSED)


def test_memoryview_is_the_mapping(conn, conn2):
    r = conn.alloc(1 << 16, name="py")
    assert r.size >= 1 << 16 and not r.readonly
    mv = memoryview(r)
    assert len(mv) == r.size and not mv.readonly
    mv[0:5] = b"hello"
    mv[-1] = 7
    a = conn2.attach(r.token)
    assert a.readonly and a.id == r.id
    av = memoryview(a)
    assert av.readonly
    # The same pages, no copy: a later write shows through.
    assert bytes(av[0:5]) == b"hello" and av[-1] == 7
    mv[1] = ord("a")
    assert bytes(av[0:5]) == b"hallo"
    with pytest.raises(TypeError):
        av[0] = 1
    # Through ismd as well.
    assert a.read(0, 5) == b"hallo"
    av.release()
    mv.release()
    a.close()
    r.close()
    assert r.closed


def test_numpy_frombuffer(conn, conn2):
    np = pytest.importorskip("numpy")
    r = conn.alloc(4096)
    arr = np.frombuffer(r, dtype=np.uint32)
    assert arr.flags.writeable and arr.size == r.size // 4
    arr[:] = np.arange(arr.size, dtype=np.uint32)
    a = conn2.attach(r.token)
    ro = np.frombuffer(a, dtype=np.uint32)
    assert not ro.flags.writeable
    assert int(ro[1000]) == 1000 and int(ro.sum()) == int(arr.sum())
    with pytest.raises(BufferError):
        a.close()
    del ro, arr
    gc.collect()
    a.close()
    r.close()


def test_close_with_live_view_fails_cleanly(conn):
    r = conn.alloc(4096)
    mv = memoryview(r)
    sub = mv[10:20]
    mv.release()
    with pytest.raises(BufferError):
        r.close()
    with pytest.raises(BufferError):
        conn.close()  # nothing closed: the view still works
    assert not conn.closed and not r.closed
    sub[0] = 42
    assert r.read(10, 1) == b"\x2a"
    sub.release()
    r.close()
    with pytest.raises(BufferError):
        memoryview(r)
    with pytest.raises(ValueError):
        r.read(0, 1)


def test_conn_close_closes_children(ismd):
    c = ismd.conn()
    r = c.alloc(4096)
    ch = ism.Chan.create(c)
    c.close()
    assert r.closed and ch.closed and c.closed
    c.close()  # twice is fine


def test_nofd_attach(conn, conn2):
    r = conn.alloc(8192, writable=True)
    a = conn2.attach(r.token, writable=True, nofd=True)
    with pytest.raises(BufferError):
        memoryview(a)
    assert a.write(100, b"xyz") == 3
    assert bytes(memoryview(r)[100:103]) == b"xyz"
    with pytest.raises(OSError) as e:
        a.read(r.size, 1)
    assert e.value.errno == errno.EINVAL
    a.close()
    r.close()


def test_errors_carry_errno(conn):
    with pytest.raises(FileNotFoundError) as e:
        conn.attach("0" * 32)
    assert e.value.errno == errno.ENOENT
    with pytest.raises(ValueError):
        conn.attach("not a token")
    r = conn.alloc(4096)
    with pytest.raises(PermissionError):
        r.detach()  # the owner destroys instead: EPERM
    r.close()


def test_events(conn, conn2):
    r = conn.alloc(4096)
    a = conn2.attach(r.token)
    ev = conn.wait_event(5)
    assert ev is not None and ev.type == ism.EV_PEER_ATTACHED
    assert ev.peer == conn2.peer_id and ev.region == r.id
    assert r.notify(1234) == 1
    ev = conn2.wait_event(5)
    assert ev.type == ism.EV_NOTIFY and ev.value == 1234 and ev.name == "notify"
    assert conn2.wait_event(0) is None
    r.destroy()
    ev = conn2.wait_event(5)
    assert ev.type == ism.EV_REGION_GONE and ev.reason == ism.GONE_DESTROYED
    assert a.info()["gone"]
    a.close()
    r.close()


def test_many_short_lived_regions(conn):
    for _ in range(200):
        with conn.alloc(4096) as r:
            memoryview(r)[0] = 1
    gc.collect()
    assert not conn.closed


def test_conn_close_during_wait_is_refused(ismd, conn):
    import sys
    import threading
    got = []
    started = threading.Event()
    r = conn.alloc(4096)

    def waiter():
        started.set()
        got.append(conn.wait_event(30))

    old = sys.getswitchinterval()
    sys.setswitchinterval(30)  # the waiter keeps the GIL until it blocks
    try:
        t = threading.Thread(target=waiter)
        t.start()
        started.wait()
    finally:
        sys.setswitchinterval(old)
    with pytest.raises(OSError) as e:
        conn.close()
    assert e.value.errno == errno.EBUSY and not conn.closed
    with ismd.conn("other") as c2:
        c2.attach(r.token).close()  # an event for conn ends the wait
    t.join(30)
    assert got and got[0].type == ism.EV_PEER_ATTACHED
    r.close()
