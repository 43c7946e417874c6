"""`credits demo`: a demo scheme to try the product and to load-test it.

Creates (or reuses) an officer, a coordinator and N members holding credits, with API tokens
usable at once, and prints the contract v1 JSON shape::

    {"officer": {"email", "password", "token"}, "coordinator": {...},
     "members": [{"email", "password", "token"}...], "shops": [{"id", "name", "terminal_token"}...]}

Running it again is safe: people and shops are reused, members are only topped up to the
requested credits — nothing is posted twice — and the same passwords and tokens are printed
again: they are kept in ``<instance>/demo-credentials.json`` (mode 0600) and reused while they
still work (a password someone changed, or a token someone revoked, is replaced).
``reset_passwords=True`` (``credits demo --reset-passwords``) makes fresh ones and revokes the
old demo tokens.

The default scheme also gets six closed and settled months of history, once, before this
month's awards (credits.demo_history); it leaves the named members' balances, the shops'
unpaid balances and the previous and current months as they would be without it. The
load-test scheme (``--credits``) has none.

Demo passwords are hashed with the configured Argon2 profile, like everyone else's: a cheap
hash would make signing in as a demo address measurably faster, telling demo addresses apart
by timing. So that a thousand load-test members still seed in seconds, the load-test members
(beyond the three named ones) share one generated password, hashed once; the officer, the
coordinator and the named members each have their own.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from credits import audit, ledger
from credits.accounts import (
    Person,
    Role,
    create_person,
    grant_role,
    issue_token,
    revoke_token,
)
from credits.accounts.passwords import hash_password, verify_password
from credits.bearer_tokens import authenticate_token
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


#: Where the demo's credentials are kept between runs (in the instance folder, mode 0600).
CREDENTIALS_FILE = "demo-credentials.json"


class Credentials:
    """The demo's passwords and tokens from the last run, and what this run hands out.

    A saved password is reused when it still matches the person's stored hash (or the person
    is being created); a saved token when it still authenticates as that person and role (or
    that terminal). Everything else is made afresh. Hashing happens here, once per distinct
    password, with the configured profile.
    """

    def __init__(self, path: Path, profile: str, *, reset: bool) -> None:
        self.path = path
        self.profile = profile
        self.reset = reset
        saved: dict[str, Any] = {}
        if path.exists():
            try:
                saved = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                saved = {}
        self.saved_people: dict[str, dict[str, str]] = saved.get("people", {})
        self.saved_terminals: dict[str, str] = saved.get("terminals", {})
        self.saved_shared: str | None = saved.get("load_test_password")
        self.people: dict[str, dict[str, str]] = {}
        self.terminals: dict[str, str] = {}
        self.shared_password = (None if reset else self.saved_shared) or secrets.token_urlsafe(12)
        self._hashes: dict[str, str] = {}
        self._checked: dict[tuple[str, str], bool] = {}

    def hash_of(self, password: str) -> str:
        """One Argon2 hash per distinct password (load-test members share theirs)."""
        if password not in self._hashes:
            self._hashes[password] = hash_password(password, self.profile)
        return self._hashes[password]

    def matches(self, password_hash: str | None, password: str) -> bool:
        key = (password_hash or "", password)
        if key not in self._checked:
            self._checked[key] = verify_password(password_hash, password)
        return self._checked[key]

    def password_for(self, email: str, person: Person | None, *, shared: bool) -> str:
        """The password to hand out for ``email``: the saved one while it still works."""
        saved = None if self.reset else self.saved_people.get(email, {}).get("password")
        if shared:
            saved = self.shared_password
        if saved and (person is None or self.matches(person.password_hash, saved)):
            return saved
        return self.shared_password if shared else secrets.token_urlsafe(12)

    def saved_token(self, key: str, *, terminal: bool = False) -> str | None:
        if terminal:
            return self.saved_terminals.get(key)
        return self.saved_people.get(key, {}).get("token")

    def save(self) -> None:
        """Write what this run handed out (atomically, readable by the owner only)."""
        data = {
            "people": self.people,
            "terminals": self.terminals,
            "load_test_password": self.shared_password,
        }
        tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1)
        os.replace(tmp, self.path)


def _token_still_works(session: Session, secret: str | None, person_id: int, role: Role) -> bool:
    if not secret:
        return False
    who = authenticate_token(session, secret)
    return who is not None and who.person_id == person_id and who.role is role


def _person(
    session: Session,
    creds: Credentials,
    *,
    name: str,
    local: str,
    roles: tuple[Role, ...],
    token_role: Role,
    shared_password: bool = False,
) -> DemoPerson:
    email = f"{local}@{DEMO_DOMAIN}"
    person = session.execute(select(Person).where(Person.email == email)).scalar_one_or_none()  # type: ignore[arg-type]
    password = creds.password_for(email, person, shared=shared_password)
    if person is None:
        person = create_person(
            session, name=name, email=email, roles=roles, password=None, granted_by=DEMO_ACTOR
        )
    else:
        for role in roles:
            grant_role(session, person, role, granted_by=DEMO_ACTOR)
    if not creds.matches(person.password_hash, password):
        person.password_hash = creds.hash_of(password)
        creds._checked[(person.password_hash, password)] = True
        session.add(person)
    assert person.id is not None
    token = creds.saved_token(email)
    if creds.reset and token:
        found = authenticate_token(session, token)
        if found is not None and found.token_id is not None and found.person_id == person.id:
            revoke_token(session, found.token_id)
        token = None
    if not _token_still_works(session, token, person.id, token_role):
        _, token = issue_token(
            session, person_id=person.id, role=token_role, name="demo", created_by=DEMO_ACTOR
        )
    assert token is not None
    creds.people[email] = {"password": password, "token": token}
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


def _shop(
    session: Session, creds: Credentials, name: str, address: str, terminal_name: str
) -> dict[str, Any]:
    """A demo partner shop with one terminal, whose token is kept between runs while it
    still works (a fresh one with ``--reset-passwords``)."""
    existing = session.execute(select(Shop).where(Shop.name == name)).scalar_one_or_none()  # type: ignore[arg-type]
    by = audit.Actor.system("demo")
    shop = existing or create_shop(session, by, name=name, address=address)
    assert shop.id is not None
    terminal = next((t for t in list_terminals(session, shop.id) if t.name == terminal_name), None)
    if terminal is None:
        terminal, token = add_terminal(session, by, shop.id, name=terminal_name)
    else:
        assert terminal.id is not None
        token = creds.saved_token(str(terminal.id), terminal=True)
        found = authenticate_token(session, token) if token else None
        if creds.reset or found is None or found.token_id is None:
            token = rotate_terminal_token(session, by, terminal.id)
    assert token is not None
    creds.terminals[str(terminal.id)] = token
    return {"id": shop.id, "name": shop.name, "terminal_id": terminal.id, "terminal_token": token}


def seed(
    services: Services,
    *,
    members: int = 3,
    credits: int | None = None,
    reset_passwords: bool = False,
    with_history: bool = True,
) -> dict[str, Any]:
    """Seed (or refresh) the demo scheme and return the contract v1 JSON object. The same
    passwords and tokens as the last run, unless ``reset_passwords`` (module docstring).

    The default scheme (no ``credits``) also gets six months of history, once
    (credits.demo_history); the load-test scheme (``credits`` given) does not, nor does a
    scheme with fewer than the three named members."""
    if members < 0 or members > 100_000:
        raise ValueError("--members must be between 0 and 100000")
    if credits is not None and not 0 <= credits <= ledger.MAX_POSTING_CREDITS:
        raise ValueError("--credits must be between 0 and 1000000000")
    db = services.db
    settings = services.settings
    creds = Credentials(
        settings.instance_path / CREDENTIALS_FILE,
        settings.password_hash_profile,
        reset=reset_passwords,
    )
    db.run(lambda s: ledger.bootstrap(s, hot_slots=settings.hot_account_slots))
    officer = db.run(
        lambda s: _person(
            s,
            creds,
            name="Olu Officer",
            local="officer",
            roles=(Role.OFFICER,),
            token_role=Role.OFFICER,
        )
    )
    coordinator = db.run(
        lambda s: _person(
            s,
            creds,
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
                p = _person(
                    s,
                    creds,
                    name=name,
                    local=local,
                    roles=(Role.MEMBER,),
                    token_role=Role.MEMBER,
                    shared_password=i >= len(_NAMED_MEMBERS),
                )
                # The named members earn theirs through the earning use cases (below).
                if credits is not None or i >= len(_NAMED_MEMBERS):
                    _top_up(s, p.email, default_credits if credits is None else credits, memo)
                out.append(p)
            return out

        people.extend(db.run(batch))

    from credits.earning import demo as earning_demo

    named = [p.email for p in people[: len(_NAMED_MEMBERS)]]
    shops = [db.run(lambda s, spec=spec: _shop(s, creds, *spec)) for spec in _SHOPS]
    earning_demo.seed(
        db,
        officer_email=officer.email,
        coordinator_email=coordinator.email,
        member_emails=named,
        with_awards=False,
    )
    if with_history and credits is None and len(named) == len(_NAMED_MEMBERS):
        # Before this month's awards, so the history's entries come first in the journal,
        # as they would have in a scheme that had really run for six months.
        from credits.demo_history import seed_history

        seed_history(
            services, officer_email=officer.email, coordinator_email=coordinator.email, shops=shops
        )
    earning_demo.seed(
        db,
        officer_email=officer.email,
        coordinator_email=coordinator.email,
        member_emails=named,
        with_awards=credits is None,
    )
    if credits is None and people:
        _demo_voucher(services, people[0].email)

    result: dict[str, Any] = {
        "officer": officer.as_dict(),
        "coordinator": coordinator.as_dict(),
        "members": [p.as_dict() for p in people],
        "shops": shops,
    }
    creds.save()
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
