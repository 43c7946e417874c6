"""Failover: lose the primary, lose nothing acknowledged.

A pg_auto_failover formation (Debian's postgresql-15-auto-failover: a monitor and two nodes,
synchronous replication) on local ports; the app under gunicorn on a multi-host URL with
``target_session_attrs=read-write``; the workload running. Then the primary's host dies
(its keeper and PostgreSQL SIGKILLed at once). The monitor promotes the standby, the app
follows it by itself, every acknowledged operation is on the new primary, `credits verify`
passes there, and no answer was a 500. Prints the seconds without service.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from credits.bench.servers import AppServer, AutoFailover
from tests.conftest import need
from tests.faults import workload
from tests.faults.conftest import app_env

pytestmark = [pytest.mark.faults, pytest.mark.slow]

SECONDS = float(os.environ.get("CREDITS_FAILOVER_SECONDS", "24"))


def test_losing_the_primary_loses_nothing_acknowledged(
    server_root: Path, tmp_path: Path, fault_seed: int, say: Callable[[str], None]
) -> None:
    need(shutil.which("pg_autoctl") is not None, "pg_autoctl (postgresql-15-auto-failover)")
    say(f"\n== failover: pg_auto_failover, synchronous standby (seed {fault_seed})")
    formation = AutoFailover(server_root)
    server: AppServer | None = None
    close_expirer: Callable[[], None] = lambda: None  # noqa: E731
    try:
        took = formation.start()
        say(f"  formation up in {took:.0f} s: {formation.state()}")
        primary = formation.primary_port()
        assert primary is not None
        sync = formation._sql(primary, "credits", "SHOW synchronous_standby_names")[0][0]
        assert sync.startswith("ANY 1"), sync  # commits wait for the standby
        url = formation.url("credits")
        instance = tmp_path / "instance"
        scheme = workload.prepare(url, instance, members=8, credits=300, expirable=2)
        server = AppServer(app_env(url, instance), tmp_path / "server.log", workers=2).start()
        workload.join_group(server.url, scheme)
        before = workload.snapshot(url)
        expire, close_expirer = workload.expirer(url, instance)
        killed_at: list[float] = []

        def kill_primary() -> None:
            port = formation.primary_port()
            assert port is not None
            killed_at.append(time.monotonic())
            formation.kill_node(port)

        clients, tally, faults, seconds = workload.run(
            [server.url],
            scheme,
            seed=fault_seed,
            seconds=SECONDS,
            clients=4,
            inject={"primary_host_sigkill": kill_primary},
            expire=expire,
            every_s=(6.0, 6.0),
            max_faults=1,
            say=say,
        )
        close_expirer()
        promoted = [n for n in formation.state() if n["port"] != primary]
        first_ack, longest = workload.longest_silence(tally, killed_at[0])
        problems = workload.check_ledger(url, clients, tally, before)
        status, output = workload.verify(app_env(url, instance))
        for line in workload.Report(fault_seed, seconds, tally, faults, problems).lines():
            say("  " + line)
        say(f"  promoted: {promoted}")
        say(
            f"  seconds without service: {first_ack:.1f} from the kill to the first "
            f"acknowledged operation on the new primary (longest gap {longest:.1f} s)"
        )
        say(f"  credits verify on the new primary: exit {status}")
        assert promoted and promoted[0]["reported"] in ("wait_primary", "primary"), promoted
        assert not tally.violations, "\n".join(tally.violations[:20])
        assert not problems, "\n".join(problems[:20])  # 0 acknowledged operations lost
        assert tally.statuses[500] == 0
        assert status == 0, output
        assert first_ack < SECONDS  # the app resumed by itself
        assert "Traceback" not in server.log_tail(10**7), server.log_tail()
    finally:
        close_expirer()
        if server is not None:
            server.stop()
        formation.stop()
