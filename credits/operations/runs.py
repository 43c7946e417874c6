"""Record maintenance runs and read the latest of each kind (see models.py)."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from credits.operations.models import KINDS, MaintenanceRun

T_RUN = MaintenanceRun.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class LastRun:
    """The latest finished run of one kind, and the latest that succeeded."""

    kind: str
    finished_at: datetime
    ok: bool
    last_ok_at: datetime | None


def record_run(
    session: Session,
    kind: str,
    *,
    started_at: datetime,
    finished_at: datetime,
    ok: bool,
    summary: dict[str, Any] | None = None,
    source: str | None = None,
) -> MaintenanceRun:
    """Append the record of one finished run (in the caller's unit of work)."""
    if kind not in KINDS:
        raise ValueError(f"unknown maintenance run kind {kind!r}")
    row = MaintenanceRun(
        kind=kind,
        started_at=started_at,
        finished_at=finished_at,
        ok=ok,
        source=f"{source or 'credits ' + kind} on {socket.gethostname()}"[:200],
        summary=summary or {},
    )
    session.add(row)
    session.flush()
    return row


def last_runs(session: Session) -> dict[str, LastRun]:
    """For each kind that has run: when the latest run finished, whether it succeeded, and
    when the latest successful one finished (two index lookups per kind)."""
    found: dict[str, LastRun] = {}
    for kind in KINDS:
        latest = session.execute(
            select(T_RUN.c.finished_at, T_RUN.c.ok)
            .where(T_RUN.c.kind == kind)
            .order_by(T_RUN.c.finished_at.desc())
            .limit(1)
        ).first()
        if latest is None:
            continue
        last_ok = session.execute(
            select(T_RUN.c.finished_at)
            .where(T_RUN.c.kind == kind, T_RUN.c.ok.is_(True))
            .order_by(T_RUN.c.finished_at.desc())
            .limit(1)
        ).scalar()
        found[kind] = LastRun(kind, latest[0], bool(latest[1]), last_ok)
    return found


def record_quietly(db: Any, kind: str, **fields: Any) -> str | None:
    """Record a run in a transaction of its own; return why it could not be recorded, or
    None. For commands whose own outcome must not depend on it (a read-only replica, a
    database that went away after the run): they say so and keep their exit status."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        db.run(lambda s: record_run(s, kind, **fields), attempts=2)
    except SQLAlchemyError as exc:
        return str(getattr(exc, "orig", exc)).strip().splitlines()[0]
    return None
