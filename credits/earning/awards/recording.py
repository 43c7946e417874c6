"""The three ways in: a coordinator's record, a coordinator's session sheet, a member's claim.

Each runs the same pipeline: parse (intake.py) → fingerprint and replay → activity and date
(:func:`~credits.earning.awards.intake.open_award`) → who may award whom (eligibility.py) →
write and post (posting.py). What differs is only who is on the lines and who approves.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from credits.accounts import Principal, Role
from credits.accounts.models import Person
from credits.db import utcnow
from credits.earning import limits
from credits.earning.activities import four_eyes_threshold
from credits.earning.awards.eligibility import (
    Line,
    asks,
    cap_line,
    require_coordinates,
)
from credits.earning.awards.intake import (
    Opened,
    open_award,
    parse_amount,
    parse_member_line,
    parse_request,
)
from credits.earning.awards.posting import create, insert_award
from credits.earning.awards.views import (
    CLAIM,
    MAX_SHEET_LINES,
    PENDING,
    RECORD,
    SESSION,
    AwardView,
)
from credits.earning.errors import LinesRefused, NotInGroup, SelfAward, UnknownMember
from credits.earning.groups import (
    PersonRef,
    eligible_member,
    eligible_members,
    member_activity_ids,
)
from credits.earning.models import Award
from credits.earning.quantities import InvalidQuantity, credits_for
from credits.earning.request_checks import Problems, require_role
from credits.errors import CreditsError
from credits.i18n import T, Tn


def record_award(
    session: Session,
    who: Principal,
    *,
    member_email: Any,
    activity: Any,
    quantity: Any,
    occurred_on: Any,
    idempotency_key: Any,
    note: Any = "",
    now: datetime | None = None,
) -> AwardView:
    """A coordinator awards one member of their groups for one of their groups' activities.

    Posted at once (state ``posted``) unless the credits are above the four-eyes threshold,
    in which case it waits for an officer (``awaiting_officer``). See the package docstring.
    """
    coordinator_id = require_role(who, Role.COORDINATOR)
    problems = Problems()
    request = parse_request(
        problems, activity=activity, occurred_on=occurred_on, note=note, key=idempotency_key
    )
    email, amount = parse_member_line(problems, member_email, quantity)
    problems.raise_if_any()

    opened = open_award(
        session,
        kind=RECORD,
        owner_id=coordinator_id,
        request=request,
        lines=[[email, str(amount)]],
        now=now,
    )
    if not isinstance(opened, Opened):
        return opened
    act = opened.activity
    assert act.id is not None
    require_coordinates(session, coordinator_id, act)
    person = eligible_member(session, coordinator_id, act.id, email)
    if person is None:
        raise UnknownMember(
            T(
                "there is no member %(email)s in your groups that do %(activity)s",
                email=email,
                activity=act.name,
            ),
            errors={"member_email": [T("not a member of your groups for this activity")]},
        )
    if person.id == coordinator_id:
        raise SelfAward(T("you cannot award credits to yourself: ask another coordinator"))
    credits = credits_for(amount, act.unit, act.credits_per_unit)
    threshold = four_eyes_threshold(session)
    return create(
        session,
        who,
        kind=RECORD,
        opened=opened,
        lines=[Line(person, amount, credits)],
        needs_officer=credits > threshold,
    )


def _sheet_lines(lines: Any) -> list[tuple[int, str, Decimal]]:
    """Parse a sheet's lines: (line number, email, quantity) of each, or LinesRefused
    listing every malformed line (and any member listed twice)."""
    failing: list[dict[str, Any]] = []
    wanted: list[tuple[int, str, Decimal]] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(lines, 1):
        if not isinstance(raw, dict):
            failing.append(
                {
                    "line": index,
                    "member_email": None,
                    "code": "validation_error",
                    "detail": T("each line is an object with member_email and quantity"),
                }
            )
            continue
        line_problems = Problems()
        email, amount = parse_member_line(
            line_problems, raw.get("member_email"), raw.get("quantity")
        )
        if email and email in seen:
            line_problems.add("member_email", T("already on line %(line)s", line=seen[email]))
        elif email:
            seen[email] = index
        if line_problems.errors:
            failing.append(
                {
                    "line": index,
                    "member_email": raw.get("member_email")
                    if isinstance(raw.get("member_email"), str)
                    else None,
                    "code": "validation_error",
                    "detail": "; ".join(
                        f"{field}: {m}" for field, ms in line_problems.errors.items() for m in ms
                    ),
                    "errors": line_problems.errors,
                }
            )
            continue
        wanted.append((index, email, amount))
    if failing:
        raise LinesRefused(
            Tn(
                "%(num)s line is not valid; nothing was posted",
                "%(num)s lines are not valid; nothing was posted",
                len(failing),
            ),
            failing,
        )
    return wanted


def record_session(
    session: Session,
    who: Principal,
    *,
    activity: Any,
    occurred_on: Any,
    lines: Any,
    idempotency_key: Any,
    note: Any = "",
    now: datetime | None = None,
) -> AwardView:
    """A coordinator records a whole session's attendance: ``lines`` of
    ``{"member_email", "quantity"}``. All or nothing: if any line fails, LinesRefused lists
    every failing line (1-based ``line``) and nothing is written; otherwise ONE balanced
    entry posts every member's credits (or, if any line is above the four-eyes threshold,
    the whole sheet waits for an officer)."""
    coordinator_id = require_role(who, Role.COORDINATOR)
    problems = Problems()
    request = parse_request(
        problems, activity=activity, occurred_on=occurred_on, note=note, key=idempotency_key
    )
    if not isinstance(lines, list) or not lines:
        problems.add("lines", T("list at least one member and quantity"))
    elif len(lines) > MAX_SHEET_LINES:
        problems.add("lines", T("at most %(count)s lines in one sheet", count=MAX_SHEET_LINES))
    problems.raise_if_any()
    wanted = _sheet_lines(lines)

    opened = open_award(
        session,
        kind=SESSION,
        owner_id=coordinator_id,
        request=request,
        lines=[[e, str(q)] for _, e, q in wanted],
        now=now,
    )
    if not isinstance(opened, Opened):
        return opened
    act = opened.activity
    assert act.id is not None
    require_coordinates(session, coordinator_id, act)
    members = eligible_members(session, coordinator_id, act.id)
    good: list[Line] = []
    failing: list[dict[str, Any]] = []
    line_of: dict[int, tuple[int, str]] = {}  # person id -> (line number, email)
    for index, email, amount in wanted:
        person = members.get(email)
        problem: CreditsError | None = None
        if person is None:
            problem = UnknownMember(
                T(
                    "there is no member %(email)s in your groups that do %(activity)s",
                    email=email,
                    activity=act.name,
                )
            )
        elif person.id == coordinator_id:
            problem = SelfAward(T("you cannot award credits to yourself"))
        else:
            try:
                credits = credits_for(amount, act.unit, act.credits_per_unit)
            except InvalidQuantity as exc:
                problem = exc
            else:
                good.append(Line(person, amount, credits))
                line_of[person.id] = (index, email)
        if problem is not None:
            failing.append(cap_line(index, email, problem))
    if failing:
        # Report the cap problems of the other lines too, so that one correction fixes the
        # whole sheet (advice only: nothing is posted either way).
        check = limits.check(session, act, request.occurred_on, asks(good), lock=False)
        for person_id, cap_problem in check.caps.items():
            failing.append(cap_line(*line_of[person_id], cap_problem))
        raise LinesRefused(
            Tn(
                "%(num)s line cannot be awarded; nothing was posted",
                "%(num)s lines cannot be awarded; nothing was posted",
                len(failing),
            ),
            sorted(failing, key=lambda x: x["line"]),
        )
    threshold = four_eyes_threshold(session)
    return create(
        session,
        who,
        kind=SESSION,
        opened=opened,
        lines=good,
        needs_officer=any(x.credits > threshold for x in good),
    )


def file_claim(
    session: Session,
    who: Principal,
    *,
    activity: Any,
    quantity: Any,
    occurred_on: Any,
    idempotency_key: Any,
    note: Any = "",
    now: datetime | None = None,
) -> AwardView:
    """A member claims a session they did, for an activity of one of their groups. It waits
    (``pending``) for a coordinator of such a group, or an officer. A claim that could not
    be paid now (cap or budget already used up) is refused at once; the limits are checked
    again, under lock, when it is approved."""
    member_id = require_role(who, Role.MEMBER)
    problems = Problems()
    request = parse_request(
        problems, activity=activity, occurred_on=occurred_on, note=note, key=idempotency_key
    )
    amount = parse_amount(problems, quantity)
    problems.raise_if_any()

    opened = open_award(
        session,
        kind=CLAIM,
        owner_id=member_id,
        request=request,
        lines=[[member_id, str(amount)]],
        now=now,
    )
    if not isinstance(opened, Opened):
        return opened
    act = opened.activity
    assert act.id is not None
    if act.id not in member_activity_ids(session, member_id):
        raise NotInGroup(
            T(
                "you are not in a group that does %(activity)s: ask the council to add you to one",
                activity=act.name,
            ),
            errors={"activity": [T("not an activity of your groups")]},
        )
    credits = credits_for(amount, act.unit, act.credits_per_unit)
    person = session.get(Person, member_id)
    assert person is not None and person.id is not None
    line = Line(PersonRef(person.id, person.name, person.email), amount, credits)
    limits.check(session, act, request.occurred_on, asks([line]), lock=False).raise_first()
    award = Award(
        kind=CLAIM,
        state=PENDING,
        activity_id=act.id,
        occurred_on=request.occurred_on,
        unit=act.unit,
        credits_per_unit=act.credits_per_unit,
        total_credits=credits,
        line_count=1,
        note=request.note,
        idempotency_key=opened.key,
        request_hash=opened.request_hash,
        needs_officer=credits > four_eyes_threshold(session),
        created_by_person_id=member_id,
        created_by=who.actor,
        created_at=utcnow(),
    )
    return insert_award(session, award, [line])
