"""The scheme under faults on SQLite, the embedded default: one app server (gunicorn,
deploy/gunicorn.conf.py) on a SQLite file, clients retrying with their idempotency keys, and
meanwhile: workers SIGKILLed mid-request, the whole server (master and workers) SIGKILLed
while it writes and started again, and answers lost after the server committed.

SQLite in WAL mode must recover from a writer killed mid-transaction: nothing acknowledged
lost, nothing half done, the file's integrity intact, `credits verify` passing.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from credits.bench.servers import AppServer
from tests.faults import workload
from tests.faults.conftest import app_env
from tests.faults.proxy import CuttingProxy

pytestmark = [pytest.mark.faults, pytest.mark.slow]

SECONDS = float(os.environ.get("CREDITS_FAULT_SECONDS", "20"))


def test_sqlite_under_process_kills(
    tmp_path: Path, fault_seed: int, say: Callable[[str], None]
) -> None:
    say(f"\n== SQLite, one app server, process kills (seed {fault_seed})")
    instance = tmp_path / "instance"
    path = tmp_path / "credits.sqlite3"
    url = f"sqlite:///{path}"
    scheme = workload.prepare(url, instance, members=8, credits=300, expirable=2)
    server = AppServer(app_env(url, instance), tmp_path / "server.log", workers=2).start()
    proxy = CuttingProxy(server.port).start()
    close_expirer: Callable[[], None] = lambda: None  # noqa: E731
    try:
        workload.join_group(server.url, scheme)
        before = workload.snapshot(url)
        expire, close_expirer = workload.expirer(url, instance)
        rng = random.Random(fault_seed ^ 0x5EED)

        def kill_worker() -> None:
            pids = server.worker_pids()
            if pids:
                os.kill(rng.choice(pids), signal.SIGKILL)

        def kill_server() -> None:
            # Master and workers at once, in the middle of the clients' writes; then start
            # it again on the same port, as a service manager would.
            server.kill()
            server.start()

        def lose_answers() -> None:
            proxy.cut(2)

        clients, tally, faults, seconds = workload.run(
            [proxy.url],
            scheme,
            seed=fault_seed,
            seconds=SECONDS,
            clients=4,
            inject={
                "worker_sigkill": kill_worker,
                "server_sigkill_and_restart": kill_server,
                "answer_lost_after_commit": lose_answers,
            },
            expire=expire,
            say=say,
        )
        close_expirer()
        server.stop()
        with sqlite3.connect(path) as conn:
            integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        problems = workload.check_ledger(url, clients, tally, before)
        status, output = workload.verify(app_env(url, instance))
        report = workload.Report(fault_seed, seconds, tally, faults, problems)
        for line in report.lines():
            say("  " + line)
        say(f"  answers lost by the proxy after the server answered: {proxy.cut_count}")
        say(f"  SQLite integrity_check: {integrity}; credits verify: exit {status}")
        assert not tally.violations, "\n".join(tally.violations[:20])
        assert not problems, "\n".join(problems[:20])
        assert tally.statuses[500] == 0
        assert integrity == "ok"
        assert status == 0, output
        assert sum(tally.acknowledged.values()) >= 20
        assert len(faults) == 3, faults
        assert "Traceback" not in server.log_tail(10**7), server.log_tail()
    finally:
        close_expirer()
        proxy.stop()
        server.stop()
