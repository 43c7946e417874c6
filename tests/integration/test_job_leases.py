"""One-at-a-time jobs across app servers (credits.jobs): the month close, the expiry sweep
and the inactivity run hold a lease in the database, so two servers never run one at once.
Tested with real processes taking the lease at the same moment, and through the commands.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
from datetime import timedelta
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import text

from credits import jobs
from credits.accounts import Role
from credits.api.problems import status_of
from credits.db import utcnow
from credits.ledger import CheckResult
from credits.ledger.periods import Month
from credits.services import Services
from credits.statements import close_runs
from credits.statements.cli import close_month_command
from credits.vouchers.cli import expire_vouchers

from .test_voucher_expiry import T0, issue

TTL = timedelta(minutes=2)


def _take(db: Any, holder: str, **kw: Any) -> Any:
    return db.run(lambda s: jobs.take(s, jobs.EXPIRE_VOUCHERS, holder=holder, ttl=TTL, **kw))


def test_a_lease_is_refused_to_a_second_holder_until_released_or_expired(db):
    t = utcnow()
    _take(db, "server-a", now=t)
    with pytest.raises(jobs.JobRunning) as refused:
        _take(db, "server-b", now=t + timedelta(seconds=30))
    assert refused.value.code == "job_running" and status_of(refused.value) == 409
    assert refused.value.extra["holder"] == "server-a"
    _take(db, "server-a", now=t + timedelta(seconds=30))  # its own holder renews
    # server-a died: once its lease has expired, server-b takes it over.
    taken = _take(db, "server-b", now=t + timedelta(seconds=30) + TTL)
    assert taken.holder == "server-b"
    assert not db.run(lambda s: jobs.renew(s, jobs.EXPIRE_VOUCHERS, holder="server-a", ttl=TTL))
    db.run(lambda s: jobs.release(s, jobs.EXPIRE_VOUCHERS, holder="server-b"))
    _take(db, "server-c")


def _contend(args: tuple[dict[str, Any], Any, int]) -> str:
    overrides, barrier, n = args
    svc = Services.build(overrides)
    try:
        barrier.wait(30)
        try:
            svc.db.run(
                lambda s: jobs.take(s, jobs.MONTH_CLOSE, holder=f"process-{n}", ttl=TTL),
                idempotent=True,
            )
        except jobs.JobRunning:
            return "refused"
        return "took"
    finally:
        svc.close()


def test_processes_taking_one_lease_at_the_same_moment_one_wins(settings_overrides, db):
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(4)
        with ctx.Pool(4) as pool:
            outcomes = pool.map(_contend, [(settings_overrides, barrier, n) for n in range(4)])
    assert sorted(outcomes) == ["refused", "refused", "refused", "took"]


def test_the_expiry_command_skips_while_another_server_sweeps(client, db, make_person, runner):
    ann = make_person(Role.MEMBER, credits=30)
    with freeze_time(T0):
        issue(client, ann, 10)
    other = "other-server:123:abcd"
    with freeze_time(T0 + timedelta(days=91)):
        _take(db, other)
        busy = runner.invoke(expire_vouchers, [])
        assert busy.exit_code == 0, busy.output
        assert busy.output.startswith("skipped: expire-vouchers is already running (other-server")
        db.run(lambda s: jobs.release(s, jobs.EXPIRE_VOUCHERS, holder=other))
        done = runner.invoke(expire_vouchers, [])
    assert done.exit_code == 0 and "expired 1 vouchers; 10 credits returned" in done.output
    with db.read() as s:  # the sweep gave its lease back
        assert jobs.holder_of(s, jobs.EXPIRE_VOUCHERS) is None


def test_a_page_close_and_the_close_command_never_run_together(
    db, make_person, runner, monkeypatch
):
    from credits import verify_checks

    # The page's run is held open on a last check until the command has been refused: an
    # empty scheme's checks take milliseconds, and a run that had already ended (and
    # given its lease back) would let the command close the month (CI met exactly that).
    released = threading.Event()
    checks = verify_checks.all_checks()

    def held(session: Any) -> CheckResult:
        assert released.wait(60), "the test never released the held check"
        return CheckResult("held", "A check the test holds open", checked=1)

    officer = make_person(Role.OFFICER)
    month = Month.containing(utcnow()).previous()
    db.run(lambda s: jobs.take(s, jobs.MONTH_CLOSE, holder="cli:host:1:ab", ttl=TTL))
    from credits.accounts import Principal

    who = Principal(role=Role.OFFICER, name=officer.name, person_id=officer.id, via="test")
    with pytest.raises(close_runs.RunInProgress) as refused:
        close_runs.start(db, who, month, "check")
    assert "command line" in refused.value.detail
    with db.read() as s:
        assert close_runs.current(s) is None  # nothing recorded
    db.run(lambda s: jobs.release(s, jobs.MONTH_CLOSE, holder="cli:host:1:ab"))

    monkeypatch.setattr(verify_checks, "all_checks", lambda **kw: (*checks, held))
    started = close_runs.start(db, who, month, "check")
    try:
        with db.read() as s:
            assert jobs.holder_of(s, jobs.MONTH_CLOSE) is not None  # the run holds it
        busy = runner.invoke(close_month_command, [str(month)])
    finally:
        released.set()
    assert busy.exit_code == 2 and "job_running" in busy.output, busy.output
    started.thread.join(120)
    with db.read() as s:
        assert jobs.holder_of(s, jobs.MONTH_CLOSE) is None  # released when the run ended


def test_a_stopped_page_runs_lease_does_not_block_the_next_run(db, make_person):
    """A page run gives its lease back with its active slot; if its process died, the run is
    abandoned when the next one starts, and so is its lease — not left to expire."""
    from .statements.conftest import NOW
    from .statements.test_close_runs import stopped_run

    officer = make_person(Role.OFFICER)
    from credits.accounts import Principal

    who = Principal(role=Role.OFFICER, name=officer.name, person_id=officer.id, via="test")
    month = Month.containing(NOW).previous()
    stopped_run(db, str(month), "check", beat=NOW - timedelta(minutes=5))
    db.run(lambda s: jobs.take(s, jobs.MONTH_CLOSE, holder="close-run:gone:1:ab", ttl=TTL, now=NOW))
    with freeze_time(NOW):
        started = close_runs.start(db, who, month, "check")
        started.thread.join(120)
    with db.read() as s:
        statuses = s.execute(text("SELECT status FROM close_run ORDER BY id")).scalars().all()
    assert statuses == ["abandoned", "passed"]
