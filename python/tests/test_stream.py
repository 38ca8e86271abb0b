# SPDX-License-Identifier: MIT
"""Streams: socket-like calls, selectors and asyncio, both paths."""
import asyncio
import selectors
import socket
import threading

import pytest

import ism


def connect_pair(c1, c2, **kw):
    lst = ism.Listener(c1, "127.0.0.1", 0, **kw)
    out = {}

    def client():
        try:
            out["c"] = ism.Stream.connect(c2, "127.0.0.1", lst.port, **kw)
        except Exception as e:  # reported below
            out["e"] = e

    t = threading.Thread(target=client)
    t.start()
    lst.settimeout(30)
    server = lst.accept()
    t.join(30)
    lst.close()
    if "e" in out:
        raise out["e"]
    return server, out["c"]


@pytest.fixture
def streams(conn, conn2):
    s, c = connect_pair(conn, conn2)
    yield s, c
    s.close()
    c.close()


def test_shared_memory_path(streams):
    s, c = streams
    c.sendall(b"hi")  # the server finishes its handshake on first use
    assert s.recv(10) == b"hi"
    assert s.path == "shm" and c.path == "shm" and c.reason == "none"


def test_sendall_recv_into(streams):
    s, c = streams
    data = bytes(range(256)) * 4096  # 1 MiB, more than one ring
    t = threading.Thread(target=c.sendall, args=(data,))
    t.start()
    buf = bytearray(len(data))
    view = memoryview(buf)
    got = 0
    while got < len(data):
        n = s.recv_into(view[got:])
        assert n > 0
        got += n
    t.join(30)
    assert buf == data
    c.shutdown(socket.SHUT_WR)
    assert s.recv(10) == b""


def test_nonblocking_and_selectors(streams):
    s, c = streams
    c.sendall(b"x")
    assert s.recv(1) == b"x"
    s.setblocking(False)
    with pytest.raises(BlockingIOError):
        s.recv(10)
    with selectors.DefaultSelector() as sel:
        sel.register(s, selectors.EVENT_READ)
        c.sendall(b"ready")
        assert sel.select(30)
    assert s.recv(10) == b"ready"
    s.settimeout(0.05)
    with pytest.raises(TimeoutError):
        s.recv(10)


def test_asyncio(streams):
    s, c = streams
    c.sendall(b"x")
    assert s.recv(1) == b"x"
    s.setblocking(False)

    async def reader():
        chunks = b""
        while len(chunks) < 6:
            try:
                chunks += s.recv(100)
            except BlockingIOError:
                await ism.wait_readable(s)
        return chunks

    async def main():
        task = asyncio.ensure_future(reader())
        await asyncio.sleep(0)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, c.sendall, b"async!")
        return await asyncio.wait_for(task, 30)

    assert asyncio.run(main()) == b"async!"


def test_peek(streams):
    s, c = streams
    c.sendall(b"abcdef")
    v = s.peek()
    with v as mv:
        assert mv.readonly and bytes(mv[:3]) == b"abc"
    c.sendall(b"g")
    got = b""
    while not got.endswith(b"g"):
        got += s.recv(100)
    assert got.endswith(b"g") and b"abc" not in got


def test_tcp_fallback(conn):
    s, c = connect_pair(conn, None)
    c.sendall(b"plain")
    assert s.recv(10) == b"plain"
    assert c.path == "tcp" and c.reason == "no-ismd" or c.path == "tcp"
    s.close()
    c.close()


def test_reserve_zero_copy_send(streams):
    s, c = streams
    with c.reserve(5) as mv:
        assert not mv.readonly and 1 <= len(mv) <= 5
        mv[:] = b"abcde"[:len(mv)]
        n = len(mv)
    got = b""
    while len(got) < n:
        got += s.recv(100)
    assert got == b"abcde"[:n]
    # A block that raises sends nothing.
    with pytest.raises(RuntimeError):
        with c.reserve(3) as mv:
            mv[:1] = b"X"
            raise RuntimeError
    v = c.reserve(10)
    with pytest.raises(BufferError):
        c.sendall(b"no")  # the room is still out
    with v as mv:
        mv[:2] = b"ok"
    v2 = c.reserve(10)
    with v2 as mv:
        mv[:4] = b"four"
        keep = mv[:1]
        with pytest.raises(BufferError):
            v2.release(4)  # a sub-view is still alive
        keep.release()
        v2.release(4)
    c.sendall(b"!")
    got = b""
    while not got.endswith(b"!"):
        got += s.recv(100)
    assert got.startswith(b"ok") and got.endswith(b"four!")
