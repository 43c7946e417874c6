"""`credits verify` and the month close run their checks on several connections at once on
PostgreSQL, all on the snapshot of the caller's transaction (credits.ledger.run_checks)."""

import threading

import pytest
from sqlalchemy import text

from credits import ledger
from credits.ledger import EntryKind as K
from credits.ledger.verify import CheckResult, check_balances_match_postings
from credits.verify_checks import all_checks

from .ledger_helpers import open_member, post, scheme
from .test_ledger_tamper import raw


@pytest.fixture
def history(db):
    issuance, ann = scheme(db, ledger.ISSUANCE), open_member(db, "ann")
    adjustments = scheme(db, ledger.ADJUSTMENTS)
    entries = [post(db, K.EARN, {issuance: -10, ann: 10}, f"e{i}") for i in range(4)]
    entries.append(post(db, K.ADJUSTMENT, {ann: -7, adjustments: 7}, "v"))
    return entries, ann


def _report(results):
    return [(r.name, r.checked, r.problem_count, r.problems) for r in results]


@pytest.mark.parametrize("jobs", [2, 3])
def test_parallel_runs_report_exactly_what_a_serial_run_reports(db, history, jobs):
    entries, ann = history
    raw(db, "UPDATE journal_entry SET memo = 'nothing to see' WHERE id = :e", e=entries[1].id)
    raw(db, "UPDATE account_balance SET balance = balance + 1 WHERE account_id = :a", a=ann)
    with db.read() as s:
        serial = ledger.run_checks(s, all_checks(), jobs=1)
    with db.read() as s:
        parallel = ledger.run_checks(s, all_checks(), jobs=jobs)
    assert _report(parallel) == _report(serial)
    failed = {r.name for r in parallel if not r.ok}
    assert failed == {"hash_chain", "balances_match_postings"}
    assert all(r.elapsed_s > 0 for r in parallel)


@pytest.mark.postgres
def test_every_check_sees_the_callers_snapshot_not_a_later_commit(db, history):
    """A check that starts after another connection committed a change still sees the rows
    as they were when the run began: the workers import the caller's snapshot."""
    _, ann = history
    first_started, edited = threading.Event(), threading.Event()
    seen_by_worker: list[int] = []

    def waits_for_the_edit(session):
        result = CheckResult("waits", "holds the first worker until the edit is committed")
        # The run has begun (snapshot exported); now let the edit commit, then read.
        first_started.set()
        assert edited.wait(30)
        return result

    def balances_after_the_edit(session):
        assert edited.wait(30)
        seen_by_worker.append(session.execute(text("SELECT pg_backend_pid()")).scalar_one())
        return check_balances_match_postings(session)

    def edit_once_started():
        assert first_started.wait(30)
        raw(db, "UPDATE account_balance SET balance = balance + 5 WHERE account_id = :a", a=ann)
        edited.set()

    editor = threading.Thread(target=edit_once_started)
    editor.start()
    with db.read() as s:
        leader_pid = s.execute(text("SELECT pg_backend_pid()")).scalar_one()
        results = ledger.run_checks(s, (waits_for_the_edit, balances_after_the_edit), jobs=2)
    editor.join()
    assert results[1].ok, results[1].problems  # the edit came after the snapshot
    assert seen_by_worker and seen_by_worker[0] != leader_pid  # it ran on another connection
    with db.read() as s:  # a run that starts after the edit sees it
        later = ledger.run_checks(s, (check_balances_match_postings,), jobs=2)
    assert not later[0].ok


@pytest.mark.postgres
def test_a_transaction_that_wrote_runs_its_checks_itself(db, history):
    """Other connections cannot see uncommitted writes, so the checks run in the caller's
    own transaction (serially) and see them."""
    _, ann = history
    with db.session() as s, s.begin():
        s.execute(
            text("UPDATE account_balance SET balance = balance + 2 WHERE account_id = :a"),
            {"a": ann},
        )
        results = ledger.run_checks(s, (check_balances_match_postings,) * 2, jobs=2)
        s.rollback()
    assert [r.ok for r in results] == [False, False]


@pytest.mark.postgres
def test_a_check_that_raises_fails_the_run(db, history):
    def broken(session):
        raise RuntimeError("the check itself failed")

    with db.read() as s, pytest.raises(RuntimeError, match="the check itself failed"):
        ledger.run_checks(s, (check_balances_match_postings, broken), jobs=2)


@pytest.mark.postgres
def test_the_costliest_checks_start_first_and_report_in_the_order_given(db, history):
    """Longest first, so no long check is left running alone at the end; the report keeps
    the order of the list (and a check reporting two results keeps both in place)."""
    from credits.ledger.verify import costs

    started: list[str] = []
    lock = threading.Lock()

    def check(name, seconds, reports=1):
        @costs(seconds)
        def run(session):
            with lock:
                started.append(name)
            if reports == 2:
                return CheckResult(name + "-a", ""), CheckResult(name + "-b", "")
            return CheckResult(name, "")

        if reports == 2:
            run.reports = 2
        return run

    checks = (check("cheap", 1), check("dear", 9, reports=2), check("middling", 4),
              check("unmarked", 1))  # fmt: skip
    with db.read() as s:
        results = ledger.run_checks(s, checks, jobs=2)
    assert [r.name for r in results] == ["cheap", "dear-a", "dear-b", "middling", "unmarked"]
    assert set(started[:2]) == {"dear", "middling"} and len(started) == 4
    assert ledger.verify.reported(checks) == 5


@pytest.mark.postgres
def test_checks_run_side_by_side_plan_on_one_core_each(db, history):
    """With jobs > 1 the runner is the parallelism: no check's plan adds parallel workers."""
    seen: list[str] = []

    def shows(session):
        seen.append(session.execute(text("SHOW max_parallel_workers_per_gather")).scalar_one())
        return CheckResult("shows", "")

    with db.read() as s:
        ledger.run_checks(s, (shows, shows), jobs=2)
        default = s.execute(text("SHOW max_parallel_workers_per_gather")).scalar_one()
    assert seen == ["0", "0"] and default != "0"
