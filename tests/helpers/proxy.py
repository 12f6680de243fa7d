"""A TCP forwarder the tests can cut, to partition one agent from the coordinator.

The agent is told to reach the coordinator through it. `cut()` drops every open
connection and then black-holes new ones (accepted, never answered: calls time out
as across a real partition); `heal()` forwards again. The cache clients' path to the
engines does not go through it, so they still reach the partitioned host.
"""
from __future__ import annotations

import socket
import threading


class CuttableProxy:
    def __init__(self, target: tuple[str, int], listen: str = "127.0.0.1"):
        self.target = target
        self._server = socket.socket()
        self._server.bind((listen, 0))
        self._server.listen(64)
        self.endpoint = f"{listen}:{self._server.getsockname()[1]}"
        self._cut = threading.Event()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._refuse = False
        self._budget: int | None = None   # bytes to forward client -> target before cutting itself
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            with self._lock:
                self._sockets.add(client)
            if self._cut.is_set():
                if self._refuse:
                    client.close()            # refused at once: the caller fails fast
                continue                      # black hole: held open, never answered
            try:
                upstream = socket.create_connection(self.target, timeout=2)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.add(upstream)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while not self._cut.is_set():
                data = source.recv(65536)
                if not data:
                    break
                if sink.getpeername()[1] == self.target[1] and self._spend(len(data)):
                    break
                sink.sendall(data)
        except OSError:
            pass
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut_after(self, upstream_bytes: int) -> None:
        """Forward this many more bytes towards the target, then cut (refusing new connections)."""
        self._budget = upstream_bytes

    def _spend(self, n: int) -> bool:
        with self._lock:
            if self._budget is None:
                return False
            self._budget -= n
            cut = self._budget < 0
        if cut:
            self.cut(refuse=True)
        return cut

    def cut(self, refuse: bool = False) -> None:
        self._refuse = refuse
        self._budget = None
        self._cut.set()
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def heal(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for s in sockets:                     # the black-holed ones: let the client reconnect
            s.close()
        self._cut.clear()

    def close(self) -> None:
        self._closed.set()
        self.cut()
        self._server.close()
