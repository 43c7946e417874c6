"""The public record as a whole: every closed month (published, or held back), each
published month's figures with its counts of people protected, and the year so far.

Guarantees:

- Only closed months appear, and a held month's figures appear nowhere: not in its own
  document, not in the year so far, not in the charts (tested by differencing the year).
- Counts of people are published only through credits.open.suppression: a month's active
  volunteers and each activity's volunteers together (:func:`protect`), the year so far's
  against its months' published totals (:func:`protect_total`).
- Reads only; one :class:`PublicRecord` is built from one session, so every figure on a page
  or in a document comes from the same moment.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from credits.ledger.periods import LONDON, Month
from credits.open.figures import (
    ActivityFigures,
    MonthFigures,
    Quantity,
    ShopFigures,
    closed_month_figures,
    distinct_volunteers,
    sorted_quantities,
)
from credits.open.holds import holds_in_force
from credits.open.suppression import PeopleCount, protect, protect_total


@dataclass(frozen=True, slots=True)
class PublishedMonth:
    """A published month: its figures and its counts of people as they may be shown
    (``volunteers`` by activity id; activities earned outside an award have none)."""

    figures: MonthFigures
    active_volunteers: PeopleCount
    volunteers: dict[int, PeopleCount]

    @property
    def month(self) -> Month:
        return self.figures.period

    def volunteers_of(self, activity: ActivityFigures) -> PeopleCount | None:
        if activity.activity_id is None:
            return None
        return self.volunteers.get(activity.activity_id)


def publish(figures: MonthFigures) -> PublishedMonth:
    """Apply the suppression rule to a month's counts of people."""
    parts = {
        a.activity_id: a.volunteers or 0
        for a in figures.activities
        if a.activity_id is not None and a.volunteers is not None
    }
    total, cells = protect(figures.active_volunteers, parts)
    return PublishedMonth(figures, total, cells)


@dataclass(frozen=True, slots=True)
class MonthEntry:
    """A closed month on the record: published (``published``) or held back (``held_on``,
    the London date the hold began; the reason is never public)."""

    month: Month
    closed_on: date
    published: PublishedMonth | None
    held_on: date | None


@dataclass(frozen=True, slots=True)
class YearActivity:
    slug: str
    name: str
    credits_earned: int
    volunteered: tuple[Quantity, ...]


@dataclass(frozen=True, slots=True)
class YearSoFar:
    """The published months of one calendar year, added up. Counts of people: distinct
    people over those months (someone active in three months counts once)."""

    year: int
    months: tuple[Month, ...]
    active_volunteers: PeopleCount
    volunteered: tuple[Quantity, ...]
    credits_earned: int
    activities: tuple[YearActivity, ...]
    credits_spent: int
    net_credits: int
    owed_pence: int | None
    shops: tuple[ShopFigures, ...]
    vouchers_expired: int
    voucher_credits_expired: int
    credits_lapsed: int
    outstanding_at_end: int


@dataclass(frozen=True, slots=True)
class PublicRecord:
    """Every closed month, newest first, and the year so far (None before any month is
    published)."""

    months: tuple[MonthEntry, ...]
    year: YearSoFar | None

    @property
    def published(self) -> list[PublishedMonth]:
        """The published months, oldest first (the order of charts and data)."""
        return [e.published for e in reversed(self.months) if e.published is not None]

    def entry(self, month: Month) -> MonthEntry | None:
        return next((e for e in self.months if e.month == month), None)


def _closed(session: Session) -> dict[Month, date]:
    """Every closed month, newest first, with the London date it was closed."""
    rows = session.execute(text("SELECT month, closed_at FROM month_close ORDER BY month DESC"))
    return {Month.parse(str(m)): _london_date(at) for m, at in rows}


def _london_date(value: object) -> date:
    if isinstance(value, str):  # SQLite returns the raw text of a timestamp
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    return aware.astimezone(LONDON).date()


def build_record(session: Session) -> PublicRecord:
    """The whole public record, from one session."""
    closed = _closed(session)
    holds = holds_in_force(session)
    figures = closed_month_figures(session, [m for m in closed if str(m) not in holds])
    entries = []
    for m, closed_on in closed.items():
        hold = holds.get(str(m))
        if hold is not None:
            entries.append(MonthEntry(m, closed_on, None, _london_date(hold.held_at)))
            continue
        f = figures[str(m)]
        entries.append(MonthEntry(m, f.closed_on, publish(f), None))
    record = PublicRecord(tuple(entries), None)
    return PublicRecord(record.months, _year_so_far(session, record.published))


def _add(into: dict[str, int], quantities: tuple[Quantity, ...]) -> None:
    for q in quantities:
        into[q.unit] += q.centi


def _year_so_far(session: Session, published: list[PublishedMonth]) -> YearSoFar | None:
    if not published:
        return None
    year = published[-1].month.year
    months = [p for p in published if p.month.year == year]
    people = distinct_volunteers(session, [p.month for p in months])
    active = protect_total(people, [p.active_volunteers for p in months])
    volunteered: dict[str, int] = defaultdict(int)
    activities: dict[str, tuple[str, int, dict[str, int]]] = {}
    shops: dict[int, ShopFigures] = {}
    for p in months:
        f = p.figures
        _add(volunteered, f.volunteered)
        for a in f.activities:
            key = a.slug or "-outside-an-award"
            name, credits, units = activities.get(key, (a.name, 0, defaultdict(int)))
            _add(units, a.volunteered)
            activities[key] = (a.name or name, credits + a.credits_earned, units)
        for s in f.shops:
            before = shops.get(s.shop_id)
            if before is None:
                shops[s.shop_id] = s
                continue
            owed = (
                None
                if before.owed_pence is None or s.owed_pence is None
                else before.owed_pence + s.owed_pence
            )
            shops[s.shop_id] = ShopFigures(
                shop_id=s.shop_id,
                name=s.name,
                redemptions=before.redemptions + s.redemptions,
                credits_spent=before.credits_spent + s.credits_spent,
                net_credits=before.net_credits + s.net_credits,
                owed_pence=owed,
            )
    owed_each = [p.figures.owed_pence for p in months]
    return YearSoFar(
        year=year,
        months=tuple(p.month for p in months),
        active_volunteers=active,
        volunteered=sorted_quantities(volunteered),
        credits_earned=sum(p.figures.credits_earned for p in months),
        activities=tuple(
            YearActivity("" if k == "-outside-an-award" else k, n, c, sorted_quantities(u))
            for k, (n, c, u) in sorted(
                activities.items(), key=lambda kv: (kv[0] == "-outside-an-award", kv[0])
            )
        ),
        credits_spent=sum(p.figures.credits_spent for p in months),
        net_credits=sum(p.figures.net_credits for p in months),
        owed_pence=None if any(o is None for o in owed_each) else sum(o or 0 for o in owed_each),
        shops=tuple(sorted(shops.values(), key=lambda s: (s.name, s.shop_id))),
        vouchers_expired=sum(p.figures.vouchers_expired for p in months),
        voucher_credits_expired=sum(p.figures.voucher_credits_expired for p in months),
        credits_lapsed=sum(p.figures.credits_lapsed for p in months),
        outstanding_at_end=months[-1].figures.outstanding_at_end,
    )
