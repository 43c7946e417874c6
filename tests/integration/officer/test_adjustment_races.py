"""Adjustments under concurrency, with real threads against PostgreSQL: a pending request
is decided once, and concurrent debits never take a member below zero."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from credits import adjustments, ledger
from credits.accounts import Role
from credits.errors import CreditsError

from ..earning.conftest import as_principal
from ..test_ledger_races import run_threads
from ..voucher_helpers import verify_all

pytestmark = pytest.mark.postgres


def test_eight_officers_approve_one_request_at_once_it_posts_once(db, make_person):
    asker = make_person(Role.OFFICER)
    member = make_person(Role.MEMBER, credits=10)
    officers = [make_person(Role.OFFICER) for _ in range(8)]
    pending = db.run(
        lambda s: adjustments.request_adjustment(
            s,
            as_principal(asker),
            person_id=member.id,
            direction="credit",
            amount=75,
            reason="race",
            idempotency_key="race",
        )
    )
    assert pending.state == "pending"

    def approve(i: int) -> Any:
        who = as_principal(officers[i])
        return db.run(lambda s: adjustments.approve(s, who, pending.id))

    outcomes = run_threads(8, approve)
    posted = [o for o in outcomes if isinstance(o, adjustments.AdjustmentView)]
    refused = [o for o in outcomes if isinstance(o, CreditsError)]
    assert len(posted) == 1 and len(refused) == 7, outcomes
    assert {e.code for e in refused} == {"adjustment_not_pending"}
    with db.read() as s:
        assert ledger.balance(s, member.account_id) == 85
        entries = s.execute(
            text("SELECT count(*) FROM journal_entry WHERE kind = 'adjustment'")
        ).scalar()
    assert entries == 1
    assert verify_all(db) == []


def test_sixteen_concurrent_debits_never_overdraw(db, make_person):
    officer = make_person(Role.OFFICER)
    member = make_person(Role.MEMBER, credits=100)

    def debit(i: int) -> Any:
        return db.run(
            lambda s: adjustments.request_adjustment(
                s,
                as_principal(officer),
                person_id=member.id,
                direction="debit",
                amount=30,
                reason=f"debit {i}",
                idempotency_key=f"debit-{i}",
            )
        )

    outcomes = run_threads(16, debit)
    posted = [o for o in outcomes if isinstance(o, adjustments.AdjustmentView)]
    refused = [o for o in outcomes if isinstance(o, CreditsError)]
    assert len(posted) == 3 and len(refused) == 13, outcomes
    assert {e.code for e in refused} == {"insufficient_funds"}
    with db.read() as s:
        assert ledger.balance(s, member.account_id) == 10
        rows = s.execute(text("SELECT count(*) FROM adjustment")).scalar()
    assert rows == 3  # a refused debit leaves no row behind
    assert verify_all(db) == []
