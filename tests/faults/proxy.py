"""A small TCP proxy that can lose an answer after the server has committed.

``CuttingProxy(target_port).start()`` forwards 127.0.0.1:``port`` to the target. After
``cut(n)``, the next ``n`` connections get their request through to the server, but as soon
as the server starts answering — so it has done the work and committed — both sockets are
reset and the client never reads the answer. This is the fault that idempotency keys exist
for: the client cannot tell a lost request from a lost answer.

``down()``/``up()``: while down, new connections are reset at once (the network is cut).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading

from credits.bench.servers import free_port


def _reset(sock: socket.socket) -> None:
    """Close with a TCP RST (SO_LINGER 0), as a cut cable or a crashed peer looks."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


class CuttingProxy:
    def __init__(self, target_port: int, *, port: int | None = None) -> None:
        self.target_port = target_port
        self.port = port or free_port()
        self._lock = threading.Lock()
        self._to_cut = 0
        self._down = False
        self.cut_count = 0
        self._listener: socket.socket | None = None
        self._stopped = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> CuttingProxy:
        self._listener = socket.create_server(("127.0.0.1", self.port), backlog=128)
        self._listener.settimeout(0.2)
        threading.Thread(target=self._accept, name=f"proxy-{self.port}", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._listener is not None:
            self._listener.close()

    def cut(self, n: int = 1) -> None:
        """Lose the answers of the next ``n`` connections (after the server sent them)."""
        with self._lock:
            self._to_cut += n

    def down(self) -> None:
        with self._lock:
            self._down = True

    def up(self) -> None:
        with self._lock:
            self._down = False

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                if self._down:
                    _reset(client)
                    continue
                cut = self._to_cut > 0
                if cut:
                    self._to_cut -= 1
            threading.Thread(target=self._serve, args=(client, cut), daemon=True).start()

    def _serve(self, client: socket.socket, cut: bool) -> None:
        try:
            server = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
        except OSError:
            _reset(client)
            return
        server.settimeout(None)
        done = threading.Event()

        def upstream() -> None:  # client -> server
            try:
                while data := client.recv(65536):
                    server.sendall(data)
                with contextlib.suppress(OSError):
                    server.shutdown(socket.SHUT_WR)
            except OSError:
                pass

        threading.Thread(target=upstream, daemon=True).start()
        try:
            while data := server.recv(65536):
                if cut:
                    # The server answered: it has done the work. The client never hears.
                    with self._lock:
                        self.cut_count += 1
                    break
                client.sendall(data)
        except OSError:
            pass
        finally:
            done.set()
            if cut:
                _reset(client)
                _reset(server)
            else:
                with contextlib.suppress(OSError):
                    client.shutdown(socket.SHUT_RDWR)
                client.close()
                server.close()
