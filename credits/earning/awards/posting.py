"""Writing awards and posting their credits: one balanced ledger entry per award.

:func:`create` writes a new award (posted now, or left for an officer); :func:`post_stored`
posts an award being approved. Either way the caps and budgets are checked under row locks
(limits.py) in the same unit of work as the entry, and ``award.entry_id`` links the two.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from credits import ledger
from credits.accounts import Principal
from credits.db import RetryTransaction, unique_violation, utcnow
from credits.earning import dates, limits
from credits.earning.awards.eligibility import (
    Line,
    LineRow,
    asks,
    refuse_new_over_limits,
    refuse_over_limits,
    stored_asks,
)
from credits.earning.awards.intake import Opened, replay
from credits.earning.awards.views import (
    AWAITING_OFFICER,
    CLAIM,
    POSTED,
    SESSION,
    T_PERSON,
    AwardView,
    load_award,
)
from credits.earning.errors import UnknownMember
from credits.earning.models import Activity, Award, AwardLine
from credits.earning.quantities import describe, to_centi
from credits.i18n import T


def memo(kind: str, activity: Activity, day: date, lines: Sequence[tuple[str, int, int]]) -> str:
    """What the entry says: ``Snow clearing on 20 Nov 2026: 4 hours (record)``."""
    when = f"{day.day} {day:%b %Y}"
    if kind == SESSION:
        total = sum(c for _, _, c in lines)
        text = f"{activity.name} on {when}: session sheet, {len(lines)} volunteers, {total} credits"
    else:
        _, centi, credits = lines[0]
        text = f"{activity.name} on {when}: {describe(centi, activity.unit)}, {credits} credits"
        text += " (claim)" if kind == CLAIM else ""
    return text[:500]


def post_entry(
    session: Session,
    who: Principal,
    *,
    kind: str,
    activity: Activity,
    day: date,
    award_key: str,
    lines: Sequence[LineRow],
) -> ledger.PostedEntry:
    """Post the award's one balanced entry: issuance −total, each member +credits.

    ``lines`` are (person id, quantity in hundredths, credits).
    """
    accounts = dict(
        session.execute(
            select(T_PERSON.c.id, T_PERSON.c.ledger_account_id).where(
                T_PERSON.c.id.in_([p for p, _, _ in lines])
            )
        ).all()
    )
    issuance = ledger.scheme_account(session, ledger.ISSUANCE)
    total = sum(c for _, _, c in lines)
    legs = [ledger.Leg(issuance.id, -total)]
    for person_id, _, credits in lines:
        account = accounts.get(person_id)
        if account is None:
            raise UnknownMember(f"person {person_id} has no member account")
        legs.append(ledger.Leg(int(account), credits))
    entry = ledger.post_entry(
        session,
        ledger.EntryRequest(
            kind=ledger.EntryKind.EARN,
            legs=tuple(legs),
            memo=memo(kind, activity, day, [("", c, cr) for _, c, cr in lines]),
            actor=who.actor,
            idempotency_key=f"earn:{award_key}",
            occurred_at=dates.entry_time(day),
        ),
    )
    if entry.replayed:
        # The entry exists but this transaction did not write its award: a concurrent
        # attempt with the same key committed first. Run again: it will replay that award.
        raise RetryTransaction(f"award {award_key} was posted concurrently")
    return entry


def insert_award(session: Session, award: Award, lines: Sequence[Line]) -> AwardView:
    """Write the award row and its lines; a concurrent twin under the same key makes the
    transaction run again (and then replay it)."""
    session.add(award)
    try:
        session.flush()
    except Exception as exc:
        if unique_violation(exc, "idempotency_key"):
            raise RetryTransaction("award created concurrently with the same key") from exc
        raise
    assert award.id is not None
    session.execute(
        insert(AwardLine),
        [
            {
                "award_id": award.id,
                "person_id": x.person.id,
                "quantity_centi": to_centi(x.quantity),
                "credits": x.credits,
            }
            for x in lines
        ],
    )
    return load_award(session, award.id)


def create(
    session: Session,
    who: Principal,
    *,
    kind: str,
    opened: Opened,
    lines: list[Line],
    needs_officer: bool,
) -> AwardView:
    """Write a new coordinator's award: post it now, or leave it for an officer (four eyes)."""
    activity = opened.activity
    day = opened.request.occurred_on
    assert who.person_id is not None and activity.id is not None
    now = utcnow()
    award = Award(
        kind=kind,
        state=AWAITING_OFFICER if needs_officer else POSTED,
        activity_id=activity.id,
        occurred_on=day,
        unit=activity.unit,
        credits_per_unit=activity.credits_per_unit,
        total_credits=sum(x.credits for x in lines),
        line_count=len(lines),
        note=opened.request.note,
        idempotency_key=opened.key,
        request_hash=opened.request_hash,
        needs_officer=needs_officer,
        created_by_person_id=who.person_id,
        created_by=who.actor,
        created_at=now,
        # Recording is the coordinator's own approval: an officer must be someone else.
        first_approver_id=who.person_id,
        first_approved_by=who.actor,
        first_approved_at=now,
    )
    if needs_officer:
        check = limits.check(session, activity, day, asks(lines), lock=False)
        refuse_new_over_limits(kind, check, lines)
        return insert_award(session, award, lines)
    check = limits.check(session, activity, day, asks(lines), lock=True)
    # Holding the locks, look again: a concurrent attempt with this key may have committed
    # while we waited, and must be replayed rather than counted against the cap twice.
    again = replay(session, opened.key, opened.request_hash)
    if again is not None:
        return again
    refuse_new_over_limits(kind, check, lines)
    limits.apply(session, activity, day, asks(lines))
    entry = post_entry(
        session,
        who,
        kind=kind,
        activity=activity,
        day=day,
        award_key=opened.key,
        lines=[(x.person.id, to_centi(x.quantity), x.credits) for x in lines],
    )
    award.entry_id = entry.id
    award.posted_at = now
    return insert_award(session, award, lines)


def post_stored(session: Session, who: Principal, award: Award, lines: list[LineRow]) -> None:
    """Post an award being approved: limits under lock, then its one entry."""
    assert award.id is not None
    activity = session.get(Activity, award.activity_id)
    assert activity is not None
    dates.ensure_open(session, award.occurred_on)
    line_asks = stored_asks(session, lines)
    check = limits.check(session, activity, award.occurred_on, line_asks, lock=True)
    if not check.ok and award.kind == SESSION and check.caps:
        emails = dict(
            session.execute(
                select(T_PERSON.c.id, T_PERSON.c.email).where(
                    T_PERSON.c.id.in_([p for p, _, _ in lines])
                )
            ).all()
        )
        line_of = {p: (i, emails.get(p, "")) for i, (p, _, _) in enumerate(lines, 1)}
        refuse_over_limits(
            award.kind, check, line_of, T("some lines would now exceed a cap; nothing was posted")
        )
    check.raise_first()
    limits.apply(session, activity, award.occurred_on, line_asks)
    entry = post_entry(
        session,
        who,
        kind=award.kind,
        activity=activity,
        day=award.occurred_on,
        award_key=award.idempotency_key,
        lines=lines,
    )
    award.state = POSTED
    award.entry_id = entry.id
    award.posted_at = utcnow()
