"""``shop-terminal serve``: the counter screen under waitress, plus the background sync.

Why waitress: a production-quality, pure-Python WSGI server that runs the same on the Linux,
macOS or Windows PC at a till, in one process (so the background sync thread and the
screen share one terminal). gunicorn, which the ledger uses, does not run on Windows.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any

from shop_terminal.config import Config, secret_key
from shop_terminal.terminal import Terminal
from shop_terminal.web import create_app

log = logging.getLogger("shop_terminal")


class BackgroundSync:
    """Keeps the terminal in touch with the ledger while the screen is open.

    Every ``busy_interval_s`` while offline or while something waits to be sent (vouchers
    accepted offline, requests whose answer was lost), and every ``idle_interval_s``
    otherwise (a heartbeat: ``GET /terminal`` refreshes the limits, the trust list is
    revalidated, and the journal is uploaded), it runs :meth:`Terminal.sync`.
    """

    def __init__(
        self, terminal: Terminal, *, busy_interval_s: float = 5.0, idle_interval_s: float = 60.0
    ) -> None:
        self.terminal = terminal
        self.busy_interval_s = busy_interval_s
        self.idle_interval_s = idle_interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="shop-terminal-sync", daemon=True)

    def start(self) -> None:
        """Start the thread (it syncs once at once)."""
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Ask the thread to stop and wait for it, at most ``timeout_s``.

        A sync cut short by the process exiting is safe: every request to the ledger is
        journalled before it is sent and carries its idempotency key, so the next start
        resends it and the ledger replays its first answer (as after a power cut). Waiting
        longer would only keep the shopkeeper's Ctrl+C waiting on a slow ledger."""
        self._stop.set()
        self._thread.join(timeout=timeout_s)

    def _busy(self) -> bool:
        store = self.terminal.store
        return (
            not self.terminal.online()
            or store.queue_summary()[0] > 0
            or store.unresolved_count() > 0
        )

    def _run(self) -> None:
        last_sync = float("-inf")
        tick_s = min(1.0, self.busy_interval_s)
        while not self._stop.is_set():
            interval = self.busy_interval_s if self._busy() else self.idle_interval_s
            if time.monotonic() - last_sync >= interval:
                last_sync = time.monotonic()
                try:
                    report = self.terminal.sync()
                    for scan in report.exceptions + report.refused:
                        log.warning("needs attention: %s %s", scan.reference, scan.reason)
                except Exception:  # never let one bad sync stop the next
                    log.exception("background sync failed")
            self._stop.wait(tick_s)


def make_server(config: Config, terminal: Terminal | None = None, **waitress_kw: Any) -> Any:
    """A waitress server for the counter screen (not started) and its terminal."""
    from waitress import create_server

    terminal = terminal or Terminal(config)
    app = create_app(terminal, secret=secret_key(config.data_dir))
    server = create_server(
        app, host=config.host, port=config.port, threads=6, ident="shop-terminal", **waitress_kw
    )
    return server, terminal


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def run(config: Config) -> None:
    """Serve until interrupted: Ctrl+C (SIGINT) or a service manager's SIGTERM stops it
    cleanly.

    Both handlers are installed here whatever the process inherited: a process started in
    the background by a shell or a script inherits SIGINT *ignored*, and would otherwise
    keep running when told to stop (the CI runs its tests that way)."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    server, terminal = make_server(config)
    sync = BackgroundSync(terminal)
    sync.start()
    print(f"Counter screen: http://{config.host}:{config.port}/ (Ctrl+C to stop)", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        sync.stop()
        server.close()
        terminal.close()
