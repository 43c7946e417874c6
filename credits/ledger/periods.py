"""Accounting periods: Europe/London calendar months over UTC timestamps.

A month is the half-open UTC interval from local midnight on its first day to local midnight
on the first day of the next month. March 2026 (clocks go forward on the 29th) is therefore
743 hours long and October 2026 (clocks go back on the 25th) 745 hours: each covers exactly
its local days.

A closed month refuses every new entry whose ``occurred_at`` falls inside it, or anywhere
before its end (:class:`~credits.errors.PeriodClosed`): closing a month closes the months
before it too, so the balances snapshotted at its end stay true. Corrections go into the
open month as reversals.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from credits.errors import PeriodClosed, ValidationFailed
from credits.i18n import T
from credits.ledger.models import T_CLOSED, ClosedPeriod

LONDON = ZoneInfo("Europe/London")
# Waits for every transaction already writing entries to finish and holds new ones back
# until the closing transaction commits (PostgreSQL). Through a SECURITY DEFINER function
# (migration 0021): PostgreSQL grants a SHARE lock only to roles that may UPDATE the table,
# and the app's role may not (credits/privileges.py).
LOCK_JOURNAL = text("SELECT ledger_lock_journal()")
_MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True, order=True, slots=True)
class Month:
    """A Europe/London calendar month."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        """Parse ``YYYY-MM``; anything else is a validation error."""
        m = _MONTH_RE.match(text or "")
        if not m:
            raise ValidationFailed(f"{text!r} is not a month: use YYYY-MM, e.g. 2026-10")
        year = int(m.group(1))
        if not 2000 <= year <= 2999:
            raise ValidationFailed(f"{text!r} is outside the years this ledger keeps")
        return cls(year, int(m.group(2)))

    @classmethod
    def containing(cls, moment: datetime) -> Month:
        """The London month an aware instant falls in."""
        if moment.tzinfo is None:
            raise ValueError("naive datetime")
        local = moment.astimezone(LONDON)
        return cls(local.year, local.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def next(self) -> Month:
        """The month after this one."""
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Month:
        """The month before this one."""
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    @property
    def starts_at(self) -> datetime:
        """Local midnight on the 1st, in UTC."""
        return datetime(self.year, self.month, 1, tzinfo=LONDON).astimezone(UTC)

    @property
    def ends_at(self) -> datetime:
        """Local midnight on the 1st of the next month, in UTC (exclusive)."""
        return self.next().starts_at

    def contains(self, moment: datetime) -> bool:
        """Whether an aware instant falls in this month."""
        return self.starts_at <= moment < self.ends_at


def is_closed(session: Session, moment: datetime) -> bool:
    """Whether ``moment`` is in a closed month, or before the end of any closed month.

    Closing a month also closes every earlier month: the close snapshots balances at the
    month's end (credits.statements.snapshots), which an entry back-dated into an earlier,
    still-empty month would silently falsify. (The month close insists that every earlier
    month holding entries is closed first, so only empty months are closed this way.)
    """
    return (
        session.execute(select(T_CLOSED.c.month).where(T_CLOSED.c.ends_at > moment)).first()
        is not None
    )


def ensure_open(session: Session, moment: datetime) -> None:
    """Raise :class:`PeriodClosed` if ``moment`` falls in a closed month."""
    if is_closed(session, moment):
        raise PeriodClosed(
            T(
                "%(month)s is closed: nothing can be dated in it. Post a correction in the open "
                "month instead.",
                month=str(Month.containing(moment)),
            ),
            month=str(Month.containing(moment)),
        )


def closed_months(session: Session) -> list[str]:
    """Every closed month, oldest first."""
    rows = session.execute(select(T_CLOSED.c.month).order_by(T_CLOSED.c.month))
    return [r[0] for r in rows]


def close_month(session: Session, month: Month, *, closed_by: str, now: datetime) -> ClosedPeriod:
    """Close ``month`` to new entries. The reconciliation checks are the caller's job.

    Guarantees: a month is closed only after it has ended (London time) and only once; once
    the row is committed no entry can be dated inside it (checked in Python and, on
    PostgreSQL, by a trigger on ``journal_entry``). On PostgreSQL this first takes a SHARE
    lock on ``journal_entry``, so every entry already being written commits before the month
    closes and none can start until the closing transaction ends.
    """
    if now < month.ends_at:
        raise ValidationFailed(
            T(
                "%(month)s has not ended yet: it can be closed from %(when)s UTC",
                month=str(month),
                when=month.ends_at.strftime("%Y-%m-%d %H:%M"),
            )
        )
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        session.execute(LOCK_JOURNAL)
    if session.get(ClosedPeriod, str(month)) is not None:
        raise PeriodClosed(T("%(month)s is already closed", month=str(month)), month=str(month))
    row = ClosedPeriod(
        month=str(month),
        starts_at=month.starts_at,
        ends_at=month.ends_at,
        closed_at=now,
        closed_by=closed_by,
    )
    session.add(row)
    session.flush()
    return row
