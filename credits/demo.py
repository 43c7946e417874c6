"""`credits demo`: a demo scheme to try the product and to load-test it.

Creates (or reuses) an officer, a coordinator and N members holding credits, with API tokens
usable at once, and prints the contract v1 JSON shape::

    {"officer": {"email", "password", "token"}, "coordinator": {...},
     "members": [{"email", "password", "token"}...], "shops": [{"id", "name", "terminal_token"}...]}

Running it again is safe: people are reused, their passwords reset to fresh random ones and
new tokens issued (old tokens stay valid), and members are only topped up to the requested
credits — nothing is posted twice. Demo passwords use the cheap Argon2 profile so that a
thousand load-test members seed in seconds; they are throwaway credentials on
``@demo.example`` addresses.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from credits import ledger
from credits.accounts import Person, Role, create_person, grant_role, issue_token
from credits.accounts.passwords import hash_password
from credits.services import Services

DEMO_ACTOR = "system:demo"
DEMO_DOMAIN = "demo.example"
#: Batch size for seeding many members (one transaction per batch).
BATCH = 200

_NAMED_MEMBERS = (
    ("Ann Okafor", "ann", 120, "Snow clearing on Acre Lane, 4 hours"),
    ("Bola Adeyemi", "bola", 80, "Community speed watch, Brixton Hill, 2 shifts"),
    ("Chen Li", "chen", 45, "Good Gym run: groceries for a neighbour"),
)


@dataclass(frozen=True)
class DemoPerson:
    email: str
    password: str
    token: str

    def as_dict(self) -> dict[str, str]:
        return {"email": self.email, "password": self.password, "token": self.token}


def _person(
    session: Session, *, name: str, local: str, roles: tuple[Role, ...], token_role: Role
) -> DemoPerson:
    email = f"{local}@{DEMO_DOMAIN}"
    password = secrets.token_urlsafe(12)
    person = session.execute(select(Person).where(Person.email == email)).scalar_one_or_none()  # type: ignore[arg-type]
    if person is None:
        person = create_person(
            session,
            name=name,
            email=email,
            roles=roles,
            password=password,
            granted_by=DEMO_ACTOR,
            password_profile="fast",
        )
    else:
        person.password_hash = hash_password(password, "fast")
        session.add(person)
        for role in roles:
            grant_role(session, person, role, granted_by=DEMO_ACTOR)
    assert person.id is not None
    _, token = issue_token(
        session, person_id=person.id, role=token_role, name="demo", created_by=DEMO_ACTOR
    )
    return DemoPerson(email, password, token)


def _top_up(session: Session, person_email: str, target: int, memo: str) -> None:
    """Bring a demo member's balance up to ``target`` with one earn entry, if below it."""
    person = session.execute(select(Person).where(Person.email == person_email)).scalar_one()  # type: ignore[arg-type]
    assert person.ledger_account_id is not None
    have = ledger.balance(session, person.ledger_account_id)
    if have >= target:
        return
    issuance = ledger.scheme_account(session, ledger.ISSUANCE)
    ledger.post_entry(
        session,
        ledger.EntryRequest(
            kind=ledger.EntryKind.EARN,
            legs=(
                ledger.Leg(issuance.id, -(target - have)),
                ledger.Leg(person.ledger_account_id, target - have),
            ),
            memo=memo,
            actor=DEMO_ACTOR,
            idempotency_key=f"demo:topup:{person.id}:{have}:{target}",
        ),
    )


def seed(services: Services, *, members: int = 3, credits: int | None = None) -> dict[str, Any]:
    """Seed (or refresh) the demo scheme and return the contract v1 JSON object."""
    if members < 0 or members > 100_000:
        raise ValueError("--members must be between 0 and 100000")
    if credits is not None and not 0 <= credits <= ledger.MAX_POSTING_CREDITS:
        raise ValueError("--credits must be between 0 and 1000000000")
    db = services.db
    db.run(lambda s: ledger.bootstrap(s, hot_slots=services.settings.hot_account_slots))
    officer = db.run(
        lambda s: _person(
            s, name="Olu Officer", local="officer", roles=(Role.OFFICER,), token_role=Role.OFFICER
        )
    )
    coordinator = db.run(
        lambda s: _person(
            s,
            name="Cara Coordinator",
            local="coordinator",
            roles=(Role.COORDINATOR,),
            token_role=Role.COORDINATOR,
        )
    )
    people: list[DemoPerson] = []
    for start in range(0, members, BATCH):

        def batch(s: Session, start: int = start) -> list[DemoPerson]:
            out = []
            for i in range(start, min(start + BATCH, members)):
                if i < len(_NAMED_MEMBERS):
                    name, local, default_credits, memo = _NAMED_MEMBERS[i]
                else:
                    name, local, default_credits, memo = (
                        f"Load Test Member {i + 1}",
                        f"member{i + 1}",
                        100,
                        "Demo credits for load testing",
                    )
                p = _person(s, name=name, local=local, roles=(Role.MEMBER,), token_role=Role.MEMBER)
                # The named members earn theirs through the earning use cases (below).
                if credits is not None or i >= len(_NAMED_MEMBERS):
                    _top_up(s, p.email, default_credits if credits is None else credits, memo)
                out.append(p)
            return out

        people.extend(db.run(batch))

    from credits.earning import demo as earning_demo

    earning_demo.seed(
        db,
        officer_email=officer.email,
        coordinator_email=coordinator.email,
        member_emails=[p.email for p in people[: len(_NAMED_MEMBERS)]],
        with_awards=credits is None,
    )

    result: dict[str, Any] = {
        "officer": officer.as_dict(),
        "coordinator": coordinator.as_dict(),
        "members": [p.as_dict() for p in people],
        "shops": [],
    }
    # Later capabilities add their part here (activities, shops and terminals...).
    return result
