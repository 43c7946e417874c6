"""Closing a month: every check first; refused with the list of failures; recorded; locked."""

from __future__ import annotations

import hashlib
import json

import pytest
from freezegun import freeze_time
from sqlalchemy import text

from credits.cli import main as cli
from credits.errors import PeriodClosed
from credits.redemption.manage import JournalReport, record_journal
from tests.conftest import admin_engine
from tests.problems import assert_problem

from .worked_month import EXPECTED, OCTOBER, build_worked_month, close_months, london


@pytest.fixture
def month(db, client, make_person):
    """The worked month, with September (which holds entries) closed: months close in
    order, and these tests are about October's close."""
    worked = build_worked_month(db, client, make_person)
    close_months(db, "2026-09")
    return worked


def run(runner, *args):
    return runner.invoke(cli, list(args), catch_exceptions=False)


def closed(db):
    with db.read() as s:
        return [r[0] for r in s.execute(text("SELECT month FROM closed_period ORDER BY month"))]


def test_closing_october_records_the_checks_and_the_statement_hash(runner, db, client, month):
    with freeze_time(london(2026, 11, 25, 12)):
        statement = client.get("/api/v1/statements/2026-10", headers=month.officer.auth)
    result = run(runner, "close-month", "2026-10")
    assert result.exit_code == 0, result.output
    digest = hashlib.sha256(statement.get_data()).hexdigest()
    assert f"closed 2026-10: statement sha256 {digest}" in result.output
    assert "ok   terminal_journals" in result.output
    assert "ok   redemption_entries" in result.output
    with db.read() as s:
        row = s.execute(
            text(
                "SELECT closed_by, statement_sha256, checks FROM month_close "
                "WHERE month = '2026-10'"
            )
        ).one()
        event = s.execute(
            text(
                "SELECT actor, target_ref FROM audit_event WHERE action = 'month.close' "
                "AND target_ref = 'month:2026-10'"
            )
        ).one()
    checks = row[2] if isinstance(row[2], list) else json.loads(row[2])
    assert row[0].startswith("cli:") and row[1] == digest
    assert {c["name"] for c in checks} >= {
        "balances_match_postings",
        "vouchers_outstanding",
        "redemption_entries",
        "terminal_journals",
    }
    assert all(c["ok"] for c in checks)
    assert event[1] == "month:2026-10" and event[0] == row[0]
    assert closed(db) == ["2026-09", "2026-10"]
    # The statement of a closed month reads the same as the one whose hash was recorded.
    with freeze_time(london(2026, 11, 26, 12)):
        again = client.get("/api/v1/statements/2026-10", headers=month.officer.auth)
    assert hashlib.sha256(again.get_data()).hexdigest() == digest

    # Closing it again is refused; so is a month that has not ended (on 26 November).
    with freeze_time(london(2026, 11, 26, 12)):
        assert run(runner, "close-month", "2026-10").exit_code == 2
        assert run(runner, "close-month", "2026-11").exit_code == 2
        assert run(runner, "close-month", "2026-1").exit_code == 2
    assert closed(db) == ["2026-09", "2026-10"]


def test_nothing_can_be_back_dated_into_a_closed_month(runner, db, client, month):
    assert run(runner, "close-month", "2026-10").exit_code == 0
    sch = month.scheme
    before = sch.balance(sch.ann)
    with freeze_time(london(2026, 11, 3, 10)), pytest.raises(PeriodClosed):
        sch.record(
            member_email=sch.ann.email,
            activity="snow-clearing",
            quantity="1",
            occurred_on="2026-10-30",
        )
    with freeze_time(london(2026, 11, 3, 10)):
        resp = client.post(
            "/api/v1/earnings",
            json={
                "member_email": sch.ann.email,
                "activity": "snow-clearing",
                "quantity": "1",
                "occurred_on": "2026-10-30",
                "idempotency_key": "late-october",
            },
            headers=sch.coord.auth,
        )
        assert_problem(resp, 409, "period_closed")
        # November is open: the correction goes there.
        sch.record(
            member_email=sch.ann.email,
            activity="snow-clearing",
            quantity="1",
            occurred_on="2026-11-02",
        )
    assert sch.balance(sch.ann) == before + 10


def test_a_broken_balance_refuses_the_close_and_lists_it(runner, db, month):
    with db.engine.begin() as conn:
        conn.execute(
            text("UPDATE account_balance SET balance = balance + 5 WHERE account_id = :a"),
            {"a": month.scheme.ann.account_id},
        )
    result = run(runner, "close-month", "2026-10")
    assert result.exit_code == 1, result.output
    assert "FAIL balances_match_postings" in result.output
    assert f"account {month.scheme.ann.account_id}" in result.output or "member:" in result.output
    assert closed(db) == ["2026-09"]
    with db.read() as s:
        assert s.execute(text("SELECT count(*) FROM month_close")).scalar_one() == 1
        assert (
            s.execute(
                text("SELECT count(*) FROM audit_event WHERE action = 'month.close'")
            ).scalar_one()
            == 1
        )


def test_a_terminal_journal_that_disagrees_with_the_ledger_refuses_the_close(runner, db, month):
    a = month.shop_a
    with db.read() as s:
        voucher_id, amount = s.execute(
            text("SELECT voucher_id, amount FROM redemption WHERE id = :r"),
            {"r": month.redemptions["r2"]},
        ).one()
    with freeze_time(london(2026, 10, 21, 9)):
        report = JournalReport(
            scan_id="scan-r2",
            voucher_id=voucher_id,
            amount=amount + 1,  # the till says it took one more than the ledger recorded
            outcome="redeemed",
            redemption_id=month.redemptions["r2"],
            at=london(2026, 10, 20, 12),
        )
        db.run(lambda s: record_journal(s, a["terminal_id"], a["shop_id"], [report]))
    result = run(runner, "close-month", "2026-10")
    assert result.exit_code == 1 and "FAIL terminal_journals" in result.output
    assert "scan-r2" in result.output
    # The till's corrected report agrees, and the month closes.
    fixed = JournalReport(
        scan_id="scan-r2",
        voucher_id=voucher_id,
        amount=amount,
        outcome="redeemed",
        redemption_id=month.redemptions["r2"],
        at=london(2026, 10, 20, 12),
    )
    db.run(lambda s: record_journal(s, a["terminal_id"], a["shop_id"], [fixed]))
    assert run(runner, "close-month", "2026-10").exit_code == 0


def test_a_redeemed_voucher_without_its_redemption_refuses_the_close(runner, db, dialect, month):
    with (admin_engine() if dialect == "postgresql" else db.engine).begin() as conn:
        if dialect == "postgresql":
            # A tamperer with the database's superuser: triggers off for this transaction.
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(
            text(
                "UPDATE voucher SET state = 'redeemed' WHERE id = "
                "(SELECT id FROM voucher WHERE state = 'cancelled' LIMIT 1)"
            )
        )
    result = run(runner, "close-month", "2026-10")
    assert result.exit_code == 1
    assert (
        "FAIL redemption_entries" in result.output and "has 0 redemption entries" in result.output
    )
    assert closed(db) == ["2026-09"]


def test_a_redemption_pointing_at_another_entry_refuses_the_close(runner, db, month):
    """The redemption row must name its voucher's closing redeem entry (on PostgreSQL the
    check looks each redemption's entry up by index)."""
    from ..test_ledger_tamper import raw

    with db.read() as s:
        rid, issue = s.execute(
            text(
                "SELECT r.id, v.issue_entry_id FROM redemption r "
                "JOIN voucher v ON v.id = r.voucher_id ORDER BY r.id LIMIT 1"
            )
        ).one()
    raw(db, "UPDATE redemption SET entry_id = :e WHERE id = :r", e=issue, r=rid)
    result = run(runner, "close-month", "2026-10")
    assert result.exit_code == 1
    assert f"redemption {rid}: voucher is redeemed, entry {issue} is voucher_issue" in result.output
    assert closed(db) == ["2026-09"]


@pytest.mark.postgres
def test_writers_go_on_while_the_checks_run_and_the_close_includes_them(db, month, monkeypatch):
    """The checks take a minute at borough size: they must not hold a shop's redemption back.
    An entry dated in the month, committed while they run, is in the closed month's
    statement hash and snapshot (written under the lock), and verify agrees afterwards."""
    import threading
    from datetime import UTC, datetime

    from credits import audit, ledger, verify_checks
    from credits.ledger import CheckResult
    from credits.statements import build_statement, render
    from credits.statements.close import close_month

    from ..ledger_helpers import post, scheme

    checks = verify_checks.all_checks()
    running, release = threading.Event(), threading.Event()

    def held(session):
        running.set()
        assert release.wait(30)
        return CheckResult("held", "holds the checks open until the test has written")

    monkeypatch.setattr(verify_checks, "all_checks", lambda **kw: (*checks, held))
    outcome: list[object] = []

    def close_october():
        try:
            outcome.append(
                db.run(
                    lambda s: close_month(
                        s, audit.Actor("cli:test"), OCTOBER, now=datetime.now(UTC), jobs=2
                    )
                )
            )
        except Exception as exc:  # reported below
            outcome.append(exc)

    closer = threading.Thread(target=close_october)
    closer.start()
    assert running.wait(30)
    issuance = scheme(db, ledger.ISSUANCE)
    wrote: list[object] = []
    writer = threading.Thread(
        target=lambda: wrote.append(
            post(
                db,
                ledger.EntryKind.EARN,
                {issuance: -9, month.scheme.ann.account_id: 9},
                "late-october",
                occurred_at=london(2026, 10, 30, 12),
            )
        )
    )
    writer.start()
    writer.join(10)
    assert wrote, "the earn waited for the close's checks"
    release.set()
    closer.join(60)
    assert len(outcome) == 1 and not isinstance(outcome[0], Exception), outcome
    assert closed(db) == ["2026-09", "2026-10"]
    with db.read() as s:
        statement = build_statement(s, OCTOBER)
        stored = s.execute(
            text("SELECT statement_sha256 FROM month_close WHERE month = '2026-10'")
        ).scalar_one()
    assert statement.scheme.issued == EXPECTED["issued"] + 9
    assert hashlib.sha256(render.json_bytes(statement)).hexdigest() == stored
    monkeypatch.setattr(verify_checks, "all_checks", lambda **kw: checks)
    with db.read() as s:
        assert [r.name for r in ledger.run_checks(s, checks) if not r.ok] == []
