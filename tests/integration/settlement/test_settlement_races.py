"""Settlement under concurrency, with real threads against PostgreSQL: a month is settled
once, a run is approved once, and two bank statements paying one shop at the same moment
both count."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from freezegun import freeze_time
from sqlalchemy import text

from credits import ledger
from credits.accounts import Role
from credits.bench.bankfiles import Tx, camt053, csv_statement
from credits.settlement import reconciliation, runs
from credits.settlement.errors import AlreadySettled

from ..earning.conftest import as_principal
from ..statements.worked_month import london
from ..test_ledger_races import run_threads
from .helpers import SETTLE_AT, close_october, reference, set_payees, settle_october

pytestmark = pytest.mark.postgres


def _count(db, sql: str) -> int:
    with db.read() as s:
        return int(s.execute(text(sql)).scalar_one())


def test_two_officers_start_and_approve_a_month_at_once(client, db, month, make_person, services):
    second = make_person(Role.OFFICER)
    with freeze_time(SETTLE_AT):
        set_payees(client, month, second)
    close_october(db)
    officers = [as_principal(month.officer), as_principal(second)]
    policy = runs.Policy.from_settings(services.settings)

    def start(i):
        return db.run(
            lambda s: runs.create_run(
                s,
                officers[i],
                month="2026-10",
                idempotency_key=f"k{i}",
                policy=policy,
                now=SETTLE_AT,
            )
        )

    outcomes = run_threads(2, start)
    kinds = Counter(type(o).__name__ for o in outcomes)
    assert kinds == {"RunView": 1, "AlreadySettled": 1}, outcomes
    (run,) = [o for o in outcomes if isinstance(o, runs.RunView)]
    assert _count(db, "SELECT count(*) FROM settlement_run") == 1

    def approve(i):
        return db.run(lambda s: runs.approve_run(s, officers[i], run.id, now=SETTLE_AT)[0])

    outcomes = run_threads(2, approve)
    kinds = Counter(type(o).__name__ for o in outcomes)
    assert kinds == {"RunView": 1, "AlreadySettled": 1}, outcomes
    assert isinstance(next(o for o in outcomes if not isinstance(o, runs.RunView)), AlreadySettled)
    assert _count(db, "SELECT count(*) FROM journal_entry WHERE kind = 'settlement'") == 2
    with db.read() as s:
        assert ledger.balance(s, ledger.scheme_account(s, ledger.SETTLED).id) == 52


def test_bank_statements_imported_at_once(client, db, month, make_person):
    second = make_person(Role.OFFICER)
    run = settle_october(client, db, month, second)
    a, b = month.shop_a["shop_id"], month.shop_b["shop_id"]
    officer = as_principal(month.officer)
    day = date(2026, 11, 27)
    same = camt053([Tx(day, -1450, reference(run, a), "A", bank_ref="S-1")])

    # (freezegun is not thread-safe: the threads are given their time instead.)
    def same_file(i):
        return db.run(
            lambda s: reconciliation.import_statement(
                s, officer, same, filename=f"f{i}", now=london(2026, 11, 28, 9)
            )
        )

    outcomes = run_threads(2, same_file)
    assert all(isinstance(o, reconciliation.ImportResult) for o in outcomes), outcomes
    assert sorted(o.replayed for o in outcomes) == [False, True], outcomes
    assert _count(db, "SELECT count(*) FROM bank_import") == 1
    assert _count(db, "SELECT count(*) FROM bank_line") == 1

    # Two different statements each paying half of shop B's £11.50, at the same moment: the
    # line is locked while one adds to it, so both halves count and the run is paid.
    halves = [
        camt053([Tx(day, -575, reference(run, b), "B", bank_ref="H-1")], statement_id="H1"),
        csv_statement([Tx(day, -575, reference(run, b), "B", bank_ref="H-2")]),
    ]

    def half(i):
        return db.run(
            lambda s: reconciliation.import_statement(
                s, officer, halves[i], filename=f"h{i}", now=london(2026, 11, 28, 10)
            )
        )

    outcomes = run_threads(2, half)
    assert all(isinstance(o, reconciliation.ImportResult) for o in outcomes), outcomes
    with db.read() as s:
        paid = s.execute(
            text("SELECT paid_pence FROM settlement_line WHERE run_id = :r AND shop_id = :b"),
            {"r": run["id"], "b": b},
        ).scalar_one()
        state = s.execute(
            text("SELECT state FROM settlement_run WHERE id = :r"), {"r": run["id"]}
        ).scalar_one()
    assert (paid, state) == (1150, "paid")
