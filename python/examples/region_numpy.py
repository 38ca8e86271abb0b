#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Share a numpy array between two processes through an ism region.

The parent allocates a region, fills an array that *is* the mapping, and
hands the token to a child; the child attaches read-only and reads the
same pages (no copy on either side).  Needs a running ismd ($ISM_SOCKET).

  python3 python/examples/region_numpy.py
"""
import os
import sys

import numpy as np

import ism


def child(token):
    with ism.Conn(name="reader") as c:
        r = c.attach(token)
        a = np.frombuffer(r, dtype=np.float64)   # read-only, in place
        print(f"child: sum of {a.size} doubles = {a.sum():.0f}, "
              f"writeable={a.flags.writeable}")
        del a
        r.close()


def main():
    with ism.Conn(name="writer") as c:
        r = c.alloc(8 << 20)
        a = np.frombuffer(r, dtype=np.float64)   # writable, in place
        a[:] = np.arange(a.size)
        pid = os.fork()
        if pid == 0:
            try:
                child(r.token)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        print(f"parent: expected {a.sum():.0f}")
        del a            # no view may outlive the region
        r.close()


if __name__ == "__main__":
    sys.exit(main())
