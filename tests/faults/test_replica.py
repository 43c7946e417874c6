"""Reads that may lag go to a streaming replica (CREDITS_READ_DATABASE_URL); a member's own
balance right after they act never does. Against a real replica the test starts
(pg_basebackup, streaming), whose replay it pauses to make the lag visible.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from credits import create_app
from credits.bench.servers import PostgresCluster
from credits.db import utcnow
from credits.demo import seed
from credits.ledger.periods import Month
from credits.services import Services

pytestmark = [pytest.mark.faults]


def _caught_up(primary: PostgresCluster, replica: PostgresCluster) -> None:
    """Wait until the replica has replayed everything the primary has written (by LSN)."""
    lsn = primary.sql("SELECT pg_current_wal_lsn()::text")[0][0]
    with psycopg.connect(replica.dsn(), autocommit=True) as conn:
        while not conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)).fetchone()[
            0
        ]:  # type: ignore[index]
            conn.execute("SELECT pg_sleep(0.02)")


@pytest.fixture
def pair(server_root: Path) -> Iterator[tuple[PostgresCluster, PostgresCluster]]:
    primary = PostgresCluster(server_root, "primary").init().start()
    replica = primary.replica()
    yield primary, replica
    replica.stop("immediate")
    primary.stop("immediate")


@pytest.fixture
def app_with_replica(
    pair: tuple[PostgresCluster, PostgresCluster], tmp_path: Path
) -> Iterator[tuple[Any, dict[str, Any]]]:
    primary, replica = pair
    url = primary.create_database("credits")
    overrides = {
        "DATABASE_URL": url,
        "READ_DATABASE_URL": replica.url("credits"),
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "PASSWORD_HASH_PROFILE": "fast",
    }
    svc = Services.build(overrides, migrate=True)
    demo = seed(svc, members=1, credits=100)
    _caught_up(primary, replica)
    app = create_app(services=svc)
    yield app, demo
    svc.close()


def test_lag_tolerant_reads_use_the_replica_and_a_members_balance_never_lags(
    pair: tuple[PostgresCluster, PostgresCluster], app_with_replica: tuple[Any, dict[str, Any]]
) -> None:
    primary, replica = pair
    app, demo = app_with_replica
    client = app.test_client()
    member = {"Authorization": f"Bearer {demo['members'][0]['token']}"}
    officer = {"Authorization": f"Bearer {demo['officer']['token']}"}
    month = str(Month.containing(utcnow()))
    statement = f"/api/v1/statements/{month}"
    before = client.get(statement, headers=officer).get_json()
    events_before = client.get("/api/v1/audit-events", headers=officer).get_json()["total"]
    balance = client.get("/api/v1/me/balance", headers=member).get_json()["balance"]

    replica.sql("SELECT pg_wal_replay_pause()")
    r = client.post(
        "/api/v1/vouchers", json={"amount": 30, "idempotency_key": "r1"}, headers=member
    )
    assert r.status_code == 201, r.get_data(as_text=True)
    r = client.post(
        "/api/v1/adjustments",
        json={
            "person_id": client.get("/api/v1/me", headers=member).get_json()["id"],
            "direction": "credit",
            "amount": 5,
            "reason": "replica test",
            "idempotency_key": "a1",
        },
        headers=officer,
    )
    assert r.status_code == 201, r.get_data(as_text=True)

    # The member sees their own act at once: the primary answers.
    mine = client.get("/api/v1/me/balance", headers=member).get_json()
    assert mine == {"balance": balance - 30 + 5, "in_vouchers": 30}
    # The statement and the audit log come from the replica, which has not replayed it yet.
    assert client.get(statement, headers=officer).get_json() == before
    assert client.get("/api/v1/audit-events", headers=officer).get_json()["total"] == events_before

    replica.sql("SELECT pg_wal_replay_resume()")
    _caught_up(primary, replica)
    after = client.get(statement, headers=officer).get_json()
    assert after != before
    assert client.get("/api/v1/audit-events", headers=officer).get_json()["total"] > events_before

    # The replica gone: lag-tolerant reads fall back to the primary.
    replica.stop("immediate")
    r = client.get(statement, headers=officer)
    assert r.status_code == 200 and r.get_json() == after
    replica.start()
