"""The unit of work and the error edge when the database drops connections or goes away, on
a PostgreSQL cluster of the test's own (stopped, restarted and its sessions terminated).

- a pooled connection the server ended is replaced before a use case meets it;
- a connection that dies inside a use case, before COMMIT, runs the use case once more;
- a connection lost during COMMIT: retried for an idempotent use case, 503 for any other;
- a database that cannot be reached: 503 problem+json ``unavailable`` with Retry-After on
  reads, writes and /readyz alike, one log line, no traceback; back to 200 by itself;
- a gunicorn worker starts while the database is down, and serves once it is back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from credits import create_app, ledger
from credits.bench.servers import AppServer, PostgresCluster
from credits.db import Database, make_engine
from credits.errors import Unavailable
from credits.services import Services
from tests.faults.conftest import app_env

pytestmark = [pytest.mark.faults]


@pytest.fixture(scope="module")
def shared_cluster() -> Iterator[PostgresCluster]:
    import shutil

    from credits.bench.servers import private_dir
    from tests.conftest import need

    need(shutil.which("pg_config") is not None, "PostgreSQL's server programs (pg_config)")
    root = private_dir("credits-outage-")
    c = PostgresCluster(root).init().start()
    yield c
    c.stop("immediate")
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def cluster(shared_cluster: PostgresCluster, request: pytest.FixtureRequest) -> PostgresCluster:
    """The module's cluster, running, with a fresh database ``test`` holding table ``t``."""
    if not (shared_cluster.datadir / "postmaster.pid").exists():
        shared_cluster.start()
    for name in ("test", "credits"):
        shared_cluster.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    shared_cluster.sql("CREATE DATABASE test")
    shared_cluster.sql("CREATE TABLE t (n int)", "test")
    return shared_cluster


#: pg_terminate_backend(pid, timeout) waits until the session has ended (PostgreSQL 14+):
#: without it the call returns once the signal is sent, and on a loaded machine the next
#: statement can still find the backend alive.
WAIT_MS = 30_000


def _terminate_all(cluster: PostgresCluster) -> int:
    rows = cluster.sql(
        f"SELECT count(pg_terminate_backend(pid, {WAIT_MS})) FROM pg_stat_activity "
        "WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'"
    )
    return int(rows[0][0])


def _own_pid(session: Any) -> int:
    return int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_connection_the_server_ended_is_replaced_before_use(
    cluster: PostgresCluster, caplog: pytest.LogCaptureFixture
) -> None:
    db = Database(make_engine(cluster.url("test"), pool_size=2))
    try:
        first = db.run(_own_pid)
        assert _terminate_all(cluster) == 1
        calls = []

        def use_case(s: Any) -> int:
            calls.append(1)
            return _own_pid(s)

        with caplog.at_level(logging.INFO, logger="credits.db"):
            second = db.run(use_case)
        assert second != first
        # Found at checkout: the use case ran once, no retry was needed.
        assert calls == [1]
        assert "running the use case again" not in caplog.text
    finally:
        db.dispose()


def test_a_connection_lost_before_commit_runs_the_use_case_again(
    cluster: PostgresCluster,
) -> None:
    db = Database(make_engine(cluster.url("test"), pool_size=2))
    pids: list[int] = []

    def use_case(s: Any) -> str:
        pid = _own_pid(s)
        pids.append(pid)
        s.execute(text("INSERT INTO t VALUES (1)"))
        if len(pids) == 1:
            cluster.sql(f"SELECT pg_terminate_backend({pid}, {WAIT_MS})")
            s.execute(text("INSERT INTO t VALUES (2)"))  # meets the dead connection
        return "done"

    assert db.run(use_case) == "done"
    assert len(pids) == 2 and pids[0] != pids[1]
    assert cluster.sql("SELECT n FROM t", "test") == [(1,)]  # the first attempt left nothing
    db.dispose()


def _lose_commit(cluster: PostgresCluster, pids: list[int]) -> Any:
    """A use case whose connection is ended just before its COMMIT, on the first run."""

    def use_case(s: Any) -> str:
        pid = _own_pid(s)
        pids.append(pid)
        s.execute(text("INSERT INTO t VALUES (:n)"), {"n": len(pids)})
        if len(pids) == 1:
            cluster.sql(f"SELECT pg_terminate_backend({pid}, {WAIT_MS})")
        return "done"

    return use_case


def test_a_commit_lost_is_unavailable_unless_the_use_case_is_idempotent(
    cluster: PostgresCluster,
) -> None:
    db = Database(make_engine(cluster.url("test"), pool_size=2))
    pids: list[int] = []
    with pytest.raises(Unavailable) as refused:
        db.run(_lose_commit(cluster, pids))
    assert "whether it was saved is not known" in refused.value.detail
    assert refused.value.headers["Retry-After"].isdigit()
    assert len(pids) == 1
    pids.clear()
    assert db.run(_lose_commit(cluster, pids), idempotent=True) == "done"
    assert len(pids) == 2
    assert cluster.sql("SELECT n FROM t", "test") == [(2,)]
    db.dispose()


def test_a_statement_sent_on_its_own_survives_a_terminated_connection(
    cluster: PostgresCluster,
) -> None:
    db = Database(make_engine(cluster.url("test"), pool_size=2))
    before = db.execute_autocommit("SELECT pg_backend_pid()", {})[0]
    _terminate_all(cluster)
    after = db.execute_autocommit("SELECT pg_backend_pid()", {})[0]
    assert after != before
    cluster.stop("fast")
    with pytest.raises(Unavailable):
        db.execute_autocommit("SELECT 1", {})
    cluster.start()
    assert db.execute_autocommit("SELECT 1", {})[0] == 1
    db.dispose()


def test_a_deadlock_in_one_statement_sends_it_again(cluster: PostgresCluster) -> None:
    """The one-statement redemption is its own transaction: PostgreSQL's deadlock detector
    rolls it back whole (seen in the fault suite: a partial redemption against a reversal),
    so it is sent again, as run() retries a transaction — never a 500."""
    cluster.sql("CREATE SEQUENCE tries", "test")
    cluster.sql(
        "CREATE FUNCTION flaky() RETURNS int LANGUAGE plpgsql AS $$ BEGIN "
        "IF nextval('tries') < 3 THEN RAISE EXCEPTION 'deadlock' USING ERRCODE = '40P01'; "
        "END IF; INSERT INTO t VALUES (7); RETURN 7; END $$",
        "test",
    )
    db = Database(make_engine(cluster.url("test"), pool_size=2))
    try:
        assert db.execute_autocommit("SELECT flaky()", {})[0] == 7
        assert cluster.sql("SELECT n FROM t", "test") == [(7,)]  # once
        # Not for ever: a statement that keeps losing is the caller's error to see.
        from sqlalchemy.exc import DBAPIError

        with pytest.raises(DBAPIError, match="deadlock"):
            db.execute_autocommit(
                "DO $$ BEGIN RAISE EXCEPTION 'deadlock' USING ERRCODE = '40P01'; END $$", {}
            )
    finally:
        db.dispose()


@pytest.fixture
def app_on_cluster(cluster: PostgresCluster, tmp_path: Path) -> Iterator[tuple[Any, str]]:
    url = cluster.create_database("credits")
    overrides = {
        "DATABASE_URL": url,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "PASSWORD_HASH_PROFILE": "fast",
    }
    svc = Services.build(overrides, migrate=True)
    from credits.demo import seed

    demo = seed(svc, members=1, credits=50)
    app = create_app(services=svc)
    yield app, demo["members"][0]["token"]
    svc.close()


def test_an_unreachable_database_is_503_unavailable_then_heals(
    cluster: PostgresCluster, app_on_cluster: tuple[Any, str], caplog: pytest.LogCaptureFixture
) -> None:
    app, token = app_on_cluster
    client = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/me/balance", headers=auth).status_code == 200
    cluster.stop("immediate")
    with caplog.at_level(logging.WARNING):
        answers = [
            client.get("/api/v1/me/balance", headers=auth),
            client.post(
                "/api/v1/vouchers", json={"amount": 5, "idempotency_key": "k1"}, headers=auth
            ),
            client.get("/readyz"),
            client.get("/api/v1/me/balance", headers=auth),
        ]
    for r in answers:
        assert r.status_code == 503, r.get_data(as_text=True)
        assert r.mimetype == "application/problem+json"
        assert r.get_json()["code"] == "unavailable"
        assert int(r.headers["Retry-After"]) > 0
    # A browser following a link that needs the database gets the same, as a page (the
    # emailed link first moves its token out of the address: a redirect, then the page).
    page = client.get(
        "/register/confirm?token=x", headers={"Accept": "text/html"}, follow_redirects=True
    )
    assert page.status_code == 503 and page.mimetype == "text/html"
    assert page.headers["Retry-After"] == "2"
    # One line for the stretch of trouble, no traceback per request.
    assert "Traceback" not in caplog.text
    assert not any(rec.exc_info for rec in caplog.records)
    assert len([rec for rec in caplog.records if "answering 503" in rec.getMessage()]) <= 1
    cluster.start()
    assert client.get("/readyz").status_code == 200
    r = client.post("/api/v1/vouchers", json={"amount": 5, "idempotency_key": "k1"}, headers=auth)
    assert r.status_code == 201, r.get_data(as_text=True)


def test_readyz_is_503_on_a_standby(cluster: PostgresCluster, tmp_path: Path) -> None:
    standby = cluster.replica(f"standby-{tmp_path.name}")
    try:
        url = cluster.create_database("credits")
        svc = Services.build({"DATABASE_URL": url, "INSTANCE_PATH": str(tmp_path)}, migrate=True)
        svc.close()
        # Wait until the standby has replayed the migration (the LSN, not a clock).
        lsn = cluster.sql("SELECT pg_current_wal_lsn()::text")[0][0]
        with psycopg.connect(standby.dsn(), autocommit=True) as conn:
            while not conn.execute(
                "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)
            ).fetchone()[0]:  # type: ignore[index]
                conn.execute("SELECT pg_sleep(0.05)")
        app = create_app({"DATABASE_URL": standby.url("credits"), "INSTANCE_PATH": str(tmp_path)})
        r = app.test_client().get("/readyz")
        assert r.status_code == 503
        assert r.get_json()["code"] == "unavailable"
        assert "standby" in r.get_json()["detail"]
        app.extensions["credits"].close()
    finally:
        standby.stop("immediate")


def test_a_worker_starts_while_the_database_is_down(
    cluster: PostgresCluster, tmp_path: Path
) -> None:
    url = cluster.create_database("credits")
    instance = tmp_path / "instance"
    svc = Services.build({"DATABASE_URL": url, "INSTANCE_PATH": str(instance)}, migrate=True)
    svc.db.run(lambda s: ledger.bootstrap(s))
    svc.close()
    cluster.stop("fast")
    server = AppServer(app_env(url, instance), tmp_path / "server.log", workers=1)
    try:
        server.start(wait_ready=False)  # /healthz answers: the worker booted
        import urllib.error
        import urllib.request

        with pytest.raises(urllib.error.HTTPError) as down:
            urllib.request.urlopen(server.url + "/readyz", timeout=10)
        assert down.value.code == 503
        down.value.close()
        cluster.start()
        server.wait("/readyz")
        assert "Traceback" not in server.log_tail(10**6)
    finally:
        server.stop()
