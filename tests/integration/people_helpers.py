"""Helpers for the people-and-access tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlmodel import SQLModel

#: Bookkeeping of *use* (a token's or session's last use, refreshed at most once a minute),
#: not something a request writes on purpose: left out of snapshots.
USAGE_COLUMNS = frozenset({"last_used_at", "last_seen_at"})


def snapshot(db: Any) -> dict[str, list[tuple[str, ...]]]:
    """Every row of every table (the test database is small): compare before and after to
    prove a refused request wrote nothing."""
    import credits.models  # noqa: F401

    out = {}
    with db.engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            columns = [c.name for c in table.columns if c.name not in USAGE_COLUMNS]
            rows = conn.execute(text(f"SELECT {', '.join(columns)} FROM {table.name}")).all()
            out[table.name] = sorted(tuple(map(repr, r)) for r in rows)
    return out


def audit_actions(db: Any, target_ref: str | None = None) -> list[str]:
    query = "SELECT action FROM audit_event"
    params: dict[str, Any] = {}
    if target_ref:
        query += " WHERE target_ref = :t"
        params["t"] = target_ref
    with db.engine.connect() as conn:
        return [r[0] for r in conn.execute(text(query + " ORDER BY id"), params)]
