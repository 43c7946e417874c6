"""When an activity happened: Europe/London dates, the backdating window, cap periods.

- ``occurred_on`` is a calendar date in Europe/London (what a volunteer means by "Tuesday").
- It may not be in the future (London "today" is the last allowed day), nor more than
  :data:`BACKDATE_DAYS` days before today (today − 60 is the oldest allowed), nor in a
  closed month (``period_closed``).
- Its ledger entry is dated London midnight at the start of that day (in UTC), so the entry
  falls in the same London month as the date, is never in the future, and a retry a day
  later asks for exactly the same entry.
- Week caps count London ISO weeks (Monday to Sunday, ``2026-W48``); month caps and budgets
  London months (``2026-11``).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.orm import Session

from credits.db import utcnow
from credits.errors import ValidationFailed
from credits.i18n import T, Text
from credits.ledger import LONDON, Month, periods

#: How far back an activity may be recorded or claimed, in days (inclusive).
BACKDATE_DAYS = 60
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


class InvalidDate(ValidationFailed):
    def __init__(self, detail: Text) -> None:
        super().__init__(detail, errors={"occurred_on": [detail]})


def london_today(now: datetime | None = None) -> date:
    """Today's date in London."""
    return (now or utcnow()).astimezone(LONDON).date()


def parse_date(value: Any) -> date:
    """``YYYY-MM-DD`` and nothing else (no times, no ``20261120``)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_DATE.match(value.strip()):
        raise InvalidDate(T("occurred_on must be a date written YYYY-MM-DD, e.g. 2026-11-20"))
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise InvalidDate(T("'%(value)s' is not a real date", value=value)) from exc


def check_window(occurred_on: date, now: datetime | None = None) -> None:
    """Refuse a date in the future or more than BACKDATE_DAYS days ago (London days)."""
    today = london_today(now)
    if occurred_on > today:
        raise InvalidDate(
            T(
                "%(day)s is in the future (today is %(today)s in London)",
                day=occurred_on.isoformat(),
                today=today.isoformat(),
            )
        )
    oldest = today - timedelta(days=BACKDATE_DAYS)
    if occurred_on < oldest:
        raise InvalidDate(
            T(
                "%(day)s is more than %(days)s days ago: the oldest date that can be recorded "
                "today is %(oldest)s",
                day=occurred_on.isoformat(),
                days=BACKDATE_DAYS,
                oldest=oldest.isoformat(),
            )
        )


def entry_time(occurred_on: date) -> datetime:
    """The ledger entry's ``occurred_at``: London midnight at the start of the day, in UTC."""
    return datetime.combine(occurred_on, time(0, 0), tzinfo=LONDON).astimezone(UTC)


def ensure_open(session: Session, occurred_on: date) -> None:
    """Refuse a date in a closed London month (``period_closed``)."""
    periods.ensure_open(session, entry_time(occurred_on))


def week_key(occurred_on: date) -> str:
    """The London ISO week of a London date: ``2026-W48`` (weeks run Monday to Sunday)."""
    iso = occurred_on.isocalendar()
    return f"{iso.year:04d}-W{iso.week:02d}"


def month_key(occurred_on: date) -> str:
    """The London month of a London date: ``2026-11``."""
    return str(Month(occurred_on.year, occurred_on.month))


def week_bounds(occurred_on: date) -> tuple[date, date]:
    """Monday and Sunday of the ISO week containing ``occurred_on``."""
    monday = occurred_on - timedelta(days=occurred_on.weekday())
    return monday, monday + timedelta(days=6)
