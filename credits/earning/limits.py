"""Caps and budgets, held under concurrency.

**Invariant.** For every activity A and London month M, the credits posted for A dated in M
never exceed A's budget for M; for every member P, the credits posted to P for A never exceed
A's week cap in any London ISO week nor its month cap in any London month. The counters
(``activity_budget.issued_credits``, ``member_activity_usage.credits``) always equal the sums
of the posted award lines they count (`credits verify`: ``earning_counters``).

**How it holds under concurrency.** Checking "used + asked ≤ limit" and then posting is a
read-check-write: two coordinators awarding at once could both read the same "used" and
together exceed the limit. So a use case that posts an award first *locks the counter rows*
it will change, in one fixed order, inside its unit of work:

1. the award's row, when deciding on an existing award (approvals);
2. the budget row of (activity, month) — an award is for one activity on one date, so it
   takes exactly one;
3. the member-period rows of every line, sorted by (person, activity, period);
4. then the ledger locks its balance rows (ascending account id) as it posts.

A transaction waiting for a lock holds none that comes later in the order, so no two
awards can wait on each other in a cycle. Rows are created on first use with
``INSERT ... ON CONFLICT DO NOTHING`` and then read with ``SELECT ... FOR UPDATE``. On
PostgreSQL (READ COMMITTED) the locking read returns the row as the previous holder
committed it, so the check sees every award that committed before; on SQLite every write
transaction holds the database's write lock from ``BEGIN IMMEDIATE``, which serialises them.

The budget row of an activity-month is a hot row: awards for one activity in one month are
serialised. A session sheet (one entry for a whole snow day) takes it once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from credits.earning import dates
from credits.earning.errors import BudgetExceeded, CapExceeded
from credits.earning.models import (
    T_BUDGET,
    T_USAGE,
    Activity,
    ActivityBudget,
)
from credits.i18n import Fmt, T, Text, Tn, format_day, format_day_month, format_month


@dataclass(frozen=True, slots=True)
class LineAsk:
    """One member's share of an award, for the limit checks."""

    person_id: int
    person_name: str
    credits: int


@dataclass
class LimitCheck:
    """What the checks found: cap refusals per member, and a budget refusal."""

    caps: dict[int, CapExceeded] = field(default_factory=dict)
    budget: BudgetExceeded | None = None

    @property
    def ok(self) -> bool:
        return not self.caps and self.budget is None

    def raise_first(self) -> None:
        """Raise the refusal of a single-line award (the cap first: it is the member's)."""
        for problem in self.caps.values():
            raise problem
        if self.budget is not None:
            raise self.budget


def _insert_ignore(session: Session, table: object, rows: list[dict[str, object]]) -> None:
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    session.execute(module.insert(table).on_conflict_do_nothing(), rows)  # type: ignore[arg-type]


def lock_budget_row(session: Session, activity_id: int, month: str) -> ActivityBudget:
    """The (activity, month) budget row, created if new, locked until the transaction ends."""
    _insert_ignore(
        session, T_BUDGET, [{"activity_id": activity_id, "month": month, "issued_credits": 0}]
    )
    row = session.execute(
        select(ActivityBudget)
        .where(T_BUDGET.c.activity_id == activity_id, T_BUDGET.c.month == month)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()
    return row


def _periods(occurred_on: date) -> tuple[str, str]:
    return dates.week_key(occurred_on), dates.month_key(occurred_on)


def _usage(
    session: Session,
    activity_id: int,
    person_ids: Iterable[int],
    periods: tuple[str, str],
    *,
    lock: bool,
) -> dict[tuple[int, str], int]:
    """Credits used per (person, period); with ``lock``, create and lock the rows in order."""
    people = sorted(set(person_ids))
    if not people:
        return {}
    keys = sorted((p, activity_id, period) for p in people for period in periods)
    if lock:
        _insert_ignore(
            session,
            T_USAGE,
            [{"person_id": p, "activity_id": a, "period": k, "credits": 0} for p, a, k in keys],
        )
    query = (
        select(T_USAGE.c.person_id, T_USAGE.c.period, T_USAGE.c.credits)
        .where(
            T_USAGE.c.activity_id == activity_id,
            T_USAGE.c.person_id.in_(people),
            T_USAGE.c.period.in_(periods),
        )
        .order_by(T_USAGE.c.person_id, T_USAGE.c.activity_id, T_USAGE.c.period)
    )
    if lock:
        query = query.with_for_update()
    return {(int(p), k): int(c) for p, k, c in session.execute(query)}


def check(
    session: Session,
    activity: Activity,
    occurred_on: date,
    lines: list[LineAsk],
    *,
    lock: bool,
) -> LimitCheck:
    """Check every line against the caps and the total against the budget.

    With ``lock=True`` (a use case about to post) the rows are created and locked in the
    fixed order above and the answer holds until the transaction ends; with ``lock=False``
    it is advice (a claim being filed, an award going to an officer) and is checked again,
    under lock, when the credits are posted.
    """
    assert activity.id is not None
    month = dates.month_key(occurred_on)
    week = dates.week_key(occurred_on)
    result = LimitCheck()
    if lock:
        budget_row: ActivityBudget | None = lock_budget_row(session, activity.id, month)
    else:
        budget_row = session.get(ActivityBudget, (activity.id, month))
    budget = (
        budget_row.budget_credits
        if budget_row is not None and budget_row.budget_credits is not None
        else activity.monthly_budget_credits
    )
    issued = budget_row.issued_credits if budget_row is not None else 0
    used = _usage(session, activity.id, (x.person_id for x in lines), (week, month), lock=lock)
    monday, sunday = dates.week_bounds(occurred_on)
    for line in lines:
        week_left = activity.week_cap_credits - used.get((line.person_id, week), 0)
        month_left = activity.month_cap_credits - used.get((line.person_id, month), 0)
        if line.credits <= min(week_left, month_left):
            continue
        if week_left <= month_left:
            left, cap, period = max(0, week_left), activity.week_cap_credits, week
            when: Text | Fmt = T(
                "the week of %(monday)s to %(sunday)s",
                monday=Fmt(format_day_month, monday),
                sunday=Fmt(format_day, sunday),
            )
        else:
            left, cap, period = max(0, month_left), activity.month_cap_credits, month
            when = Fmt(format_month, occurred_on)
        result.caps[line.person_id] = CapExceeded(
            Tn(
                "%(name)s can earn %(num)s more credit from %(activity)s in %(when)s (cap "
                "%(cap)s); this award is %(asked)s",
                "%(name)s can earn %(num)s more credits from %(activity)s in %(when)s (cap "
                "%(cap)s); this award is %(asked)s",
                left,
                name=line.person_name,
                activity=activity.name,
                when=when,
                cap=cap,
                asked=line.credits,
            ),
            credits_left=left,
            credits_asked=line.credits,
            cap_credits=cap,
            period=period,
        )
    total = sum(x.credits for x in lines)
    if issued + total > budget:
        left = max(0, budget - issued)
        result.budget = BudgetExceeded(
            Tn(
                "%(activity)s has %(num)s credit left of its budget of %(budget)s for "
                "%(month)s; this award is %(asked)s",
                "%(activity)s has %(num)s credits left of its budget of %(budget)s for "
                "%(month)s; this award is %(asked)s",
                left,
                activity=activity.name,
                budget=budget,
                month=str(month),
                asked=total,
            ),
            credits_left=left,
            credits_asked=total,
            budget_credits=budget,
            month=month,
        )
    return result


def apply(session: Session, activity: Activity, occurred_on: date, lines: list[LineAsk]) -> None:
    """Add the lines to the counters. Call only after ``check(lock=True)`` found no problem,
    in the same transaction (the rows are locked and exist)."""
    assert activity.id is not None
    week, month = _periods(occurred_on)
    total = sum(x.credits for x in lines)
    changed = session.execute(
        update(T_BUDGET)
        .where(T_BUDGET.c.activity_id == activity.id, T_BUDGET.c.month == month)
        .values(issued_credits=T_BUDGET.c.issued_credits + total)
    )
    assert changed.rowcount == 1  # type: ignore[attr-defined]
    for line in lines:
        changed = session.execute(
            update(T_USAGE)
            .where(
                T_USAGE.c.person_id == line.person_id,
                T_USAGE.c.activity_id == activity.id,
                T_USAGE.c.period.in_((week, month)),
            )
            .values(credits=T_USAGE.c.credits + line.credits)
        )
        assert changed.rowcount == 2  # type: ignore[attr-defined]
