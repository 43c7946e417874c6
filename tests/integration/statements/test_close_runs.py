"""Closing a month from the officer's page runs in the background (close_runs).

Invariants under test: a run ends in exactly the state it reports (closed: the month is
closed; refused, error, failed: nothing was written); one run at a time, also when two
start at the same moment; a run whose process ended frees the slot; the page never runs a
check inside its own request.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import text

from credits import audit
from credits.ledger import CheckResult
from credits.ledger.periods import Month
from credits.statements import close_runs
from credits.statements.models import CloseRun

from ..test_ledger_tamper import raw
from ..web_helpers import post_form
from .conftest import NOW
from .worked_month import close_months

OCTOBER = Month.parse("2026-10")
CLOSE = "/officer/statements/2026-10/close"


def wait_for_runs(db, timeout: float = 60.0) -> None:
    """Wait until no run is going (the page's thread has finished)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.read() as s:
            if not s.execute(text("SELECT count(*) FROM close_run WHERE active = 1")).scalar():
                return
        time.sleep(0.05)
    raise AssertionError("the run did not finish")


def runs(db) -> list[tuple]:
    with db.read() as s:
        return [
            tuple(r)
            for r in s.execute(
                text("SELECT month, purpose, status, active, error_code FROM close_run ORDER BY id")
            )
        ]


def closed(db) -> list[str]:
    with db.read() as s:
        return list(s.execute(text("SELECT month FROM closed_period ORDER BY month")).scalars())


def stored_checks(db) -> list[dict]:
    with db.read() as s:
        run = close_runs.latest(s, OCTOBER)
        assert run is not None and run.checks is not None
        return run.checks


def test_closing_from_the_page(officer_client, db, month):
    close_months(db, "2026-09")  # months close in order
    with freeze_time(NOW):
        page = officer_client.get(CLOSE).get_data(as_text=True)
        # The page runs nothing itself: it offers the two buttons.
        assert "Run the checks" in page and "Close 2026-10" in page
        assert runs(db) == []
        started = post_form(officer_client, CLOSE, {})
        assert started.status_code == 303 and started.headers["Location"].endswith(CLOSE)
    wait_for_runs(db)
    with freeze_time(NOW):
        shown = officer_client.get(CLOSE).get_data(as_text=True)
    assert "2026-10 is closed" in shown and "Checks run before closing" in shown
    assert 'id="run-progress"' not in shown and "Close 2026-10</button>" not in shown
    assert runs(db) == [("2026-10", "close", "closed", None, None)]
    assert closed(db) == ["2026-09", "2026-10"]
    checks = stored_checks(db)
    assert len(checks) == close_runs.total_checks() and all(c["ok"] for c in checks)
    with db.read() as s:
        row = s.execute(text("SELECT closed_by FROM month_close WHERE month = '2026-10'")).one()
        run = close_runs.latest(s, OCTOBER)
    assert row[0].startswith(f"person:{month.officer.id} ") and run.requested_by == row[0]
    assert run.progress["done"] and len(run.progress["done"]) == len(checks)
    assert run.finished_at is not None and run.finished_at >= run.requested_at


def test_a_refused_close_lists_what_failed_and_changes_nothing(officer_client, db, month):
    close_months(db, "2026-09")
    raw(
        db,
        "UPDATE account_balance SET balance = balance + 5 WHERE account_id = :a",
        a=month.scheme.ann.account_id,
    )
    with freeze_time(NOW):
        assert post_form(officer_client, CLOSE, {}).status_code == 303
    wait_for_runs(db)
    with freeze_time(NOW):
        html = officer_client.get(CLOSE).get_data(as_text=True)
    assert "2026-10 was not closed" in html and "balances_match_postings" in html
    assert "Close 2026-10</button>" in html  # the officer can try again once it is fixed
    assert runs(db) == [("2026-10", "close", "refused", None, "checks_failed")]
    assert closed(db) == ["2026-09"]
    checks = stored_checks(db)  # every check's result, the passing ones too
    assert len(checks) == close_runs.total_checks()
    assert [c["name"] for c in checks if not c["ok"]] == ["balances_match_postings"]


def test_running_the_checks_alone_closes_nothing(officer_client, db, month):
    with freeze_time(NOW):
        assert post_form(officer_client, CLOSE + "/checks", {}, from_page=CLOSE).status_code == 303
    wait_for_runs(db)
    with freeze_time(NOW):
        html = officer_client.get(CLOSE).get_data(as_text=True)
        status = officer_client.get(CLOSE + "/run").get_json()
    assert "Every check passed" in html and "Last run of the checks" in html
    assert runs(db) == [("2026-10", "check", "passed", None, None)]
    assert closed(db) == []
    total = close_runs.total_checks()
    assert status == {
        "id": status["id"],
        "purpose": "check",
        "status": "passed",
        "stopped": False,
        "total": total,
        "done": total,
        "phase": "closing",
    }


def test_a_broken_ledger_fails_the_checks_run(officer_client, db, month):
    raw(
        db,
        "UPDATE account_balance SET balance = balance + 5 WHERE account_id = :a",
        a=month.scheme.ann.account_id,
    )
    with freeze_time(NOW):
        post_form(officer_client, CLOSE + "/checks", {}, from_page=CLOSE)
    wait_for_runs(db)
    with freeze_time(NOW):
        html = officer_client.get(CLOSE).get_data(as_text=True)
    assert "1 check failed" in html and "balances_match_postings" in html
    assert runs(db) == [("2026-10", "check", "failed", None, None)]


def test_a_close_that_cannot_start_records_no_run(officer_client, db, month):
    with freeze_time(NOW):
        # September holds entries and is open: months close in order.
        early = post_form(officer_client, CLOSE, {})
        assert early.status_code == 409 and "close 2026-09 first" in early.get_data(as_text=True)
        # November has not ended.
        nov = "/officer/statements/2026-11/close"
        resp = post_form(officer_client, nov, {})
        assert resp.status_code == 422 and "has not ended yet" in resp.get_data(as_text=True)
    close_months(db, "2026-09", "2026-10")
    with freeze_time(NOW):
        again = post_form(officer_client, "/officer/statements/2026-09/close", {}, from_page=CLOSE)
        assert again.status_code == 409 and "already closed" in again.get_data(as_text=True)
        assert officer_client.get(CLOSE + "/run").status_code == 404
    assert runs(db) == []


class Hold:
    """Once armed, the extra check waits until released: a run stays going meanwhile."""

    def __init__(self) -> None:
        self.armed = threading.Event()
        self.released = threading.Event()

    def arm(self) -> None:
        self.armed.set()

    def release(self) -> None:
        self.released.set()


@pytest.fixture
def slow_checks(monkeypatch):
    """Every check, then one the test can hold open (:class:`Hold`)."""
    from credits import verify_checks

    hold = Hold()
    checks = verify_checks.all_checks()

    def held(session):
        if hold.armed.is_set():
            assert hold.released.wait(60), "the test never released the held check"
        return CheckResult("held", "A check the test holds open", checked=1)

    monkeypatch.setattr(verify_checks, "all_checks", lambda **kw: (*checks, held))
    monkeypatch.setattr(close_runs, "HEARTBEAT_EVERY", timedelta(seconds=0.05))
    yield hold
    hold.release()


@pytest.mark.real_clock  # the heartbeat thread beats on a timed wait
def test_one_run_at_a_time_with_progress_while_it_goes(officer_client, db, month, slow_checks):
    """A run of the checks (a read: on SQLite a close holds the write lock, so its progress
    shows only at the end), held open before its last check."""
    slow_checks.arm()
    with freeze_time(NOW):
        assert post_form(officer_client, CLOSE + "/checks", {}, from_page=CLOSE).status_code == 303
    total = close_runs.total_checks()
    # The heartbeat reports every check but the held one as done.
    deadline = time.monotonic() + 30
    while True:
        with freeze_time(NOW):
            status = officer_client.get(CLOSE + "/run").get_json()
        if status["done"] == total - 1 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert status["status"] == "running" and status["done"] == total - 1, status
    with freeze_time(NOW):
        page = officer_client.get(CLOSE).get_data(as_text=True)
        assert 'id="run-progress"' in page and f"{total - 1} of {total} checks done" in page
        assert "Run the checks</button>" not in page
        # A second start, for this month or another, is refused while it goes.
        second = officer_client.post(
            CLOSE, data={"csrf_token": _token(officer_client, "/officer/statements")}
        )
        assert second.status_code == 409 and "Checking 2026-10" in second.get_data(as_text=True)
        other = officer_client.get("/officer/statements/2026-08/close").get_data(as_text=True)
        assert 'id="run-elsewhere"' in other and "Run the checks</button>" not in other
    slow_checks.release()
    wait_for_runs(db)
    assert runs(db) == [("2026-10", "check", "passed", None, None)]
    assert closed(db) == []


def _token(client, path):
    from ..web_helpers import csrf_from

    return csrf_from(client.get(path).get_data(as_text=True))


def test_two_starts_at_the_same_moment_make_one_run(db, month, slow_checks):
    """Real threads, both past the "is a run going?" read before either writes."""
    officer = audit.Actor("cli:test")
    slow_checks.arm()
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def go():
        barrier.wait()
        try:
            outcomes.append(close_runs.start(db, officer, OCTOBER, "check"))
        except close_runs.RunInProgress as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=go) for _ in range(2)]
    with freeze_time(NOW):
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    started = [o for o in outcomes if isinstance(o, close_runs.Started)]
    refused = [o for o in outcomes if isinstance(o, close_runs.RunInProgress)]
    assert len(started) == 1 and len(refused) == 1, outcomes
    assert refused[0].code == "close_in_progress"
    slow_checks.release()
    started[0].thread.join(30)
    assert runs(db) == [("2026-10", "check", "passed", None, None)]


def stopped_run(db, month: str, purpose: str, *, beat, worker: str = "elsewhere:1") -> None:
    """A run recorded as going whose last heartbeat was at ``beat`` (its process may have
    ended), as a web process that died mid-run leaves it."""

    def add(s):
        s.add(
            CloseRun(
                month=month,
                purpose=purpose,
                requested_by="person:1 as officer via session:1",
                requested_at=NOW - timedelta(minutes=5),
                heartbeat_at=beat,
                worker=worker,
                status="running",
                active=1,
                progress={"total": 13, "done": ["entries_balanced"], "phase": "checks"},
            )
        )

    db.run(add)


def test_a_run_whose_process_ended_frees_the_slot(officer_client, db, month):
    close_months(db, "2026-09")
    stopped_run(db, "2026-10", "close", beat=NOW - timedelta(minutes=5))
    with freeze_time(NOW):
        page = officer_client.get(CLOSE).get_data(as_text=True)
        assert "The run stopped" in page and 'id="run-progress"' not in page
        assert officer_client.get(CLOSE + "/run").get_json()["stopped"] is True
        assert post_form(officer_client, CLOSE, {}).status_code == 303
    wait_for_runs(db)
    assert runs(db) == [
        ("2026-10", "close", "abandoned", None, "abandoned"),
        ("2026-10", "close", "closed", None, None),
    ]
    assert closed(db) == ["2026-09", "2026-10"]


def test_a_run_whose_process_is_alive_here_keeps_the_slot(officer_client, db, month):
    """A SQLite close cannot write its heartbeat while it holds the write lock: the run is
    going as long as its process is. A dead process on this host frees it at once."""
    here = f"{socket.gethostname()}:{os.getpid()}"
    stopped_run(db, "2026-09", "check", beat=NOW - timedelta(minutes=5), worker=here)
    with freeze_time(NOW):
        resp = post_form(officer_client, CLOSE + "/checks", {}, from_page=CLOSE)
        assert resp.status_code == 409 and "is going" in resp.get_data(as_text=True)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    raw(db, "UPDATE close_run SET worker = :w", w=f"{socket.gethostname()}:{dead}")
    with freeze_time(NOW):
        resp = post_form(officer_client, CLOSE + "/checks", {}, from_page=CLOSE)
    assert resp.status_code == 303
    wait_for_runs(db)
    assert [r[2] for r in runs(db)] == ["abandoned", "passed"]


def test_a_fresh_heartbeat_keeps_the_slot(officer_client, db, month):
    stopped_run(db, "2026-09", "check", beat=NOW - timedelta(seconds=10))
    with freeze_time(NOW):
        resp = post_form(
            officer_client, "/officer/statements/2026-10/close/checks", {}, from_page=CLOSE
        )
    assert resp.status_code == 409 and "is going" in resp.get_data(as_text=True)
    assert [r[2] for r in runs(db)] == ["running"]


def test_an_unexpected_failure_is_reported_and_closes_nothing(
    officer_client, db, month, monkeypatch, caplog
):
    from credits import verify_checks

    close_months(db, "2026-09")
    checks = verify_checks.all_checks()

    def broken(session):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(verify_checks, "all_checks", lambda **kw: (*checks, broken))
    with freeze_time(NOW):
        assert post_form(officer_client, CLOSE, {}).status_code == 303
    wait_for_runs(db)
    with freeze_time(NOW):
        html = officer_client.get(CLOSE).get_data(as_text=True)
    assert "An unexpected error stopped the run" in html and "disk on fire" not in html
    assert runs(db) == [("2026-10", "close", "error", None, "internal")]
    assert closed(db) == ["2026-09"]
    assert "disk on fire" in caplog.text  # in the service's log instead


def test_a_run_whose_thread_cannot_start_is_not_left_going(db, month, monkeypatch):
    def no_thread(self):
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", no_thread)
    with freeze_time(NOW), pytest.raises(RuntimeError):
        close_runs.start(db, audit.Actor("cli:test"), OCTOBER, "check")
    assert runs(db) == [("2026-10", "check", "error", None, "internal")]
