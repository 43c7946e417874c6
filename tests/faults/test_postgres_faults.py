"""The scheme under faults on PostgreSQL: two app servers (gunicorn, deploy/gunicorn.conf.py)
on one database, clients retrying with their idempotency keys, and meanwhile: workers
SIGKILLed mid-request, the app's database connections terminated, the database restarted in
immediate mode (a crash), and answers lost after the server committed.

Afterwards every acknowledged operation is in the ledger exactly once, nothing else is, every
balance equals the model of the acknowledged operations, `credits verify` passes, and no
request was answered 500.
"""

from __future__ import annotations

import os
import random
import signal
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from credits.bench.servers import AppServer, PostgresCluster, copy_instance
from tests.faults import workload
from tests.faults.conftest import app_env
from tests.faults.proxy import CuttingProxy

pytestmark = [pytest.mark.faults, pytest.mark.slow]

SECONDS = float(os.environ.get("CREDITS_FAULT_SECONDS", "30"))


def test_two_servers_on_postgresql_under_faults(
    server_root: Path, tmp_path: Path, fault_seed: int, say: Callable[[str], None]
) -> None:
    say(f"\n== PostgreSQL, two app servers, faults (seed {fault_seed})")
    cluster = PostgresCluster(server_root).init(shared_buffers="64MB").start()
    servers: list[AppServer] = []
    proxies: list[CuttingProxy] = []
    close_expirer: Callable[[], None] = lambda: None  # noqa: E731
    try:
        url = cluster.create_database("credits")
        first = tmp_path / "instance-a"
        scheme = workload.prepare(url, first, members=12, credits=300, expirable=2)
        instances = [first, copy_instance(first, tmp_path / "instance-b")]
        for n, instance in enumerate(instances):
            servers.append(
                AppServer(app_env(url, instance), tmp_path / f"server-{n}.log", workers=2).start()
            )
        proxies = [CuttingProxy(s.port).start() for s in servers]
        # Both servers publish the same keys (the copied instance folder).
        lists = {httpx.get(f"{s.url}/api/v1/trust-list", timeout=30).text for s in servers}
        assert len(lists) == 1
        workload.join_group(servers[0].url, scheme)
        before = workload.snapshot(url)
        expire, close_expirer = workload.expirer(url, first)
        rng = random.Random(fault_seed ^ 0x5EED)

        def kill_worker() -> None:
            server = rng.choice(servers)
            pids = server.worker_pids()
            if pids:
                os.kill(rng.choice(pids), signal.SIGKILL)

        def terminate_connections() -> None:
            cluster.sql(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = 'credits' AND pid <> pg_backend_pid() "
                "AND backend_type = 'client backend'"
            )

        def restart_database() -> None:
            cluster.restart("immediate")

        def lose_answers() -> None:
            rng.choice(proxies).cut(2)

        clients, tally, faults, seconds = workload.run(
            [p.url for p in proxies],
            scheme,
            seed=fault_seed,
            seconds=SECONDS,
            clients=6,
            inject={
                "worker_sigkill": kill_worker,
                "pg_terminate_backend": terminate_connections,
                "pg_restart_immediate": restart_database,
                "answer_lost_after_commit": lose_answers,
            },
            expire=expire,
            say=say,
        )
        close_expirer()
        problems = workload.check_ledger(url, clients, tally, before)
        status, output = workload.verify(app_env(url, first))
        report = workload.Report(fault_seed, seconds, tally, faults, problems)
        for line in report.lines():
            say("  " + line)
        say(f"  answers lost by the proxy after the server answered: "
            f"{sum(p.cut_count for p in proxies)}")  # fmt: skip
        say(f"  credits verify: exit {status}")
        assert not tally.violations, "\n".join(tally.violations[:20])
        assert not problems, "\n".join(problems[:20])
        assert tally.statuses[500] == 0
        assert status == 0, output
        assert sum(tally.acknowledged.values()) >= 40
        assert len(faults) == 4, faults  # every kind of fault happened
        assert sum(p.cut_count for p in proxies) >= 1
        for server in servers:
            assert "Traceback" not in server.log_tail(10**7), server.log_tail()
    finally:
        close_expirer()
        for p in proxies:
            p.stop()
        for s in servers:
            s.stop()
        cluster.stop("immediate")
