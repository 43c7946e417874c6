"""A small TCP proxy that can lose an answer after the server has committed.

``CuttingProxy(target_port).start()`` forwards 127.0.0.1:``port`` to the target. After
``cut(n)``, the next ``n`` connections get their request through to the server, but as soon
as the server starts answering — so it has done the work and committed — both sockets are
reset and the client never reads the answer. This is the fault that idempotency keys exist
for: the client cannot tell a lost request from a lost answer.

``hold(n)``: the next ``n`` connections get their request through, and the answer is held
back (``holding`` is set once one is) until ``release()`` — time for the test to kill the
client while its request is in flight and already committed.

``down()``/``up()``: while down, new connections are reset at once (the network is cut).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading

from credits.bench.servers import free_port


def _reset(sock: socket.socket) -> None:
    """Close with a TCP RST (SO_LINGER 0), as a cut cable or a crashed peer looks. The
    shutdown first wakes a thread blocked reading it (close alone would not)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


class CuttingProxy:
    def __init__(self, target_port: int, *, port: int | None = None) -> None:
        self.target_port = target_port
        self.port = port or free_port()
        self._lock = threading.Lock()
        self._to_cut = 0
        self._to_hold = 0
        self._match = b""
        self._down = False
        #: Set when a held connection has its answer waiting (the server has committed).
        self.holding = threading.Event()
        self._released = threading.Event()
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

    def cut(self, n: int = 1, *, only: bytes = b"") -> None:
        """Lose the answers of the next ``n`` connections (after the server sent them) whose
        request starts with ``only`` (any request if empty)."""
        with self._lock:
            self._to_cut += n
            self._match = only

    def hold(self, n: int = 1, *, only: bytes = b"") -> None:
        """Hold back the answers of the next ``n`` connections whose request starts with
        ``only`` until :meth:`release`."""
        with self._lock:
            self._to_hold += n
            self._match = only
        self.holding.clear()
        self._released.clear()

    def release(self) -> None:
        self._released.set()

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
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _decide(self, first: bytes) -> tuple[bool, bool]:
        """(cut, held) for a connection whose request begins with ``first``."""
        with self._lock:
            if not first.startswith(self._match):
                return False, False
            if self._to_cut > 0:
                self._to_cut -= 1
                return True, False
            if self._to_hold > 0:
                self._to_hold -= 1
                return False, True
            return False, False

    def _serve(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
        except OSError:
            _reset(client)
            return
        server.settimeout(None)
        decided = threading.Event()
        fate = [False, False]  # cut, held

        def upstream() -> None:  # client -> server
            try:
                first = True
                while data := client.recv(65536):
                    if first:
                        fate[:] = self._decide(data)
                        decided.set()
                        first = False
                    server.sendall(data)
                with contextlib.suppress(OSError):
                    server.shutdown(socket.SHUT_WR)
            except OSError:
                pass

        threading.Thread(target=upstream, daemon=True).start()
        cut = held = False
        answered = False
        try:
            while data := server.recv(65536):
                if not answered:
                    answered = True
                    decided.wait(5)
                    cut, held = fate
                if cut:
                    # The server answered: it has done the work. The client never hears.
                    with self._lock:
                        self.cut_count += 1
                    break
                if held:
                    self.holding.set()
                    self._released.wait(60)
                    held = False
                client.sendall(data)
        except OSError:
            pass
        finally:
            decided.set()
            if cut:
                _reset(client)
                _reset(server)
            else:
                with contextlib.suppress(OSError):
                    client.shutdown(socket.SHUT_RDWR)
                client.close()
                server.close()
