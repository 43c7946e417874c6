"""What an award looks like to its readers, and how it is loaded: :class:`AwardView`.

Every use case of the package answers with an :class:`AwardView` read back through
:func:`load_awards`, so a fresh award, a replayed one and one read later look the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from credits.accounts.models import Person
from credits.earning.errors import AwardNotFound
from credits.earning.groups import ActivityRef, PersonRef
from credits.earning.models import T_ACTIVITY, T_AWARD, T_LINE, Award
from credits.earning.quantities import describe, quantity_text

RECORD, SESSION, CLAIM = "record", "session", "claim"
PENDING, AWAITING_OFFICER, POSTED, REJECTED = "pending", "awaiting_officer", "posted", "rejected"
#: Most lines one session sheet may have.
MAX_SHEET_LINES = 500

T_PERSON = Person.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Step:
    """Who did something to an award, when, and how (``actor`` names the token/session)."""

    person: PersonRef | None
    actor: str
    at: datetime


@dataclass(frozen=True, slots=True)
class LineView:
    """One member's line of an award: their quantity (hundredths) and credits."""

    member: PersonRef
    quantity_centi: int
    credits: int

    @property
    def quantity(self) -> str:
        """The quantity as the API writes it (``"2.5"``)."""
        return quantity_text(self.quantity_centi)


@dataclass(frozen=True, slots=True)
class AwardView:
    """An award as the API and pages show it."""

    id: int
    kind: str
    state: str
    activity: ActivityRef
    unit: str
    credits_per_unit: int
    occurred_on: date
    total_credits: int
    lines: tuple[LineView, ...]
    note: str
    needs_officer: bool
    created: Step
    first_approval: Step | None
    second_approval: Step | None
    rejection: Step | None
    reject_reason: str | None
    entry_id: int | None
    posted_at: datetime | None
    replayed: bool = False

    @property
    def member(self) -> PersonRef | None:
        """The member, for an award to one member (a record or a claim)."""
        return self.lines[0].member if len(self.lines) == 1 else None

    @property
    def quantity(self) -> str | None:
        """The quantity of an award to one member; None for a session sheet."""
        return self.lines[0].quantity if len(self.lines) == 1 else None

    @property
    def credits(self) -> int:
        """All the award's credits (every line)."""
        return self.total_credits

    @property
    def approvers(self) -> list[PersonRef]:
        """Who approved it, in order (the recording coordinator counts for a record)."""
        return [
            s.person
            for s in (self.first_approval, self.second_approval)
            if s is not None and s.person is not None
        ]

    @property
    def describe_quantity(self) -> str:
        """The quantity in words (``4 hours``) for an award to one member, else ``""``."""
        return describe(self.lines[0].quantity_centi, self.unit) if len(self.lines) == 1 else ""


def load_awards(session: Session, award_ids: Sequence[int]) -> list[AwardView]:
    """Awards by id (in the order given), with their lines, people and activity."""
    if not award_ids:
        return []
    awards = {
        a.id: a for a in session.execute(select(Award).where(T_AWARD.c.id.in_(award_ids))).scalars()
    }
    activity_ids = {a.activity_id for a in awards.values()}
    activities = {
        int(i): ActivityRef(s, n)
        for i, s, n in session.execute(
            select(T_ACTIVITY.c.id, T_ACTIVITY.c.slug, T_ACTIVITY.c.name).where(
                T_ACTIVITY.c.id.in_(activity_ids)
            )
        )
    }
    line_rows = session.execute(
        select(T_LINE.c.award_id, T_LINE.c.person_id, T_LINE.c.quantity_centi, T_LINE.c.credits)
        .where(T_LINE.c.award_id.in_(list(awards)))
        .order_by(T_LINE.c.award_id, T_LINE.c.id)
    ).all()
    people_ids = {int(r[1]) for r in line_rows}
    for a in awards.values():
        people_ids.update(
            x
            for x in (
                a.created_by_person_id,
                a.first_approver_id,
                a.second_approver_id,
                a.rejected_by_id,
            )
            if x is not None
        )
    people = {
        int(i): PersonRef(int(i), n, e)
        for i, n, e in session.execute(
            select(T_PERSON.c.id, T_PERSON.c.name, T_PERSON.c.email).where(
                T_PERSON.c.id.in_(people_ids)
            )
        )
    }
    lines_by_award: dict[int, list[LineView]] = {}
    for award_id, person_id, centi, credits in line_rows:
        lines_by_award.setdefault(int(award_id), []).append(
            LineView(people[int(person_id)], int(centi), int(credits))
        )

    def step(person_id: int | None, actor: str | None, at: datetime | None) -> Step | None:
        if actor is None or at is None:
            return None
        return Step(people.get(person_id) if person_id is not None else None, actor, at)

    out = []
    for award_id in award_ids:
        a = awards.get(award_id)
        if a is None:
            continue
        assert a.id is not None
        created = step(a.created_by_person_id, a.created_by, a.created_at)
        assert created is not None
        out.append(
            AwardView(
                id=a.id,
                kind=a.kind,
                state=a.state,
                activity=activities[a.activity_id],
                unit=a.unit,
                credits_per_unit=a.credits_per_unit,
                occurred_on=a.occurred_on,
                total_credits=a.total_credits,
                lines=tuple(lines_by_award.get(a.id, [])),
                note=a.note,
                needs_officer=a.needs_officer,
                created=created,
                first_approval=step(a.first_approver_id, a.first_approved_by, a.first_approved_at),
                second_approval=step(
                    a.second_approver_id, a.second_approved_by, a.second_approved_at
                ),
                rejection=step(a.rejected_by_id, a.rejected_by, a.rejected_at),
                reject_reason=a.reject_reason,
                entry_id=a.entry_id,
                posted_at=a.posted_at,
            )
        )
    return out


def load_award(session: Session, award_id: int) -> AwardView:
    """One award; :class:`AwardNotFound` if there is none."""
    found = load_awards(session, [award_id])
    if not found:
        raise AwardNotFound(f"no award {award_id}")
    return found[0]
