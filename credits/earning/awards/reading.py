"""Reading awards: one as its caller may see it, and the lists (a member's claims, the
approval queues, a coordinator's own log).

The lists are append-only and keep growing, so they page by cursor (``before``: an award
id), newest first — see credits/paging.py.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session

from credits.accounts import Principal, Role
from credits.earning.awards.eligibility import ensure_visible, stored_lines
from credits.earning.awards.views import (
    AWAITING_OFFICER,
    CLAIM,
    PENDING,
    AwardView,
    load_award,
    load_awards,
)
from credits.earning.errors import AwardNotFound
from credits.earning.models import (
    T_AWARD,
    T_GROUP,
    T_GROUP_ACTIVITY,
    T_GROUP_COORDINATOR,
    T_GROUP_MEMBER,
    T_LINE,
    Award,
)
from credits.earning.request_checks import require_role
from credits.paging import newest_first


def get_award(session: Session, who: Principal, award_id: Any) -> AwardView:
    """An award as the caller may see it: officers any; a coordinator one for their groups'
    people (or one they recorded); a member only their own claim."""
    if type(award_id) is not int:
        raise AwardNotFound(f"no award {award_id!r}")
    award = session.get(Award, award_id)
    if award is None:
        raise AwardNotFound(f"no award {award_id}")
    lines = stored_lines(session, award_id)
    if who.role is Role.MEMBER:
        if award.kind != CLAIM or award.created_by_person_id != who.person_id:
            raise AwardNotFound(f"no award {award_id}")
    else:
        require_role(who, Role.COORDINATOR, Role.OFFICER)
        ensure_visible(session, who, award, lines)
    return load_award(session, award_id)


def member_claims(
    session: Session, who: Principal, *, before: int | None = None, limit: int = 20
) -> list[AwardView]:
    """The member's own claims, newest first (``before``: an award id cursor)."""
    member_id = require_role(who, Role.MEMBER)
    query = select(T_AWARD.c.id).where(
        T_AWARD.c.kind == CLAIM, T_AWARD.c.created_by_person_id == member_id
    )
    ids = session.execute(newest_first(query, T_AWARD.c.id, before=before, limit=limit)).scalars()
    return load_awards(session, [int(i) for i in ids])


def _in_scope_of(coordinator_id: int) -> Any:
    """SQL condition: every line of the award is for a member of an active group the
    coordinator runs that does the award's activity (a claim has one line)."""
    gm, gc, ga, g = T_GROUP_MEMBER, T_GROUP_COORDINATOR, T_GROUP_ACTIVITY, T_GROUP
    return exists(
        select(gm.c.person_id)
        .join(gc, and_(gc.c.group_id == gm.c.group_id, gc.c.person_id == coordinator_id))
        .join(ga, and_(ga.c.group_id == gm.c.group_id, ga.c.activity_id == T_AWARD.c.activity_id))
        .join(g, and_(g.c.id == gm.c.group_id, g.c.active.is_(True)))
        .join(T_LINE, and_(T_LINE.c.award_id == T_AWARD.c.id, T_LINE.c.person_id == gm.c.person_id))
    )


def queue(
    session: Session,
    who: Principal,
    *,
    stage: str | None = None,
    before: int | None = None,
    limit: int = 50,
) -> list[AwardView]:
    """What waits for the caller's decision, newest first (``before``: an award id cursor).

    A coordinator: pending claims of their groups' members for their groups' activities.
    An officer: every pending claim (``stage="first"``) and every award awaiting an officer
    (``stage="officer"``); both when ``stage`` is None. Never the caller's own awards.
    """
    person_id = require_role(who, Role.COORDINATOR, Role.OFFICER)
    if who.role is Role.COORDINATOR or stage == "first":
        states = [PENDING]
    elif stage == "officer":
        states = [AWAITING_OFFICER]
    else:
        states = [PENDING, AWAITING_OFFICER]
    # Nobody decides on credits for themselves, so their own awards are not in their queue.
    query = select(T_AWARD.c.id).where(
        T_AWARD.c.state.in_(states),
        ~exists(
            select(T_LINE.c.id).where(
                T_LINE.c.award_id == T_AWARD.c.id, T_LINE.c.person_id == person_id
            )
        ),
    )
    if who.role is Role.COORDINATOR:
        query = query.where(_in_scope_of(person_id))
    ids = session.execute(newest_first(query, T_AWARD.c.id, before=before, limit=limit)).scalars()
    return load_awards(session, [int(i) for i in ids])


def recent_for_coordinator(session: Session, who: Principal, *, limit: int = 20) -> list[AwardView]:
    """Awards the coordinator recorded or approved, newest first (their own log)."""
    person_id = require_role(who, Role.COORDINATOR)
    query = select(T_AWARD.c.id).where(
        (T_AWARD.c.created_by_person_id == person_id)
        | (T_AWARD.c.first_approver_id == person_id)
        | (T_AWARD.c.rejected_by_id == person_id)
    )
    ids = session.execute(newest_first(query, T_AWARD.c.id, before=None, limit=limit)).scalars()
    return load_awards(session, [int(i) for i in ids])
