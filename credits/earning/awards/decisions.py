"""Deciding on an award: approving it (its first or second approval) or rejecting it.

The award's row is locked first (limits.py's lock order), so two decisions on one award
are serialised and the second sees the first's outcome.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from credits import audit
from credits.accounts import Principal, Role
from credits.db import utcnow
from credits.earning import limits
from credits.earning.activities import four_eyes_threshold
from credits.earning.awards.eligibility import (
    acts_for_all,
    ensure_visible,
    stored_asks,
    stored_lines,
)
from credits.earning.awards.posting import post_stored
from credits.earning.awards.views import (
    AWAITING_OFFICER,
    PENDING,
    POSTED,
    REJECTED,
    AwardView,
    load_award,
)
from credits.earning.errors import (
    AwardNotFound,
    AwardNotPending,
    NotYourGroup,
    SecondApproverRequired,
    SelfAward,
)
from credits.earning.models import T_AWARD, Activity, Award
from credits.earning.request_checks import (
    MAX_REASON_CHARS,
    Problems,
    check_client_key,
    require_role,
    text_field,
)
from credits.i18n import T


def _lock_award(session: Session, award_id: Any) -> Award:
    if type(award_id) is not int:
        raise AwardNotFound(f"no award {award_id!r}")
    row = session.execute(
        select(Award)
        .where(T_AWARD.c.id == award_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if row is None:
        raise AwardNotFound(f"no award {award_id}")
    return row


def _decided(session: Session, award: Award) -> AwardNotPending:
    """The refusal for deciding on an award someone already decided on: who and when."""
    assert award.id is not None
    view = load_award(session, award.id)
    step = (
        view.rejection if award.state == REJECTED else (view.second_approval or view.first_approval)
    )
    values: dict[str, Any] = {"award": str(award.id)}
    if step and step.person:
        values.update(name=step.person.name, when=step.at)
        text = (
            T("award %(award)s was already rejected by %(name)s, %(when)s", **values)
            if award.state == REJECTED
            else T(
                "award %(award)s was already approved and posted by %(name)s, %(when)s", **values
            )
        )
    else:
        text = (
            T("award %(award)s was already rejected", **values)
            if award.state == REJECTED
            else T("award %(award)s was already approved and posted", **values)
        )
    return AwardNotPending(text, state=award.state, award_id=award.id)


def approve(session: Session, who: Principal, award_id: Any, *, idempotency_key: Any) -> AwardView:
    """Approve an award: a pending claim (its first approval), or an award awaiting an officer
    (the second). See the package docstring for who may do which; the same person with the
    same key again gets the award back as it now is."""
    person_id = require_role(who, Role.COORDINATOR, Role.OFFICER)
    key = check_client_key(idempotency_key)
    award = _lock_award(session, award_id)
    assert award.id is not None
    lines = stored_lines(session, award.id)
    ensure_visible(session, who, award, lines)
    if (award.first_approver_id == person_id and award.first_approval_key == key) or (
        award.second_approver_id == person_id and award.second_approval_key == key
    ):
        return replace(load_award(session, award.id), replayed=True)
    if award.state in (POSTED, REJECTED):
        raise _decided(session, award)
    if any(p == person_id for p, _, _ in lines):
        raise SelfAward(T("you cannot approve credits for yourself"))
    now = utcnow()
    if award.state == PENDING:
        if who.role is Role.COORDINATOR and not acts_for_all(session, person_id, award, lines):
            raise NotYourGroup(T("this claim is not for one of your groups"))
        threshold = four_eyes_threshold(session)
        award.needs_officer = any(c > threshold for _, _, c in lines)
        award.first_approver_id = person_id
        award.first_approved_by = who.actor
        award.first_approved_at = now
        award.first_approval_key = key
        if award.needs_officer:
            activity = session.get(Activity, award.activity_id)
            assert activity is not None
            asks = stored_asks(session, lines)
            limits.check(session, activity, award.occurred_on, asks, lock=False).raise_first()
            award.state = AWAITING_OFFICER
        else:
            post_stored(session, who, award, lines)
    else:
        assert award.state == AWAITING_OFFICER
        if who.role is not Role.OFFICER:
            raise SecondApproverRequired(T("this award is waiting for an officer's approval"))
        if award.first_approver_id == person_id:
            raise SecondApproverRequired(
                T(
                    "you gave this award its first approval: a different officer must give the "
                    "second"
                )
            )
        award.second_approver_id = person_id
        award.second_approved_by = who.actor
        award.second_approved_at = now
        award.second_approval_key = key
        post_stored(session, who, award, lines)
    session.add(award)
    session.flush()
    audit.record(session, who, "award.approve", f"award:{award.id}")
    return load_award(session, award.id)


def reject(session: Session, who: Principal, award_id: Any, *, reason: Any) -> AwardView:
    """Reject a pending claim (its coordinator or an officer) or an award awaiting an officer
    (an officer), recording why. Nothing is posted. Rejecting again, by the same person,
    returns the award as it is."""
    person_id = require_role(who, Role.COORDINATOR, Role.OFFICER)
    problems = Problems()
    why = text_field(problems, "reason", reason, max_chars=MAX_REASON_CHARS)
    problems.raise_if_any()
    award = _lock_award(session, award_id)
    assert award.id is not None
    lines = stored_lines(session, award.id)
    ensure_visible(session, who, award, lines)
    if award.state == REJECTED and award.rejected_by_id == person_id:
        return replace(load_award(session, award.id), replayed=True)
    if award.state in (POSTED, REJECTED):
        raise _decided(session, award)
    if any(p == person_id for p, _, _ in lines):
        raise SelfAward(T("you cannot decide on credits for yourself"))
    if award.state == AWAITING_OFFICER and who.role is not Role.OFFICER:
        raise SecondApproverRequired(
            T("this award is waiting for an officer: only an officer decides")
        )
    if (
        award.state == PENDING
        and who.role is Role.COORDINATOR
        and not acts_for_all(session, person_id, award, lines)
    ):
        raise NotYourGroup(T("this claim is not for one of your groups"))
    award.state = REJECTED
    award.rejected_by_id = person_id
    award.rejected_by = who.actor
    award.rejected_at = utcnow()
    award.reject_reason = why
    session.add(award)
    session.flush()
    audit.record(session, who, "award.reject", f"award:{award.id}", reason=str(reason)[:200])
    return load_award(session, award.id)
