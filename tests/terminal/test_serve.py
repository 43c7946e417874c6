"""`shop-terminal serve`: the background sync sends the offline queue by itself when the
ledger is back, and the command serves the counter screen as a real process."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from shop_terminal.serve import BackgroundSync
from shop_terminal.terminal import Terminal
from tests.conftest import free_port
from tests.terminal.fake_ledger import FakeLedger

ROOT = Path(__file__).resolve().parents[2]


def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.real_clock  # the sync thread retries on a timed wait
def test_background_sync_sends_the_queue_when_the_ledger_is_back(
    terminal: Terminal, fake_ledger: FakeLedger, monkeypatch: pytest.MonkeyPatch
):
    code = fake_ledger.issue(10)
    fake_ledger.stop()
    assert terminal.scan(code).scan.state == "queued"
    tries: list[object] = []
    tried_twice = threading.Event()
    real_sync = terminal.sync

    def counted_sync() -> object:
        try:
            return real_sync()
        finally:
            tries.append(terminal.online())
            if len(tries) >= 2:
                tried_twice.set()

    monkeypatch.setattr(terminal, "sync", counted_sync)
    sync = BackgroundSync(terminal, busy_interval_s=0.2, idle_interval_s=60)
    sync.start()
    try:
        # The thread ran, and keeps trying while the ledger is down.
        assert tried_twice.wait(10), "the sync thread did not try twice"
        assert tries[:2] == [False, False]
        assert terminal.store.queue_summary() == (1, 10) and not terminal.online()
        fake_ledger.start()
        assert wait_for(lambda: terminal.store.queue_summary() == (0, 0))
        assert terminal.online() and fake_ledger.balances["shop:1"] == 10
        assert wait_for(lambda: len(fake_ledger.journal) == 1)
    finally:
        sync.stop()


def _ignore_sigint() -> None:
    # As in a process started in the background by a shell or a CI script.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize(
    ("stop_with", "preexec"),
    [
        (signal.SIGINT, None),
        (signal.SIGINT, _ignore_sigint),  # Ctrl+C still stops it when started in the background
        (signal.SIGTERM, None),  # a service manager's stop
    ],
    ids=["sigint", "sigint-inherited-ignored", "sigterm"],
)
def test_serve_runs_as_a_command(
    tmp_path: Path,
    fake_ledger: FakeLedger,
    stop_with: signal.Signals,
    preexec: Callable[[], None] | None,
):
    term = fake_ledger.add_terminal(1, "Till 1")
    data = tmp_path / "till"
    base = [sys.executable, "-m", "shop_terminal", "--data", str(data)]
    subprocess.run(
        [*base, "init", "--ledger", fake_ledger.url, "--token", term.token],
        check=True,
        capture_output=True,
        cwd=ROOT,
        timeout=60,
    )
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [*base, "serve", "--port", str(port)],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=preexec,
    )
    try:
        url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return httpx.get(url + "/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        assert wait_for(up, 20), (tmp_path / "serve.log").read_text()
        page = httpx.get(url + "/", timeout=5)
        assert page.status_code == 200 and "Brixton Bakery" in page.text
        assert "Till 1" in page.text and 'id="code"' in page.text
        # The background sync's first heartbeat reached the ledger.
        assert wait_for(lambda: fake_ledger.count("GET", "/api/v1/terminal") >= 2)
    finally:
        process.send_signal(stop_with)
        try:
            code = process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            code = None
        log.close()
    assert code == 0, (tmp_path / "serve.log").read_text()
    assert f"Counter screen: http://127.0.0.1:{port}/" in (tmp_path / "serve.log").read_text()
