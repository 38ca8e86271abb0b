#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Why `import ism` is a C extension: the cost of one trivial call.

Times Chan.max_msg() through the C extension against the same libism
call, ism_chan_max_msg(), through a cffi API-mode module built here (in a
temp dir, against the build tree's libism.a), and a no-op Python call as
the floor.  Needs python3-cffi; run alone:

  flock /tmp/ism-bench.lock python3 python/bench/call_overhead.py BUILD_DIR
"""
import os
import shutil
import sys
import tempfile
import timeit

N = 2_000_000

CDEF = """
struct ism_chan;
struct ism_chan_opts { uint32_t size; uint32_t ring_size; uint32_t spin_us;
                       uint32_t flags; uint64_t peer; const char *name; };
int ism_chan_local_create(const struct ism_chan_opts *opts,
                          struct ism_chan **out);
size_t ism_chan_max_msg(struct ism_chan *ch);
"""


def best(fn, *args):
    t = min(timeit.Timer("f(*a)", globals={"f": fn, "a": args})
            .repeat(repeat=5, number=N))
    return t / N * 1e9


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
    src = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    sys.path.insert(0, os.path.join(build, "python"))
    import ism
    try:
        from cffi import FFI
    except ImportError:
        print("call_overhead: python3-cffi is not installed")
        return 77
    tmp = tempfile.mkdtemp(prefix="ism-cffi-")
    ffi = FFI()
    ffi.cdef(CDEF)
    ffi.set_source("_ism_cffi_probe", "#include <ism.h>",
                   include_dirs=[os.path.join(src, "include")],
                   extra_objects=[os.path.join(build, "libism.a")],
                   libraries=["pthread"])
    ffi.compile(tmpdir=tmp)
    sys.path.insert(0, tmp)
    from _ism_cffi_probe import ffi as cffi, lib

    ch = ism.Chan.local()
    pp = cffi.new("struct ism_chan **")
    o = cffi.new("struct ism_chan_opts *",
                 {"size": cffi.sizeof("struct ism_chan_opts")})
    assert lib.ism_chan_local_create(o, pp) == 0
    assert ch.max_msg() == lib.ism_chan_max_msg(pp[0])
    floor = best(lambda: None)
    ext = best(ch.max_msg)
    api = best(lib.ism_chan_max_msg, pp[0])
    print(f"no-op Python call                     {floor:6.1f} ns")
    print(f"C extension: Chan.max_msg()           {ext:6.1f} ns")
    print(f"cffi API mode: lib.ism_chan_max_msg() {api:6.1f} ns")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
