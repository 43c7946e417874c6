"""Whether credits may be awarded: the activity, the date, the caller's groups, the people
on the lines, the caps and budgets, and who may see an award.

Each function here decides one thing and raises the :class:`~credits.errors.CreditsError`
that says why not; nothing here writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from credits.accounts import Principal, Role
from credits.earning import dates, limits
from credits.earning.awards.views import SESSION, T_PERSON
from credits.earning.errors import (
    ActivityInactive,
    AwardNotFound,
    LinesRefused,
    NotYourGroup,
    UnknownActivity,
)
from credits.earning.groups import PersonRef, can_act_for, coordinates_activity
from credits.earning.models import T_ACTIVITY, T_LINE, Activity, Award
from credits.errors import CreditsError
from credits.i18n import T, Tn


@dataclass(frozen=True, slots=True)
class Line:
    """One member's line of a new award, its credits worked out."""

    person: PersonRef
    quantity: Decimal
    credits: int


#: An award's stored lines: (person id, quantity in hundredths, credits).
LineRow = tuple[int, int, int]


def activity_for_award(session: Session, slug: str) -> Activity:
    """The activity named ``slug``, if it exists and takes awards now."""
    row = session.execute(select(Activity).where(T_ACTIVITY.c.slug == slug)).scalar_one_or_none()
    if row is None:
        raise UnknownActivity(
            T("there is no activity '%(slug)s'", slug=slug),
            errors={"activity": [T("no such activity")]},
        )
    if not row.active:
        raise ActivityInactive(
            T("%(activity)s is not taking awards at the moment", activity=row.name),
            errors={"activity": [T("not active")]},
        )
    return row


def check_date(session: Session, day: date, now: datetime | None) -> None:
    """The day lies in the window awards may be dated in, and its month is open."""
    dates.check_window(day, now)
    dates.ensure_open(session, day)


def require_coordinates(session: Session, coordinator_id: int, activity: Activity) -> None:
    """The coordinator runs a group that does ``activity``."""
    assert activity.id is not None
    if not coordinates_activity(session, coordinator_id, activity.id):
        raise NotYourGroup(
            T("you do not coordinate a group that does %(activity)s", activity=activity.name)
        )


def asks(lines: Iterable[Line]) -> list[limits.LineAsk]:
    """What new lines ask of the caps and budget."""
    return [limits.LineAsk(x.person.id, x.person.name, x.credits) for x in lines]


def stored_asks(session: Session, lines: Sequence[LineRow]) -> list[limits.LineAsk]:
    """What an existing award's lines ask of the caps and budget (names for the refusal)."""
    names = dict(
        session.execute(
            select(T_PERSON.c.id, T_PERSON.c.name).where(
                T_PERSON.c.id.in_([p for p, _, _ in lines])
            )
        ).all()
    )
    return [limits.LineAsk(p, names.get(p, f"person {p}"), c) for p, _, c in lines]


def cap_line(index: int, email: str, problem: CreditsError) -> dict[str, Any]:
    """One failing line of a sheet, as :class:`LinesRefused` lists it."""
    return {
        "line": index,
        "member_email": email,
        "code": problem.code,
        "detail": problem.detail,
        **{k: v for k, v in problem.extra.items() if k != "errors"},
    }


def refuse_over_limits(
    kind: str,
    check: limits.LimitCheck,
    line_of: Mapping[int, tuple[int, str]],
    sheet_detail: str,
) -> None:
    """Raise the limits' refusal, if any: for a session sheet whose lines break caps, one
    :class:`LinesRefused` (``sheet_detail``) listing every such line by number
    (``line_of``: person id -> (line number, email)); otherwise the first problem."""
    if check.ok:
        return
    if kind == SESSION and check.caps:
        raise LinesRefused(
            sheet_detail,
            sorted(
                (cap_line(*line_of[p], problem) for p, problem in check.caps.items()),
                key=lambda x: x["line"],
            ),
        )
    check.raise_first()


def refuse_new_over_limits(kind: str, check: limits.LimitCheck, lines: Sequence[Line]) -> None:
    """:func:`refuse_over_limits` for the lines of a new award."""
    if check.ok:
        return
    line_of = {x.person.id: (i, x.person.email) for i, x in enumerate(lines, 1)}
    refuse_over_limits(
        kind,
        check,
        line_of,
        Tn(
            "%(num)s line would exceed a cap; nothing was posted",
            "%(num)s lines would exceed a cap; nothing was posted",
            len(check.caps),
        ),
    )


def stored_lines(session: Session, award_id: int) -> list[LineRow]:
    """(person id, quantity hundredths, credits) of an award, by line id."""
    return [
        (int(p), int(q), int(c))
        for p, q, c in session.execute(
            select(T_LINE.c.person_id, T_LINE.c.quantity_centi, T_LINE.c.credits)
            .where(T_LINE.c.award_id == award_id)
            .order_by(T_LINE.c.id)
        )
    ]


def acts_for_all(
    session: Session, coordinator_id: int, award: Award, lines: Sequence[LineRow]
) -> bool:
    """Whether the coordinator runs a group of every line's member that does the activity."""
    return all(can_act_for(session, coordinator_id, p, award.activity_id) for p, _, _ in lines)


def ensure_visible(
    session: Session, who: Principal, award: Award, lines: Sequence[LineRow]
) -> None:
    """Officers see every award; a coordinator only those for their groups' people (or one
    they recorded). Anyone else is told there is no such award."""
    if who.role is Role.OFFICER:
        return
    assert who.person_id is not None
    if who.role is Role.COORDINATOR and acts_for_all(session, who.person_id, award, lines):
        return
    if who.role is Role.COORDINATOR and award.created_by_person_id == who.person_id:
        return
    raise AwardNotFound(f"no award {award.id}")
