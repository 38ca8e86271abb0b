#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""An ism stream served with `selectors`, like a socket.  Both ends are
ism streams on one host, so the bytes move over shared memory (path
'shm'); a plain TCP client would be served the same way over TCP.
Needs a running ismd ($ISM_SOCKET).

  python3 python/examples/stream_selectors.py
"""
import selectors
import sys
import threading

import ism


def main():
    server_conn, client_conn = ism.Conn(name="server"), ism.Conn(name="client")
    lst = ism.Listener(server_conn, "127.0.0.1", 0)
    result = {}

    def client():
        with ism.Stream.connect(client_conn, "127.0.0.1", lst.port) as s:
            s.sendall(b"ping over " + s.path.encode())
            result["reply"] = s.recv(100)

    t = threading.Thread(target=client)
    t.start()
    s = lst.accept()
    s.setblocking(False)
    # As with an SSL socket: try first, and wait for readiness only after
    # BlockingIOError (that call is what arms fileno()).
    with selectors.DefaultSelector() as sel:
        sel.register(s, selectors.EVENT_READ)
        while True:
            try:
                data = s.recv(100)
                break
            except BlockingIOError:
                sel.select()
    s.setblocking(True)
    s.sendall(data.upper())
    t.join()
    print(result["reply"].decode(), "/ server path:", s.path)
    s.close()
    lst.close()
    server_conn.close()
    client_conn.close()


if __name__ == "__main__":
    sys.exit(main())
