"""What a backup proves about the ledger it holds, and how a restore is checked against it.

A backup's ``manifest.json`` records, from the same snapshot the backup copied (see
backup.py): every table's row count, every account's balance (by account code), each hash
chain lane's head (sequence number and hash), the last closed month and the schema's
migration revision. After a restore, :func:`ledger_figures` reads the same from the restored
database and :func:`compare` lists every difference: a restore is good only when there is
none *and* `credits verify`'s checks pass on it (balances equal the postings, the chain
re-hashes to those heads...). Together they show the restored ledger is the one that was
backed up, not merely a self-consistent one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select, text
from sqlmodel import SQLModel

#: Format of manifest.json; a restore refuses formats it does not know.
FORMAT = "cooperative-credits-backup/1"


def _tables() -> list[Any]:
    import credits.models  # noqa: F401  (every table on the metadata)

    return list(SQLModel.metadata.sorted_tables)


def ledger_figures(conn: Connection) -> dict[str, Any]:
    """Row counts, balances, chain heads, last closed month and schema revision, read on
    ``conn`` (all in its one transaction/snapshot)."""
    from credits.ledger.models import T_ACCOUNT, T_BALANCE, T_CLOSED, T_LANE

    counts = {
        table.name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
        for table in _tables()
    }
    balances = {
        code: int(total)
        for code, total in conn.execute(
            select(T_ACCOUNT.c.code, func.coalesce(func.sum(T_BALANCE.c.balance), 0))
            .select_from(T_ACCOUNT.outerjoin(T_BALANCE, T_BALANCE.c.account_id == T_ACCOUNT.c.id))
            .group_by(T_ACCOUNT.c.code)
            .order_by(T_ACCOUNT.c.code)
        )
    }
    heads = [
        {"lane": int(lane), "seq": int(seq), "head_hash": head}
        for lane, seq, head in conn.execute(
            select(T_LANE.c.lane, T_LANE.c.seq, T_LANE.c.head_hash).order_by(T_LANE.c.lane)
        )
    ]
    last_closed = conn.execute(select(func.max(T_CLOSED.c.month))).scalar()
    revision = sorted(r for (r,) in conn.execute(text("SELECT version_num FROM alembic_version")))
    return {
        "schema_revision": revision,
        "row_counts": counts,
        "balances": balances,
        "balance_total": sum(balances.values()),
        "chain_heads": heads,
        "last_closed_month": last_closed,
    }


def compare(expected: dict[str, Any], found: dict[str, Any]) -> list[str]:
    """Every way ``found`` (the restored database) differs from ``expected`` (the
    manifest's ledger figures), one sentence each; empty when they agree."""
    problems: list[str] = []
    want_counts, got_counts = expected.get("row_counts", {}), found.get("row_counts", {})
    for table in sorted(set(want_counts) | set(got_counts)):
        want, got = want_counts.get(table), got_counts.get(table)
        if want is None:
            # A table the backup's schema did not have (the restore migrated it): empty.
            if got:
                problems.append(f"table {table}: {got} rows, none in the backup")
        elif got != want:
            problems.append(f"table {table}: {got} rows restored, the backup holds {want}")
    want_bal, got_bal = expected.get("balances", {}), found.get("balances", {})
    for code in sorted(set(want_bal) | set(got_bal)):
        want, got = want_bal.get(code), got_bal.get(code)
        if want != got:
            problems.append(
                f"account {code}: balance {got if got is not None else 'missing'} restored, "
                f"the backup says {want if want is not None else 'no such account'}"
            )
    want_heads = {h["lane"]: h for h in expected.get("chain_heads", [])}
    got_heads = {h["lane"]: h for h in found.get("chain_heads", [])}
    for lane in sorted(set(want_heads) | set(got_heads)):
        want, got = want_heads.get(lane), got_heads.get(lane)
        if want != got:
            problems.append(f"hash chain lane {lane}: head {got} restored, the backup says {want}")
    if expected.get("last_closed_month") != found.get("last_closed_month"):
        problems.append(
            f"last closed month {found.get('last_closed_month')} restored, the backup says "
            f"{expected.get('last_closed_month')}"
        )
    return problems
