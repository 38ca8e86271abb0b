# SPDX-License-Identifier: MIT
"""Loopback ports for the Python tests and benchmarks: a free one to run
a private server on, and whether (or once) one takes connections."""

import socket
import time


def free_port():
    """A port free on 127.0.0.1 now (another process may take it before
    the caller's server binds it: a rare race, seen as a failed start)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port, host="127.0.0.1"):
    """Whether something accepts TCP connections on host:port."""
    with socket.socket() as s:
        try:
            s.connect((host, port))
            return True
        except OSError:
            return False


def wait_port(port, secs=20):
    """Wait up to secs for port_open(port); returns whether it opened."""
    end = time.monotonic() + secs
    while time.monotonic() < end:
        if port_open(port):
            return True
        time.sleep(0.05)
    return False
