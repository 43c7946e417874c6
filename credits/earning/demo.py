"""Earning demo data for `credits demo` (called from credits/demo.py).

Creates the three activities of the scheme, a group run by the demo coordinator with the
named demo members, and — through the real use cases, so that each member's history shows
the activity and who approved it — their credits:

- a snow-day session sheet recorded by the coordinator three days ago: Ann 4 hours, Bola
  3 hours, Chen 2.5 hours of snow clearing (one entry);
- two speed-watch sessions recorded for Ann two days ago;
- a Good Gym run claimed by Chen yesterday and approved by the coordinator;
- one claim still waiting for the coordinator: Bola's speed-watch session yesterday.

Everything is idempotent: activities and the group are reused, and the awards are made
only once (if the snow-day sheet exists, nothing is awarded again).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from credits.accounts import Person, Principal, Role
from credits.db import Database
from credits.earning import activities, awards, dates, groups
from credits.earning.models import T_ACTIVITY, T_AWARD, T_GROUP

DEMO_ACTIVITIES: tuple[dict[str, Any], ...] = (
    {
        "slug": "snow-clearing",
        "name": "Snow clearing",
        "description": "Clearing pavements and steps with council shovels and grit.",
        "unit": "hour",
        "credits_per_unit": 10,
        "week_cap_credits": 120,
        "month_cap_credits": 300,
        "monthly_budget_credits": 5000,
    },
    {
        "slug": "speed-watch",
        "name": "Community speed watch",
        "description": "A shift with a council speed gun, reporting speeding drivers.",
        "unit": "session",
        "credits_per_unit": 20,
        "week_cap_credits": 60,
        "month_cap_credits": 160,
        "monthly_budget_credits": 2000,
    },
    {
        "slug": "good-gym-run",
        "name": "Good Gym run",
        "description": "A run that stops to do a good deed for a neighbour on the way.",
        "unit": "run",
        "credits_per_unit": 15,
        "week_cap_credits": 45,
        "month_cap_credits": 120,
        "monthly_budget_credits": 1500,
    },
)
DEMO_GROUP = "Acre Lane volunteers"


def _principal(person: Person, role: Role) -> Principal:
    return Principal(role=role, name=person.name, person_id=person.id, via="demo")


def _by_email(session: Session, email: str) -> Person | None:
    return session.execute(select(Person).where(Person.email == email)).scalar_one_or_none()  # type: ignore[arg-type]


def seed(
    db: Database,
    *,
    officer_email: str,
    coordinator_email: str,
    member_emails: list[str],
    with_awards: bool,
) -> None:
    """Create (or reuse) the demo activities and group; with ``with_awards``, earn the named
    members' credits through the earning use cases (once)."""

    def setup(s: Session) -> tuple[Person, Person, list[Person]]:
        officer = _by_email(s, officer_email)
        coordinator = _by_email(s, coordinator_email)
        assert officer is not None and coordinator is not None
        o = _principal(officer, Role.OFFICER)
        have = set(s.execute(select(T_ACTIVITY.c.slug)).scalars())
        for values in DEMO_ACTIVITIES:
            if values["slug"] not in have:
                activities.create_activity(s, o, dict(values))
        group_id = s.execute(select(T_GROUP.c.id).where(T_GROUP.c.name == DEMO_GROUP)).scalar()
        if group_id is None:
            group_id = groups.create_group(
                s,
                o,
                {
                    "name": DEMO_GROUP,
                    "description": "Snow clearing, speed watch and Good Gym runs around "
                    "Acre Lane and Brixton Hill.",
                    "activities": [a["slug"] for a in DEMO_ACTIVITIES],
                },
            ).id
        groups.add_coordinator(s, o, group_id, coordinator.email)
        members = []
        for email in member_emails:
            person = _by_email(s, email)
            assert person is not None
            groups.add_member(s, o, group_id, person.email)
            members.append(person)
        return officer, coordinator, members

    _, coordinator, members = db.run(setup)
    if not with_awards or not members:
        return
    coord = _principal(coordinator, Role.COORDINATOR)
    sheet_key = f"award:{coordinator.id}:demo-snow-day"
    with db.read() as s:
        if s.execute(select(T_AWARD.c.id).where(T_AWARD.c.idempotency_key == sheet_key)).first():
            return
    today = dates.london_today()
    day = {n: (today - timedelta(days=n)).isoformat() for n in (1, 2, 3)}
    hours = ["4", "3", "2.5"]
    db.run(
        lambda s: awards.record_session(
            s,
            coord,
            activity="snow-clearing",
            occurred_on=day[3],
            idempotency_key="demo-snow-day",
            note="Heavy snow overnight: pavements and school steps on Acre Lane",
            lines=[
                {"member_email": m.email, "quantity": q}
                for m, q in zip(members, hours, strict=False)
            ],
        )
    )
    ann = members[0]
    db.run(
        lambda s: awards.record_award(
            s,
            coord,
            member_email=ann.email,
            activity="speed-watch",
            quantity="2",
            occurred_on=day[2],
            idempotency_key="demo-ann-speed-watch",
            note="Brixton Hill, morning and evening shifts",
        )
    )
    if len(members) >= 3:
        chen = _principal(members[2], Role.MEMBER)
        claim = db.run(
            lambda s: awards.file_claim(
                s,
                chen,
                activity="good-gym-run",
                quantity="1",
                occurred_on=day[1],
                note="Ran to Mrs Ellis's and carried her shopping home",
                idempotency_key="demo-chen-run",
            )
        )
        db.run(lambda s: awards.approve(s, coord, claim.id, idempotency_key="demo-approve"))
    if len(members) >= 2:
        bola = _principal(members[1], Role.MEMBER)
        db.run(
            lambda s: awards.file_claim(
                s,
                bola,
                activity="speed-watch",
                quantity="1",
                occurred_on=day[1],
                note="Evening speed watch on Brixton Hill with Ann",
                idempotency_key="demo-bola-speed-watch",
            )
        )
