"""Fixtures for the shop terminal's tests: a fake ledger on a free port and terminals
configured against it (each with its own data folder)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shop_terminal.config import Config
from shop_terminal.terminal import Terminal
from tests.terminal.fake_ledger import FakeLedger


@pytest.fixture
def fake_ledger() -> Iterator[FakeLedger]:
    """A fake ledger (test double of docs/api-terminal.md), listening; stopped afterwards."""
    fake = FakeLedger()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def make_config(tmp_path: Path, fake_ledger: FakeLedger) -> Callable[..., Config]:
    """``make_config(shop_id=1, name="till-a", **overrides)`` -> a Config for a new terminal
    registered at the fake ledger, with its own data folder."""

    def make(shop_id: int = 1, name: str = "till-a", **overrides: Any) -> Config:
        term = fake_ledger.add_terminal(shop_id, name)
        values: dict[str, Any] = {
            "ledger_url": fake_ledger.url,
            "terminal_token": term.token,
            "connect_timeout_s": 0.5,
            "read_timeout_s": 1.0,
            "offline_recheck_s": 0.0,
        }
        values.update(overrides)
        return Config(data_dir=tmp_path / name, **values)

    return make


@pytest.fixture
def make_terminal(make_config: Callable[..., Config]) -> Iterator[Callable[..., Terminal]]:
    """``make_terminal(shop_id=1, name="till-a", refresh=True, **config)`` -> a Terminal that
    has fetched its settings and the trust list once (as `shop-terminal init` does)."""
    made: list[Terminal] = []

    def make(
        shop_id: int = 1, name: str = "till-a", refresh: bool = True, **overrides: Any
    ) -> Terminal:
        terminal = Terminal(make_config(shop_id, name, **overrides))
        made.append(terminal)
        if refresh:
            assert terminal.refresh()
        return terminal

    yield make
    for t in made:
        t.close()


@pytest.fixture
def terminal(make_terminal: Callable[..., Terminal]) -> Terminal:
    """A terminal at shop 1 (Brixton Bakery), set up and online."""
    return make_terminal()


class CounterServer:
    """The counter screen served by waitress in a thread, for one terminal."""

    def __init__(self, terminal: Terminal, port: int) -> None:
        from dataclasses import replace

        from shop_terminal.serve import make_server

        self.terminal = terminal
        config = replace(terminal.config, port=port)
        self.server, _ = make_server(config, terminal)
        self.url = f"http://127.0.0.1:{port}"
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.server.run()
        except (OSError, ValueError):
            # waitress has no thread-safe shutdown: its select() may see a socket closed
            # under it by stop(). Only then is that expected.
            if not self.stopping:
                raise

    def stop(self) -> None:
        self.stopping = True
        for channel in list(self.server._map.values()):
            if channel is not self.server:
                channel.handle_close()
        self.server.task_dispatcher.shutdown()
        self.server.close()
        self.thread.join(5)


@pytest.fixture
def counter(terminal: Terminal) -> Iterator[CounterServer]:
    """The counter screen of ``terminal`` on a free port."""
    from tests.conftest import free_port

    server = CounterServer(terminal, free_port())
    yield server
    server.stop()
