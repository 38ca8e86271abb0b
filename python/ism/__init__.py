# SPDX-License-Identifier: MIT
"""ism: capability-based shared memory between processes, containers and VMs.

A binding over libism's public C API (docs/python.md).  The pieces:

- :class:`Conn` - a connection to ismd; events with :meth:`Conn.wait_event`.
- :class:`Region` - shared memory; ``memoryview(region)`` shows the mapping
  without a copy (read-only regions give read-only views), so
  ``numpy.frombuffer(region, dtype)`` works.  Closing a region while views
  are alive raises :exc:`BufferError` and closes nothing.
- :class:`Chan` - messages over shared-memory rings: ``send``, ``recv``,
  ``recv_into`` and ``with ch.peek() as mv:`` to read one in place.
- :class:`Stream` / :class:`Listener` - socket-like byte streams that move
  onto shared memory when both ends are ism; ``fileno()`` works with
  ``select``, ``selectors`` and asyncio (see :func:`wait_readable`).
- :class:`Ivshmem` - membership of an ivshmem domain (memory and vectors).

Errors are :exc:`OSError` with the errno, as Python raises them for system
calls: ``BrokenPipeError`` for a peer that left, ``BlockingIOError`` for a
non-blocking call that would wait, ``TimeoutError`` for a timeout, and so on.
"""

import asyncio as _asyncio

from ._ism import (  # noqa: F401
    ACCESS_RO,
    ACCESS_RW,
    CHAN_NO_SPIN,
    EV_DISCONNECTED,
    EV_NOTIFY,
    EV_OVERFLOW,
    EV_PEER_ATTACHED,
    EV_PEER_DETACHED,
    EV_RECONNECTED,
    EV_REGION_GONE,
    EV_SHUTDOWN,
    EV_WATCH,
    GONE_DESTROYED,
    GONE_LOST,
    GONE_OWNER_LEFT,
    GONE_REVOKED,
    TOKEN_SIZE,
    Chan,
    Conn,
    Event,
    Ivshmem,
    Listener,
    Region,
    Stream,
    View,
    default_socket,
    version,
)

__version__ = version()

__all__ = [
    "Chan", "Conn", "Event", "Ivshmem", "Listener", "Region", "Stream",
    "View", "default_socket", "version", "wait_readable",
    "ACCESS_RO", "ACCESS_RW", "CHAN_NO_SPIN", "TOKEN_SIZE",
    "EV_NOTIFY", "EV_REGION_GONE", "EV_PEER_ATTACHED", "EV_PEER_DETACHED",
    "EV_OVERFLOW", "EV_WATCH", "EV_SHUTDOWN", "EV_RECONNECTED",
    "EV_DISCONNECTED", "GONE_DESTROYED", "GONE_OWNER_LEFT", "GONE_REVOKED",
    "GONE_LOST",
]


async def wait_readable(obj) -> None:
    """Wait in the running asyncio loop until ``obj.fileno()`` is readable.

    With a non-blocking handle (``settimeout(0)``), a call that raised
    ``BlockingIOError`` may progress once this returns::

        s.setblocking(False)
        while True:
            try:
                data = s.recv(65536)
                break
            except BlockingIOError:
                await ism.wait_readable(s)
    """
    loop = _asyncio.get_running_loop()
    fut = loop.create_future()
    fd = obj.fileno()
    loop.add_reader(fd, lambda: fut.done() or fut.set_result(None))
    try:
        await fut
    finally:
        loop.remove_reader(fd)
