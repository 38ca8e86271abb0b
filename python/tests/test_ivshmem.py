# SPDX-License-Identifier: MIT
"""ivshmem members: the domain's memory as a buffer, vectors."""
import os
import select

import pytest


def test_member(make_ismd, scratch):
    d = make_ismd("--ivshmem", "%s,size=1M,vectors=2,name=pydom"
                  % os.path.join(scratch, "ivsh.sock"))
    with d.conn("m1") as c1, d.conn("m2") as c2:
        doms = c1.ivshmem_list()
        assert [x["name"] for x in doms] == ["pydom"]
        m1 = c1.ivshmem_join("pydom")
        m2 = c2.ivshmem_join("pydom")
        assert m1.size == 1 << 20 and m1.vectors == 2 and m1.id != m2.id
        v1, v2 = memoryview(m1), memoryview(m2)
        assert not v1.readonly
        v1[100:104] = b"ivsh"
        assert bytes(v2[100:104]) == b"ivsh"
        fd = m2.vector_fd(1)
        c1.ivshmem_ring(m1.domain_id, m2.id, 1)
        r, _, _ = select.select([fd], [], [], 30)
        assert r == [fd]
        assert int.from_bytes(os.read(fd, 8), "little") >= 1
        peers = c1.ivshmem_peers(m1.domain_id)
        assert {p["id"] for p in peers} >= {m1.id, m2.id}
        with pytest.raises(BufferError):
            m1.leave()
        v1.release()
        v2.release()
        m1.leave()
        m2.leave()
