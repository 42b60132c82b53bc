"""A small TCP proxy on loopback for storage faults: latency on every chunk, and dropped connections.

`FaultyProxy(target_port)` listens on its own port and forwards to 127.0.0.1:target_port, one
thread pair per connection. Settable at any time: `latency` (seconds added before each chunk is
forwarded), `drop_rate` (share of new connections cut, seeded), `drop_after_bytes` (cut every
connection once it has carried that many bytes from the client; None: never). Counts what it did.
"""

from __future__ import annotations

import random
import socket
import threading
import time


class FaultyProxy:
    def __init__(self, target_port: int, *, seed: int) -> None:
        self.target_port = target_port
        self.latency = 0.0
        self.drop_rate = 0.0
        self.drop_after_bytes: int | None = None
        self.connections = self.dropped = 0
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._open: set[socket.socket] = set()
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                cut_now = self._random.random() < self.drop_rate
            if cut_now:
                self._drop(client)
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                self._drop(client)
                continue
            self._open.update((client, upstream))
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _drop(self, sock: socket.socket) -> None:
        with self._lock:
            self.dropped += 1
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST, not FIN
        except OSError:
            pass
        sock.close()

    def _pipe(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        carried = 0
        try:
            while True:
                chunk = source.recv(65536)
                if not chunk:
                    break
                if self.latency:
                    time.sleep(self.latency)
                carried += len(chunk)
                if from_client and self.drop_after_bytes is not None and carried > self.drop_after_bytes:
                    self._drop(source)
                    sink.close()
                    return
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
                self._open.discard(sock)

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        for sock in list(self._open):
            sock.close()
