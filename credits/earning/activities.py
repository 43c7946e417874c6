"""Activities, their monthly issuance budgets, and the scheme's four-eyes threshold.

Officers define activities (rate, unit, caps, default monthly budget), set a particular
month's budget, and set the threshold above which an award line needs an officer's second
approval. Each use case takes a session inside a unit of work and the caller's Principal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from credits import audit
from credits.accounts import Principal, Role
from credits.db import RetryTransaction, unique_violation, utcnow
from credits.earning import dates
from credits.earning.errors import ActivityExists, ActivityNotFound
from credits.earning.models import (
    T_ACTIVITY,
    T_BUDGET,
    Activity,
    ActivityBudget,
    EarningSettings,
)
from credits.earning.quantities import UNITS
from credits.earning.request_checks import Problems, int_field, require_role, text_field
from credits.errors import ValidationFailed
from credits.i18n import T, Tn
from credits.ledger import Month

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_RATE = 1000
MAX_CAP_CREDITS = 1_000_000
MAX_BUDGET_CREDITS = 100_000_000
#: Until an officer sets it, an award line above this many credits needs an officer too.
DEFAULT_FOUR_EYES_THRESHOLD = 50

#: The fields of an activity an officer sets, in form order.
ACTIVITY_FIELDS = (
    "slug",
    "name",
    "description",
    "unit",
    "credits_per_unit",
    "week_cap_credits",
    "month_cap_credits",
    "monthly_budget_credits",
    "active",
)


@dataclass(frozen=True, slots=True)
class BudgetView:
    """An activity's budget for one London month and how much of it is used."""

    activity_slug: str
    month: str
    budget_credits: int
    #: True when the month has no budget of its own and uses the activity's default.
    is_default: bool
    issued_credits: int

    @property
    def left_credits(self) -> int:
        return max(0, self.budget_credits - self.issued_credits)


def _audited(values: dict[str, Any]) -> dict[str, Any]:
    """What an activity change records in the audit log (plain values only)."""
    return {
        k: (v if isinstance(v, int | str | bool) or v is None else str(v))
        for k, v in values.items()
    }


def _validate(
    values: dict[str, Any], *, partial: bool, current: Activity | None = None
) -> dict[str, Any]:
    """Check an activity's fields; every problem is reported at once."""
    problems = Problems()
    clean: dict[str, Any] = {}
    for name in ACTIVITY_FIELDS:
        if name not in values:
            if not partial and name not in ("description", "active"):
                problems.add(name, T("is required"))
            continue
        value = values[name]
        if name == "slug":
            slug = text_field(problems, name, value, max_chars=60, min_chars=2)
            if slug and not SLUG_RE.match(slug):
                problems.add(name, T("use lower-case letters, digits and single hyphens"))
            clean[name] = slug
        elif name == "name":
            clean[name] = text_field(problems, name, value, max_chars=120)
        elif name == "description":
            clean[name] = text_field(problems, name, value, max_chars=1000, required=False)
        elif name == "unit":
            if value not in UNITS:
                problems.add(name, T("must be one of: %(list)s", list=", ".join(UNITS)))
            clean[name] = value
        elif name == "credits_per_unit":
            clean[name] = int_field(problems, name, value, lo=1, hi=MAX_RATE)
        elif name in ("week_cap_credits", "month_cap_credits"):
            clean[name] = int_field(problems, name, value, lo=0, hi=MAX_CAP_CREDITS)
        elif name == "monthly_budget_credits":
            clean[name] = int_field(problems, name, value, lo=0, hi=MAX_BUDGET_CREDITS)
        elif name == "active":
            if not isinstance(value, bool):
                problems.add(name, T("must be true or false"))
            clean[name] = value
    week = clean.get("week_cap_credits", current.week_cap_credits if current else None)
    month = clean.get("month_cap_credits", current.month_cap_credits if current else None)
    if (
        "week_cap_credits" not in problems.errors
        and "month_cap_credits" not in problems.errors
        and week is not None
        and month is not None
        and week > month
    ):
        problems.add("week_cap_credits", T("cannot be more than the monthly cap"))
    problems.raise_if_any()
    return clean


def create_activity(session: Session, who: Principal, values: dict[str, Any]) -> Activity:
    """Create an activity (officers). Refuses a slug already used (``activity_exists``)."""
    require_role(who, Role.OFFICER)
    clean = _validate(values, partial=False)
    if session.execute(select(T_ACTIVITY.c.id).where(T_ACTIVITY.c.slug == clean["slug"])).first():
        raise ActivityExists(T("there is already an activity '%(slug)s'", slug=clean["slug"]))
    now = utcnow()
    row = Activity(
        **{"description": "", "active": True, **clean},
        created_at=now,
        created_by=who.actor,
        updated_at=now,
        updated_by=who.actor,
    )
    session.add(row)
    try:
        session.flush()
    except Exception as exc:
        if unique_violation(exc, "slug"):
            raise RetryTransaction("activity created concurrently") from exc
        raise
    audit.record(session, who, "activity.create", f"activity:{row.slug}", **_audited(clean))
    return row


def update_activity(
    session: Session, who: Principal, slug: str, values: dict[str, Any]
) -> Activity:
    """Change an activity's name, description, rate, caps, default budget or active flag
    (officers). The slug never changes. A new rate applies to awards made from now on."""
    require_role(who, Role.OFFICER)
    row = get_activity(session, slug, for_update=True)
    if "slug" in values and values["slug"] != row.slug:
        raise ValidationFailed(
            T("an activity's slug cannot change"), errors={"slug": [T("cannot change")]}
        )
    clean = _validate({k: v for k, v in values.items() if k != "slug"}, partial=True, current=row)
    for name, value in clean.items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    row.updated_by = who.actor
    session.add(row)
    session.flush()
    audit.record(session, who, "activity.update", f"activity:{row.slug}", **_audited(clean))
    return row


def get_activity(session: Session, slug: str, *, for_update: bool = False) -> Activity:
    """The activity with ``slug``; :class:`ActivityNotFound` (404) if there is none."""
    query = select(Activity).where(T_ACTIVITY.c.slug == slug)
    if for_update:
        query = query.with_for_update()
    row = session.execute(query).scalar_one_or_none() if isinstance(slug, str) else None
    if row is None:
        raise ActivityNotFound(T("no activity '%(slug)s'", slug=slug))
    return row


def list_activities(session: Session, *, include_inactive: bool = False) -> list[Activity]:
    """Activities by name; only active ones unless asked."""
    query = select(Activity).order_by(T_ACTIVITY.c.name)
    if not include_inactive:
        query = query.where(T_ACTIVITY.c.active.is_(True))
    return list(session.execute(query).scalars())


# --- budgets --------------------------------------------------------------------------------


def budget_view(session: Session, activity: Activity, month: Month) -> BudgetView:
    """The budget and usage of ``activity`` in ``month`` (no lock)."""
    row = session.get(ActivityBudget, (activity.id, str(month)))
    return _view(activity, str(month), row)


def _view(activity: Activity, month: str, row: ActivityBudget | None) -> BudgetView:
    own = row.budget_credits if row is not None else None
    return BudgetView(
        activity_slug=activity.slug,
        month=month,
        budget_credits=activity.monthly_budget_credits if own is None else own,
        is_default=own is None,
        issued_credits=row.issued_credits if row is not None else 0,
    )


def budgets_around(session: Session, activity: Activity, today: date) -> list[BudgetView]:
    """This month, the next two and the previous three, plus any other month with a budget
    of its own or issuance: what an officer's budget page shows (newest first)."""
    current = Month(today.year, today.month)
    months = {current}
    m = current
    for _ in range(2):
        m = m.next()
        months.add(m)
    m = current
    for _ in range(3):
        m = m.previous()
        months.add(m)
    rows = {
        r.month: r
        for r in session.execute(
            select(ActivityBudget).where(T_BUDGET.c.activity_id == activity.id)
        ).scalars()
    }
    keys = sorted({str(x) for x in months} | set(rows), reverse=True)
    return [_view(activity, k, rows.get(k)) for k in keys]


def set_month_budget(
    session: Session, who: Principal, slug: str, month_text: str, budget_credits: Any
) -> BudgetView:
    """Set (or, with ``None``, clear back to the default) one month's issuance budget for an
    activity (officers). A budget below what has already been issued that month is refused:
    issued credits cannot be taken back by a budget."""
    require_role(who, Role.OFFICER)
    activity = get_activity(session, slug)
    month = Month.parse(month_text)
    problems = Problems()
    value = None
    if budget_credits is not None:
        value = int_field(problems, "budget_credits", budget_credits, lo=0, hi=MAX_BUDGET_CREDITS)
    problems.raise_if_any()
    assert activity.id is not None
    from credits.earning.limits import lock_budget_row

    row = lock_budget_row(session, activity.id, str(month))
    effective = activity.monthly_budget_credits if value is None else value
    if effective < row.issued_credits:
        raise ValidationFailed(
            Tn(
                "%(num)s credit has already been issued for %(activity)s in %(month)s: the "
                "budget cannot be less than that",
                "%(num)s credits have already been issued for %(activity)s in %(month)s: the "
                "budget cannot be less than that",
                row.issued_credits,
                activity=activity.name,
                month=str(month),
            ),
            errors={"budget_credits": [T("must be at least %(least)s", least=row.issued_credits)]},
        )
    row.budget_credits = value
    row.budget_set_at = utcnow()
    row.budget_set_by = who.actor
    session.add(row)
    session.flush()
    audit.record(
        session,
        who,
        "budget.set",
        f"activity:{activity.slug}",
        month=str(month),
        budget_credits=row.budget_credits if row is not None else None,
    )
    return _view(activity, str(month), row)


# --- settings -------------------------------------------------------------------------------


def four_eyes_threshold(session: Session) -> int:
    """Credits above which one award line needs an officer's second approval."""
    row = session.get(EarningSettings, 1)
    return DEFAULT_FOUR_EYES_THRESHOLD if row is None else row.four_eyes_threshold_credits


def settings_view(session: Session) -> dict[str, Any]:
    """The earning settings as the API shows them."""
    row = session.get(EarningSettings, 1)
    return {
        "four_eyes_threshold_credits": four_eyes_threshold(session),
        "backdate_days": dates.BACKDATE_DAYS,
        "updated_at": row.updated_at if row else None,
        "updated_by": row.updated_by if row else None,
    }


def set_four_eyes_threshold(session: Session, who: Principal, value: Any) -> dict[str, Any]:
    """Set the four-eyes threshold (officers). It applies to approvals from now on."""
    require_role(who, Role.OFFICER)
    problems = Problems()
    number = int_field(problems, "four_eyes_threshold_credits", value, lo=0, hi=MAX_BUDGET_CREDITS)
    problems.raise_if_any()
    row = session.get(EarningSettings, 1, with_for_update=True)
    if row is None:
        row = EarningSettings(
            id=1, four_eyes_threshold_credits=number, updated_at=utcnow(), updated_by=who.actor
        )
    else:
        row.four_eyes_threshold_credits = number
        row.updated_at = utcnow()
        row.updated_by = who.actor
    session.add(row)
    try:
        session.flush()
    except Exception as exc:
        if unique_violation(exc, "earning_settings") or unique_violation(exc, "pk_"):
            raise RetryTransaction("settings row created concurrently") from exc
        raise
    audit.record(
        session, who, "earning.settings", "earning-settings", four_eyes_threshold_credits=number
    )
    return settings_view(session)
