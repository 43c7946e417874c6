"""Closing a month: every reconciliation check first, then the ledger's lock, then a record.

Guarantees (each tested):

- A month is closed only after it has ended (London time), only once, and only when every
  check of :func:`credits.verify_checks.all_checks` passes; otherwise :class:`CloseRefused`
  lists each failed check and its problems, and nothing is written.
- On PostgreSQL the checks run first, on a read-only snapshot of their own, without holding
  anyone back (they take a minute at borough size, and a shop's redemption must not wait
  that long); then the journal is locked (``SHARE``) until the commit, so the statement
  hash, the month's snapshot of balances and the close all see the same entries and none
  can slip in between. An entry committed between the checks and the lock is in the
  statement and the snapshot, and is checked by the next `credits verify` (the checks'
  results are those of the ledger a moment before the close). SQLite: one transaction that
  holds the write lock throughout.
- A month is closed only when every month from the first one holding entries up to it is
  closed (:class:`EarlierMonthOpen`, ``earlier_month_open``, naming the month to close
  first): its snapshot (:func:`credits.statements.snapshots.snapshot_month`, written in the
  same transaction) is then final, because nothing can be dated before its end any more,
  and each snapshot builds on the previous month's.
- The close is recorded in ``month_close`` (who, when, each check's result and the SHA-256
  of the scheme statement's canonical JSON bytes) and in the audit log (``month.close``),
  in the same transaction as :func:`credits.ledger.close_month`, with the month's public
  figures (:func:`credits.open.figures.store_month`, from the statement it hashed). From
  then on nothing can be dated in the month (``period_closed``); corrections go into the
  open month.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from credits import audit, ledger
from credits.errors import Conflict, ValidationFailed
from credits.i18n import Fmt, T, format_when_long
from credits.ledger.periods import LOCK_JOURNAL, Month
from credits.statements import render
from credits.statements.engine import build_statement
from credits.statements.models import MonthClose
from credits.statements.snapshots import snapshot_month


class CloseRefused(Conflict):
    """A check failed: the month stays open. ``failed`` (in the problem body) lists each
    failed check; :attr:`checks` holds every check's result, passed or not."""

    code = "checks_failed"
    title = T("The month cannot be closed: a reconciliation check failed")

    def __init__(self, detail: str, checks: list[dict[str, Any]] | None = None, **extra: Any):
        super().__init__(detail, **extra)
        self.checks = list(checks or [])


class AlreadyClosed(Conflict):
    code = "period_closed"
    title = T("That month is already closed")


class EarlierMonthOpen(Conflict):
    code = "earlier_month_open"
    title = T("An earlier month is still open: close the months in order")


_FIRST_ENTRY = "SELECT min(occurred_at) FROM journal_entry"


def first_open_month_before(session: Session, month: Month) -> Month | None:
    """The earliest open month from the first month holding entries up to (not including)
    ``month``, or None when they are all closed."""
    first = session.execute(text(_FIRST_ENTRY)).scalar()
    if first is None:
        return None
    if isinstance(first, str):  # SQLite returns the raw text of a timestamp
        first = datetime.fromisoformat(first)
    if first.tzinfo is None:  # stored in UTC
        first = first.replace(tzinfo=UTC)
    closed = set(ledger.closed_months(session))
    candidate = Month.containing(first)
    while candidate < month:
        if str(candidate) not in closed:
            return candidate
        candidate = candidate.next()
    return None


@dataclass(frozen=True, slots=True)
class CloseResult:
    month: Month
    closed_at: datetime
    closed_by: str
    statement_sha256: str
    checks: list[dict[str, Any]]


def run_checks(
    session: Session,
    *,
    jobs: int = 1,
    on_done: Callable[[ledger.CheckResult], None] | None = None,
) -> list[ledger.CheckResult]:
    """Every reconciliation check (`credits verify`'s full list), on ``jobs`` connections
    sharing ``session``'s snapshot (:func:`credits.ledger.run_checks`); ``on_done`` is
    called as each one finishes."""
    from credits.verify_checks import all_checks

    return ledger.run_checks(session, all_checks(), jobs=jobs, on_done=on_done)


def _run_checks_apart(
    session: Session, *, jobs: int, on_done: Callable[[ledger.CheckResult], None] | None
) -> list[ledger.CheckResult]:
    """:func:`run_checks` in a read-only REPEATABLE READ transaction of its own (PostgreSQL),
    so that the checks take no lock a writer would wait for."""
    bind = session.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin(), Session(bind=conn) as checking:
            conn.execute(text("SET TRANSACTION READ ONLY"))  # its first statement
            return run_checks(checking, jobs=jobs, on_done=on_done)


def check_can_close(session: Session, month: Month, *, now: datetime) -> None:
    """Raise what :func:`close_month` would refuse before running any check: the month has
    not ended (``validation_failed``), is closed already (``period_closed``), or an earlier
    month is open (``earlier_month_open``). Cheap: the pages ask before starting a close."""
    if now < month.ends_at:
        raise ValidationFailed(
            T(
                "%(month)s has not ended yet: it can be closed from %(when)s London time",
                month=str(month),
                when=Fmt(format_when_long, month.ends_at),
            ),
            errors={"month": [T("Not ended.")]},
        )
    if str(month) in ledger.closed_months(session):
        raise AlreadyClosed(T("%(month)s is already closed", month=str(month)), month=str(month))
    earlier = first_open_month_before(session, month)
    if earlier is not None:
        raise EarlierMonthOpen(
            T(
                "%(month)s cannot be closed while %(earlier)s is open: close %(earlier)s first "
                "(months close in order, so each month's snapshot of balances is final)",
                month=str(month),
                earlier=str(earlier),
            ),
            month=str(month),
            close_first=str(earlier),
        )


def close_month(
    session: Session,
    by: Any,
    month: Month,
    *,
    now: datetime,
    jobs: int = 1,
    on_done: Callable[[ledger.CheckResult], None] | None = None,
) -> CloseResult:
    """Close ``month`` if it has ended, is open, and every check passes (see the module
    docstring). ``by`` is the officer's Principal (or an audit Actor for the command line);
    the checks run on ``jobs`` connections at once (PostgreSQL, settings.verify_jobs) and
    ``on_done`` is called as each finishes (progress for the officer's page)."""
    check_can_close(session, month, now=now)  # before minutes of checks
    if session.get_bind().dialect.name == "postgresql":
        # The checks read the whole ledger (a minute at borough size): on a snapshot of
        # their own, while the counters go on redeeming. Then writers are held back until
        # the commit, so the statement hash, the snapshot and the close see the same entries.
        results = _run_checks_apart(session, jobs=jobs, on_done=on_done)
        session.execute(LOCK_JOURNAL)
        check_can_close(session, month, now=now)  # again, under the lock
    else:
        # SQLite: this transaction holds the write lock already (BEGIN IMMEDIATE).
        results = run_checks(session, jobs=jobs, on_done=on_done)
    checks = [r.as_dict() for r in results]
    failed = [c for c in checks if not c["ok"]]
    if failed:
        names = ", ".join(str(c["name"]) for c in failed)
        raise CloseRefused(
            f"{month} was not closed: {len(failed)} check(s) failed ({names})",
            checks,
            month=str(month),
            failed=[
                {"name": c["name"], "description": c["description"], "problems": c["problems"]}
                for c in failed
            ],
        )
    statement = build_statement(session, month)
    digest = hashlib.sha256(render.json_bytes(statement)).hexdigest()
    ledger.close_month(session, month, closed_by=by.actor, now=now)
    record = MonthClose(
        month=str(month),
        closed_at=now,
        closed_by=by.actor,
        checks=checks,
        statement_sha256=digest,
    )
    session.add(record)
    session.flush()
    snapshot = snapshot_month(session, month)
    # The public record's figures of the month, from the statement just hashed (credits.open).
    from credits.open.figures import store_month

    store_month(session, month, statement, closed_at=now, sha256=digest)
    # snapshot_month stored the figures with SQL: reload them on the next read.
    session.expire(record, ["issued", "redeemed", "liability"])
    audit.record(
        session,
        by,
        "month.close",
        f"month:{month}",
        statement_sha256=digest,
        checks={str(c["name"]): bool(c["ok"]) for c in checks},
        issued=snapshot.issued,
        redeemed=snapshot.redeemed,
        liability=snapshot.liability,
    )
    return CloseResult(month, now, by.actor, digest, checks)


def month_close(session: Session, month: Month) -> MonthClose | None:
    """The record of ``month``'s close, or None if it is open."""
    return session.get(MonthClose, str(month))
