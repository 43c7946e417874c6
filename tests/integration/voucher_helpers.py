"""Helpers for voucher tests: issue through the API, snapshot what moved."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text

from credits import ledger
from credits.db import Database


def issue(client: Any, who: Any, amount: Any, key: str | None = None) -> Any:
    return client.post(
        "/api/v1/vouchers",
        json={"amount": amount, "idempotency_key": key or uuid.uuid4().hex},
        headers=who.auth,
    )


def snapshot(db: Database) -> dict[str, Any]:
    """Everything a refused request must leave as it was."""
    with db.read() as s:
        balances = {
            int(a): int(b)
            for a, b in s.execute(
                text("SELECT account_id, sum(balance) FROM account_balance GROUP BY account_id")
            )
        }
        return {
            "balances": balances,
            "entries": s.execute(text("SELECT count(*) FROM journal_entry")).scalar_one(),
            "postings": s.execute(text("SELECT count(*) FROM posting")).scalar_one(),
            "vouchers": sorted(
                tuple(r) for r in s.execute(text("SELECT id, state, kid FROM voucher"))
            ),
        }


def vouchers_outstanding(db: Database) -> int:
    with db.read() as s:
        return ledger.balance(s, ledger.scheme_account(s, ledger.VOUCHERS_OUTSTANDING).id)


def balance(db: Database, account_id: int) -> int:
    with db.read() as s:
        return ledger.balance(s, account_id)


def verify_all(db: Database) -> list[str]:
    """Every problem `credits verify` would report (ledger and voucher checks)."""
    from credits.ledger import run_checks
    from credits.verify_checks import all_checks

    with db.read() as s:
        return [p for r in run_checks(s, all_checks()) for p in r.problems]
