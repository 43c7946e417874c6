"""`credits demo`: a demo scheme to try the product and to load-test it.

Creates (or reuses) an officer, a coordinator and N members holding credits, with API tokens
usable at once, and prints the contract v1 JSON shape::

    {"officer": {"email", "password", "token"}, "coordinator": {...},
     "members": [{"email", "password", "token"}...], "shops": [{"id", "name", "terminal_token"}...]}

Running it again is safe: people and shops are reused, passwords reset to fresh random ones
and new tokens issued (people's old tokens stay valid; a terminal's old token is replaced),
and members are only topped up to the requested credits — nothing is posted twice.
Demo passwords use the cheap Argon2 profile so that a thousand load-test members seed in
seconds; they are throwaway credentials on ``@demo.example`` addresses.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from credits import audit, ledger
from credits.accounts import Person, Role, create_person, grant_role, issue_token
from credits.accounts.passwords import hash_password
from credits.services import Services
from credits.shops import Shop, add_terminal, create_shop, list_terminals, rotate_terminal_token

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


_SHOPS = (
    ("Brixton Bakery", "12 Atlantic Road, London SW9", "Till 1"),
    ("Acre Lane Hardware", "88 Acre Lane, London SW2", "Counter"),
)


def _shop(session: Session, name: str, address: str, terminal_name: str) -> dict[str, Any]:
    """A demo partner shop with one terminal; a fresh terminal token on every run."""
    existing = session.execute(select(Shop).where(Shop.name == name)).scalar_one_or_none()  # type: ignore[arg-type]
    by = audit.Actor.system("demo")
    shop = existing or create_shop(session, by, name=name, address=address)
    assert shop.id is not None
    terminal = next((t for t in list_terminals(session, shop.id) if t.name == terminal_name), None)
    if terminal is None:
        terminal, token = add_terminal(session, by, shop.id, name=terminal_name)
    else:
        assert terminal.id is not None
        token = rotate_terminal_token(session, by, terminal.id)
    return {"id": shop.id, "name": shop.name, "terminal_id": terminal.id, "terminal_token": token}


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
    if credits is None and people:
        _demo_voucher(services, people[0].email)

    result: dict[str, Any] = {
        "officer": officer.as_dict(),
        "coordinator": coordinator.as_dict(),
        "members": [p.as_dict() for p in people],
        "shops": [db.run(lambda s, spec=spec: _shop(s, *spec)) for spec in _SHOPS],
    }
    # Later capabilities add their part here (activities, shops and terminals...).
    return result


def _demo_voucher(services: Services, email: str) -> None:
    """Give the first demo member one open voucher, so the voucher pages have something to
    show (reused on later runs: the same idempotency key replays it)."""
    from credits.vouchers.runtime import runtime
    from credits.vouchers.service import issue_voucher

    rt = runtime(services.settings)

    def issue(s: Session) -> None:
        person = s.execute(select(Person).where(Person.email == email)).scalar_one()  # type: ignore[arg-type]
        assert person.id is not None
        issue_voucher(
            s,
            keyring=rt.keyring,
            policy=rt.policy,
            person_id=person.id,
            amount=20,
            client_key="demo-voucher",
            actor=DEMO_ACTOR,
        )

    services.db.run(issue)
