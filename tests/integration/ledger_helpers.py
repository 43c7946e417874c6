"""Small helpers for ledger tests: accounts by name, counting rows, posting shorthand."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from credits import ledger
from credits.db import Database


def open_member(db: Database, name: str) -> int:
    return db.run(
        lambda s: ledger.open_account(
            s, code=f"member:{name}", type=ledger.AccountType.MEMBER, name=name
        )
    ).id


def open_shop(db: Database, name: str) -> int:
    return db.run(
        lambda s: ledger.open_account(
            s, code=f"shop:{name}", type=ledger.AccountType.SHOP, name=name
        )
    ).id


def scheme(db: Database, code: str) -> int:
    return db.run(lambda s: ledger.scheme_account(s, code)).id


def post(
    db: Database, kind: ledger.EntryKind, legs: dict[int, int], key: str, **kw: Any
) -> ledger.PostedEntry:
    request = ledger.EntryRequest(
        kind=kind,
        legs=tuple(ledger.Leg(a, amt) for a, amt in legs.items()),
        memo=kw.pop("memo", kind.value),
        actor=kw.pop("actor", "test"),
        idempotency_key=key,
        **kw,
    )
    return db.run(lambda s: ledger.post_entry(s, request))


def bal(db: Database, account_id: int) -> int:
    with db.read() as s:
        return ledger.balance(s, account_id)


def counts(db: Database) -> tuple[int, int]:
    """(entries, postings) stored."""
    with db.read() as s:
        return (
            s.execute(text("SELECT count(*) FROM journal_entry")).scalar_one(),
            s.execute(text("SELECT count(*) FROM posting")).scalar_one(),
        )


def all_ok(db: Database) -> list[str]:
    """Problems found by every ledger check (empty when the ledger is sound)."""
    with db.read() as s:
        return [p for r in ledger.run_checks(s) for p in r.problems]
