"""The figures of the public record: what each closed month did, in figures a resident can
read, each one the same number as that month's statement.

Guarantees:

- A month's figures are taken at its close (:func:`store_month`, called by the month close in
  its transaction, from the very statement whose SHA-256 the close records), so they are
  final: nothing can be dated in a closed month, and the stored figures are what /open and
  the open data serve, however much later. A month closed before this table existed is
  computed from its statement on demand (:func:`month_figures`), which gives the same
  figures.
- Every money figure comes from the statement (``credits.statements``): credits earned per
  activity, spent and owed per shop, expired, lapsed, outstanding. Tested against the
  worked month's statement.
- What the statement does not hold comes from the posted awards of the month (the entries
  the statement counts as earned, by the same dates): how much was volunteered, in each
  activity's unit (hours, sessions, runs), and how many distinct people took part.
- The true counts of people are stored here; they are never published as they are: the
  public documents pass them through credits.open.suppression.
- No personal data: no name, email, person id or voucher reference is read into these
  figures, and no time finer than a day (the close's London date).

What a shop was *paid* (settlements, issue 15) is not a figure here yet: :class:`ShopFigures`
is the one place a shop's figures are assembled (from the statement's ``per_shop``), and
``credits.open.render`` the one place they are written out (``SHOP_MEASURES``), so that
figure joins both beside ``owed_pence`` when the settlements package is merged.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.orm import Session

from credits.db import UTCDateTime
from credits.ledger.periods import LONDON, Month
from credits.open.models import T_OPEN_MONTH_RECORD, OpenMonthRecord
from credits.statements.engine import Statement, build_statement
from credits.statements.models import MonthClose
from credits.statements.snapshots import month_ids

#: Activity units in the order the public record lists them, with their plural.
UNITS: dict[str, str] = {"hour": "hours", "session": "sessions", "run": "runs"}


@dataclass(frozen=True, slots=True)
class Quantity:
    """An amount volunteered in one unit, in hundredths (1.5 hours is 150)."""

    unit: str
    centi: int

    @property
    def text(self) -> str:
        """``"5"``, ``"1.5"``, ``"2.25"``: exact decimal text (no float)."""
        whole, part = divmod(self.centi, 100)
        return str(whole) if part == 0 else f"{whole}.{part:02d}".rstrip("0")


@dataclass(frozen=True, slots=True)
class ActivityFigures:
    """One activity's month. ``activity_id`` None: credits earned outside an award
    (seeded or migrated balances), which have no volunteers and no quantity."""

    activity_id: int | None
    slug: str
    name: str
    credits_earned: int
    #: Distinct people with a posted award for the activity dated in the month.
    volunteers: int | None
    volunteered: tuple[Quantity, ...]


@dataclass(frozen=True, slots=True)
class ShopFigures:
    """One partner shop's month, as the statement's ``per_shop`` line has it."""

    shop_id: int
    name: str
    redemptions: int
    credits_spent: int
    #: What the shop is owed for: spent, less reversed redemptions, plus offline double
    #: spends the scheme paid (the statement's ``net``).
    net_credits: int
    owed_pence: int | None


@dataclass(frozen=True, slots=True)
class MonthFigures:
    """A closed month's public figures (true counts: see credits.open.suppression)."""

    month: str
    closed_on: date
    statement_sha256: str
    rate_pence_per_credit: int | None
    active_volunteers: int
    volunteered: tuple[Quantity, ...]
    credits_earned: int
    activities: tuple[ActivityFigures, ...]
    credits_spent: int
    owed_pence: int | None
    shops: tuple[ShopFigures, ...]
    vouchers_expired: int
    voucher_credits_expired: int
    credits_lapsed: int
    reversals: int
    adjustments: int
    outstanding_at_start: int
    outstanding_members: int
    outstanding_vouchers: int

    @property
    def period(self) -> Month:
        return Month.parse(self.month)

    @property
    def outstanding_at_end(self) -> int:
        return self.outstanding_members + self.outstanding_vouchers

    @property
    def net_credits(self) -> int:
        return sum(s.net_credits for s in self.shops)

    def as_stored(self) -> dict[str, Any]:
        """JSON-ready data for ``open_month_record.figures``."""
        data = asdict(self)
        data["closed_on"] = self.closed_on.isoformat()
        return data

    @classmethod
    def from_stored(cls, data: dict[str, Any]) -> MonthFigures:
        def quantities(items: Iterable[dict[str, Any]]) -> tuple[Quantity, ...]:
            return tuple(Quantity(str(q["unit"]), int(q["centi"])) for q in items)

        fields = dict(data)
        fields["closed_on"] = date.fromisoformat(str(data["closed_on"]))
        fields["volunteered"] = quantities(data["volunteered"])
        fields["activities"] = tuple(
            ActivityFigures(**{**a, "volunteered": quantities(a["volunteered"])})
            for a in data["activities"]
        )
        fields["shops"] = tuple(ShopFigures(**s) for s in data["shops"])
        return cls(**fields)


# The month's posted awards, through the same entries (and dates) the statement counts as
# earned in the month; the entry-id range only steers PostgreSQL to the month's awards.
_AWARDS = """
FROM award aw
JOIN journal_entry e ON e.id = aw.entry_id
JOIN award_line l ON l.award_id = aw.id
WHERE aw.entry_id BETWEEN :lo AND :hi AND e.id BETWEEN :lo AND :hi
  AND e.occurred_at >= :starts AND e.occurred_at < :ends
"""
_BY_UNIT = f"SELECT aw.activity_id, aw.unit, sum(l.quantity_centi) {_AWARDS} GROUP BY 1, 2"
_PEOPLE_BY_ACTIVITY = (
    f"SELECT aw.activity_id, count(DISTINCT l.person_id) {_AWARDS} GROUP BY aw.activity_id"
)
_PEOPLE = f"SELECT count(DISTINCT l.person_id) {_AWARDS}"


def _sql(sql: str) -> Any:
    return text(sql).bindparams(
        bindparam("starts", type_=UTCDateTime()), bindparam("ends", type_=UTCDateTime())
    )


def sorted_quantities(by_unit: dict[str, int]) -> tuple[Quantity, ...]:
    """Quantities by unit, in :data:`UNITS` order, leaving out zeros."""
    order = list(UNITS)
    return tuple(
        Quantity(u, c) for u, c in sorted(by_unit.items(), key=lambda uc: order.index(uc[0])) if c
    )


def month_figures(
    session: Session, month: Month, statement: Statement, *, closed_at: datetime, sha256: str
) -> MonthFigures:
    """The public figures of ``month`` from its scheme ``statement`` and its posted awards.
    Reads only."""
    sf = statement.scheme
    assert sf is not None, "the public record is built from the scheme's statement"
    times = month_ids(session, month)
    by_unit: dict[int, dict[str, int]] = defaultdict(dict)
    for activity_id, unit, centi in session.execute(_sql(_BY_UNIT), times):
        by_unit[int(activity_id)][str(unit)] = int(centi)
    people = {int(a): int(n) for a, n in session.execute(_sql(_PEOPLE_BY_ACTIVITY), times)}
    active = int(session.execute(_sql(_PEOPLE), times).scalar_one())
    activities = tuple(
        ActivityFigures(
            activity_id=a.activity_id,
            slug=a.slug,
            name=a.name,
            credits_earned=a.credits,
            volunteers=None if a.activity_id is None else people.get(a.activity_id, 0),
            volunteered=()
            if a.activity_id is None
            else sorted_quantities(by_unit.get(a.activity_id, {})),
        )
        for a in sf.by_activity
    )
    totals: dict[str, int] = defaultdict(int)
    for units in by_unit.values():
        for unit, centi in units.items():
            totals[unit] += centi
    return MonthFigures(
        month=str(month),
        closed_on=closed_at.astimezone(LONDON).date(),
        statement_sha256=sha256,
        rate_pence_per_credit=statement.rate_pence_per_credit,
        active_volunteers=active,
        volunteered=sorted_quantities(totals),
        credits_earned=sf.issued,
        activities=activities,
        credits_spent=sf.redeemed,
        owed_pence=sf.owed_pence,
        shops=tuple(
            ShopFigures(
                shop_id=s.shop_id,
                name=s.name,
                redemptions=s.redemptions,
                credits_spent=s.redeemed,
                net_credits=s.net,
                owed_pence=s.owed_pence,
            )
            for s in sf.by_shop
        ),
        vouchers_expired=sf.vouchers.expired_count,
        voucher_credits_expired=sf.vouchers.expired,
        credits_lapsed=sf.expired,
        reversals=sf.reversals,
        adjustments=sf.adjustments,
        outstanding_at_start=sf.opening.total,
        outstanding_members=sf.closing.members,
        outstanding_vouchers=sf.closing.vouchers,
    )


def store_month(
    session: Session, month: Month, statement: Statement, *, closed_at: datetime, sha256: str
) -> MonthFigures:
    """Store ``month``'s public figures; called by the month close, in its transaction,
    with the statement it hashed. Returns what it stored."""
    figures = month_figures(session, month, statement, closed_at=closed_at, sha256=sha256)
    session.add(OpenMonthRecord(month=str(month), figures=figures.as_stored()))
    session.flush()
    return figures


def closed_month_figures(session: Session, months: Iterable[Month]) -> dict[str, MonthFigures]:
    """The figures of those of ``months`` that are closed: stored at their close, or (a
    month closed before the public record existed) computed from its statement now."""
    wanted = [str(m) for m in months]
    if not wanted:
        return {}
    stored = {
        str(m): MonthFigures.from_stored(dict(f))
        for m, f in session.execute(
            select(T_OPEN_MONTH_RECORD.c.month, T_OPEN_MONTH_RECORD.c.figures).where(
                T_OPEN_MONTH_RECORD.c.month.in_(wanted)
            )
        )
    }
    for m in wanted:
        if m in stored:
            continue
        record = session.get(MonthClose, m)
        if record is None:
            continue
        month = Month.parse(m)
        stored[m] = month_figures(
            session,
            month,
            build_statement(session, month),
            closed_at=record.closed_at,
            sha256=record.statement_sha256,
        )
    return stored


_YEAR_PEOPLE = """
SELECT count(DISTINCT l.person_id)
FROM award aw
JOIN journal_entry e ON e.id = aw.entry_id
JOIN award_line l ON l.award_id = aw.id
WHERE aw.entry_id IS NOT NULL AND ({ranges})
"""


def distinct_volunteers(session: Session, months: list[Month]) -> int:
    """Distinct people with a posted award dated in any of ``months``."""
    if not months:
        return 0
    params: dict[str, Any] = {}
    ranges = []
    binds = []
    for i, m in enumerate(months):
        ranges.append(f"(e.occurred_at >= :s{i} AND e.occurred_at < :e{i})")
        params[f"s{i}"], params[f"e{i}"] = m.starts_at, m.ends_at
        binds += [bindparam(f"s{i}", type_=UTCDateTime()), bindparam(f"e{i}", type_=UTCDateTime())]
    sql = text(_YEAR_PEOPLE.format(ranges=" OR ".join(ranges))).bindparams(*binds)
    return int(session.execute(sql, params).scalar_one())
