#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Two processes talk over an ism channel; the reader uses the zero-copy
receive (a memoryview into the ring, released by the with block).

Without ismd: the channel is set up with Chan.local() and fork.

  python3 python/examples/chan_echo.py
"""
import os
import sys

import ism


def main():
    a, b = ism.Chan.local(), ism.Chan.local()
    fa, fb = a.local_export(), b.local_export()
    pid = os.fork()
    if pid == 0:                       # the echo side: uses b only
        try:
            b.local_connect(*fa)
            while True:
                with b.peek() as msg:  # in place, read-only
                    if len(msg) == 0:
                        break
                    b.send(bytes(msg).upper())
        finally:
            os._exit(0)
    for fd in fa:
        os.close(fd)
    a.local_connect(*fb)
    for word in (b"hello", b"shared", b"memory"):
        a.send(word)
        print(a.recv().decode())
    a.send(b"")                        # tell the child to stop
    os.waitpid(pid, 0)
    a.close()
    b.close()


if __name__ == "__main__":
    sys.exit(main())
