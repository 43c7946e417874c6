"""Six months of history for `credits demo`, so a newcomer's first look shows something real.

The history lives in the six London months ending two months before the seeding month
(M-7..M-2): snow days, speed-watch weeks and Good Gym runs recorded by the demo coordinator;
vouchers spent at the two demo shops in full, in part, one accepted offline, one redemption
reversed by an officer, one cancelled and three left to expire; each month closed on the 1st
of the next (statements and snapshots exist), and the shops settled for every month that
took credits (bank details entered by the officer and approved by a second one, runs started
by the officer and approved by the second). The previous month (M-1) and the current month
hold none of it, so closing M-1 and reading the current month behave as on a fresh scheme.

Every step goes through the real use cases with the step's historical time injected as
``now``, so entries, statements and audit records carry the history's times, and `credits
verify` holds. What the contract relies on is kept:

- every history member (the contract's Ann, Bola and Chen, and Dami, Ewa and Inês) spends
  every credit the history gave them by the end of M-3, and M-2 earns nothing, so the credits
  outstanding when M-1 opens are zero, as on a fresh scheme, and the contract members'
  balances are what the rest of the demo makes;
- every redemption falls in M-7..M-3, all settled by M-3's run (approved in M-2), so the
  shops' unpaid balances end at zero, as before;
- every history voucher ends spent, cancelled or expired: none is left open.

Seeded once, in one transaction: when the marker award (the first snow day's sheet) exists,
or any month is already closed, nothing is done.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from credits import ledger
from credits.accounts import Person, Principal, Role, create_person
from credits.db import utcnow
from credits.demo import DEMO_ACTOR, DEMO_DOMAIN
from credits.earning import awards, groups
from credits.earning.demo import DEMO_ACTIVITIES, DEMO_GROUP
from credits.earning.models import T_AWARD, T_GROUP
from credits.ledger import LONDON, Month
from credits.redemption.manage import reverse_redemption
from credits.redemption.service import RedeemRequest, TerminalInfo, redeem
from credits.services import Services
from credits.settlement import payees
from credits.settlement.runs import Policy, approve_run, create_run
from credits.shops import Shop, Terminal
from credits.statements import rate_for, set_rate
from credits.statements.close import close_month
from credits.vouchers.runtime import runtime
from credits.vouchers.service import (
    cancel_voucher,
    code_for,
    expire_one,
    get_voucher,
    issue_voucher,
)

#: The history's first snow-day sheet: its award's idempotency key marks a seeded history.
MARKER = "demo-history-0-snow"
#: The council's reimbursement rate for the history (pence per credit).
RATE_PENCE = 50
#: The history's members beside the contract's three (they too spend all they earned).
EXTRA_MEMBERS = (
    ("Dami Mensah", "dami"),
    ("Ewa Nowak", "ewa"),
    ("Inês Ferreira", "ines"),
)
SECOND_OFFICER = ("Femi Finance", "finance")
CONTRACT = ("ann", "bola", "chen")
#: Quantities per month: (activity, day of month, {member: quantity}, note).
EARNING: tuple[tuple[str, int, dict[str, str], str], ...] = (
    (
        "snow-clearing",
        4,
        {"ann": "3", "bola": "2", "chen": "2", "dami": "4", "ewa": "3", "ines": "2"},
        "Snow day: pavements, bus stops and school steps on Acre Lane",
    ),
    (
        "speed-watch",
        11,
        {"ann": "2", "bola": "2", "dami": "1", "ewa": "2"},
        "Speed-watch week on Brixton Hill: morning and evening shifts",
    ),
    (
        "good-gym-run",
        18,
        {"ann": "1", "chen": "2", "dami": "1", "ines": "1"},
        "Good Gym run: shopping carried home, a garden cleared for a neighbour",
    ),
)
#: The shop's bank details (valid UK test accounts from Vocalink's modulus-checking cases).
PAYEES = (
    {"legal_name": "Brixton Bakery Ltd", "sort_code": "08-99-99", "account_number": "66374958"},
    {"legal_name": "Acre Lane Hardware", "iban": "GB89 NWBK 9386 1107 8060 39"},
)


@dataclass(frozen=True)
class Spend:
    """One voucher of the history: who, how much, and what becomes of it (``full``,
    ``part``, ``offline``, ``reversed``, ``cancelled``, ``expired``), at which shop."""

    member: str
    amount: int
    fate: str
    shop: int = 0
    paid: int | None = None


#: Vouchers per history month (index 0 = M-7). Month 4 (M-3) also spends whatever each
#: member has left; month 5 (M-2) earns and redeems nothing (see the module docstring).
SPENDING: tuple[tuple[Spend, ...], ...] = (
    (
        Spend("ann", 30, "full", 0),
        Spend("bola", 40, "part", 1, paid=25),
        Spend("dami", 20, "expired"),
    ),
    (
        # First in its month: its expiry returns the credits before M-3's "spend the rest".
        Spend("ewa", 25, "expired"),
        Spend("chen", 30, "full", 1),
        Spend("ewa", 15, "offline", 0),
        Spend("ann", 30, "part", 0, paid=20),
        Spend("ines", 15, "expired"),
    ),
    (
        Spend("bola", 30, "reversed", 0),
        Spend("dami", 30, "full", 1),
        Spend("chen", 20, "cancelled"),
    ),
    (
        Spend("ann", 40, "full", 1),
        Spend("ewa", 20, "part", 1, paid=12),
        Spend("ines", 25, "full", 0),
    ),
    (
        Spend("dami", 40, "full", 0),
        Spend("ines", 20, "part", 1, paid=15),
    ),
    (),
)


def london(day: date, hour: int, minute: int = 0) -> datetime:
    """A London wall-clock time on ``day``, in UTC."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=LONDON).astimezone(UTC)


def history_months(now: datetime) -> list[Month]:
    """The six months of the history: M-7..M-2 relative to ``now``'s London month."""
    month = Month.containing(now).previous().previous()
    months = [month]
    for _ in range(5):
        months.insert(0, months[0].previous())
    return months


@dataclass
class _Step:
    at: datetime
    order: int
    run: Callable[[Session, datetime], None]


@dataclass
class _World:
    """The people, shops and vouchers the steps act on, and each member's history credits."""

    services: Services
    people: dict[str, Person]
    officer: Principal
    second: Principal
    coordinator: Principal
    terminals: list[TerminalInfo]
    vouchers: dict[str, str] = field(default_factory=dict)
    redemptions: dict[str, str] = field(default_factory=dict)
    left: dict[str, int] = field(default_factory=dict)


def already_seeded(session: Session) -> bool:
    """Whether the history is there (or the scheme has a life of its own: a closed month)."""
    marker = session.execute(
        select(T_AWARD.c.id).where(T_AWARD.c.idempotency_key.like(f"%:{MARKER}"))
    ).first()
    return marker is not None or bool(ledger.closed_months(session))


def seed_history(
    services: Services,
    *,
    officer_email: str,
    coordinator_email: str,
    shops: list[dict[str, Any]],
    now: datetime | None = None,
) -> bool:
    """Seed the history once (module docstring); True if it was seeded by this call."""
    now = now or utcnow()
    with services.db.read() as s:
        if already_seeded(s):
            return False
    services.db.run(
        lambda s: _seed(
            s,
            services,
            officer_email=officer_email,
            coordinator_email=coordinator_email,
            shops=shops,
            now=now,
        )
    )
    return True


def _person(session: Session, email: str) -> Person:
    return session.execute(select(Person).where(Person.email == email)).scalar_one()  # type: ignore[arg-type]


def _principal(person: Person, role: Role) -> Principal:
    return Principal(role=role, name=person.name, person_id=person.id, via="demo")


def _seed(
    session: Session,
    services: Services,
    *,
    officer_email: str,
    coordinator_email: str,
    shops: list[dict[str, Any]],
    now: datetime,
) -> None:
    months = history_months(now)
    officer_person = _person(session, officer_email)
    officer = _principal(officer_person, Role.OFFICER)
    people = {
        p.email.split("@")[0]: p
        for p in session.execute(
            select(Person).where(Person.email.like(f"%@{DEMO_DOMAIN}"))  # type: ignore[attr-defined]
        ).scalars()
    }
    group_id = session.execute(select(T_GROUP.c.id).where(T_GROUP.c.name == DEMO_GROUP)).scalar()
    for name, local in (*EXTRA_MEMBERS, SECOND_OFFICER):
        if local not in people:
            role = Role.OFFICER if (name, local) == SECOND_OFFICER else Role.MEMBER
            people[local] = create_person(
                session,
                name=name,
                email=f"{local}@{DEMO_DOMAIN}",
                roles=(role,),
                granted_by=DEMO_ACTOR,
            )
        if (name, local) != SECOND_OFFICER:
            groups.add_member(session, officer, group_id, f"{local}@{DEMO_DOMAIN}")
    terminals = []
    for shop in shops:
        shop_row = session.get(Shop, shop["id"])
        terminal_row = session.get(Terminal, shop["terminal_id"])
        assert shop_row is not None and terminal_row is not None
        assert shop_row.ledger_account_id is not None
        principal = Principal(
            role=Role.TERMINAL,
            name=shop["name"],
            terminal_id=shop["terminal_id"],
            scope_ref=f"shop:{shop['id']}",
            via="demo",
        )
        terminals.append(
            TerminalInfo(
                id=shop["terminal_id"],
                name=shop["name"],
                shop_id=shop["id"],
                shop_name=shop["name"],
                shop_account_id=shop_row.ledger_account_id,
                floor_limit=terminal_row.floor_limit,
                actor=principal.actor,
            )
        )
    world = _World(
        services=services,
        people=people,
        officer=officer,
        second=_principal(people[SECOND_OFFICER[1]], Role.OFFICER),
        coordinator=_principal(_person(session, coordinator_email), Role.COORDINATOR),
        terminals=terminals,
        left={local: 0 for local in (*CONTRACT, *(x[1] for x in EXTRA_MEMBERS))},
    )
    steps = _plan(world, months, shops)
    for step in sorted(steps, key=lambda x: (x.at, x.order)):
        step.run(session, step.at)
    for local, left in world.left.items():
        assert left == 0, (local, left)


def _plan(world: _World, months: list[Month], shops: list[dict[str, Any]]) -> list[_Step]:
    """Every step of the history, each at its time (sorted by the caller)."""
    steps: list[_Step] = []

    def at(when: datetime, run: Callable[[Session, datetime], None]) -> None:
        steps.append(_Step(when, len(steps), run))

    first = date(months[0].year, months[0].month, 1)
    at(london(first, 9), lambda s, t: _setup_rate_and_payees(world, s, t, months[0], shops))
    for i, month in enumerate(months):
        day1 = date(month.year, month.month, 1)
        # M-2 earns nothing: what it earned could not be spent and settled before M-1.
        for activity, day, quantities, note in EARNING if i < 5 else ():
            lines = dict(quantities)
            on = day1.replace(day=day)
            step = functools.partial(
                _earn, world, activity=activity, day=on, quantities=lines, note=note,
                key=f"demo-history-{i}-{activity.split('-')[0]}",
            )  # fmt: skip
            at(london(on, 18), lambda s, t, step=step: step(s, t))
        for j, spend in enumerate(SPENDING[i]):
            _plan_spend(world, at, day1, i, j, spend)
        if i == 4:
            at(london(day1.replace(day=25), 10), lambda s, t, i=i: _spend_the_rest(world, s, t, i))
        nxt = month.next()
        next1 = date(nxt.year, nxt.month, 1)
        at(london(next1, 7), lambda s, t, m=month: _close(world, s, t, m))
        if i < 5:
            at(london(next1.replace(day=5), 11), lambda s, t, m=month: _settle(world, s, t, m))
    return steps


def _earn(
    world: _World,
    s: Session,
    now: datetime,
    *,
    activity: str,
    day: date,
    quantities: dict[str, str],
    note: str,
    key: str,
) -> None:
    awards.record_session(
        s,
        world.coordinator,
        activity=activity,
        occurred_on=day.isoformat(),
        idempotency_key=key,
        note=note,
        lines=[
            {"member_email": world.people[m].email, "quantity": q} for m, q in quantities.items()
        ],
        now=now,
    )

    rate = next(int(a["credits_per_unit"]) for a in DEMO_ACTIVITIES if a["slug"] == activity)
    for member, quantity in quantities.items():
        world.left[member] += int(quantity) * rate


def _plan_spend(
    world: _World,
    at: Callable[[datetime, Callable[[Session, datetime], None]], None],
    day1: date,
    i: int,
    j: int,
    spend: Spend,
) -> None:
    name = f"{i}-{j}"
    issued = london(day1.replace(day=20 + j), 10)
    at(issued, lambda s, t: _issue(world, s, t, name, spend))
    if spend.fate in ("full", "part", "reversed"):
        at(issued + timedelta(days=1, hours=2), lambda s, t: _redeem(world, s, t, name, spend))
    if spend.fate == "offline":
        # Accepted with no signal in the afternoon; the till sent it when the line came back.
        at(
            issued + timedelta(days=1, hours=8),
            lambda s, t: _redeem(world, s, t, name, spend, offline=t - timedelta(hours=5)),
        )
    if spend.fate == "reversed":
        at(issued + timedelta(days=3), lambda s, t: _reverse(world, s, t, name, spend))
    if spend.fate == "cancelled":
        at(issued + timedelta(days=2), lambda s, t: _cancel(world, s, t, name, spend))
    if spend.fate == "expired":
        expiry = world.services.settings.voucher_expiry_days
        at(
            issued + timedelta(days=expiry, hours=3),
            lambda s, t: _expire(world, s, t, name, spend),
        )


def _issue(world: _World, s: Session, now: datetime, name: str, spend: Spend) -> None:
    assert world.left[spend.member] >= spend.amount, (name, spend, world.left)
    rt = runtime(world.services.settings)
    person = world.people[spend.member]
    assert person.id is not None
    voucher, _ = issue_voucher(
        s,
        keyring=rt.keyring,
        policy=rt.policy,
        person_id=person.id,
        amount=spend.amount,
        client_key=f"demo-history-{name}",
        actor=DEMO_ACTOR,
        now=now,
    )
    world.vouchers[name] = voucher.id
    world.left[spend.member] -= spend.amount


def _redeem(
    world: _World,
    s: Session,
    now: datetime,
    name: str,
    spend: Spend,
    *,
    offline: datetime | None = None,
) -> None:
    rt = runtime(world.services.settings)
    code = code_for(get_voucher(s, world.vouchers[name]), rt.keyring)
    result = redeem(
        s,
        world.terminals[spend.shop],
        RedeemRequest(
            code=code,
            amount=spend.paid,
            client_key=f"demo-history-{name}",
            offline_accepted_at=offline,
        ),
        keyring=rt.keyring,
        now=now,
    )
    assert result.refusal is None and result.body is not None, result
    world.redemptions[name] = result.body["id"]
    if spend.paid is not None:
        world.left[spend.member] += spend.amount - spend.paid


def _reverse(world: _World, s: Session, now: datetime, name: str, spend: Spend) -> None:
    reverse_redemption(
        s,
        world.officer,
        world.redemptions[name],
        reason="The till charged this voucher twice; the shop refunded it at the counter",
        now=now,
    )
    world.left[spend.member] += spend.amount


def _cancel(world: _World, s: Session, now: datetime, name: str, spend: Spend) -> None:
    person = world.people[spend.member]
    cancel_voucher(
        s,
        world.vouchers[name],
        actor=_principal(person, Role.MEMBER).actor,
        person_id=person.id,
        now=now,
    )
    world.left[spend.member] += spend.amount


def _expire(world: _World, s: Session, now: datetime, name: str, spend: Spend) -> None:
    expired = expire_one(s, world.vouchers[name], actor="system:expire-vouchers", now=now)
    assert expired is not None, name
    world.left[spend.member] += spend.amount


def _spend_the_rest(world: _World, s: Session, now: datetime, i: int) -> None:
    """Every history member spends whatever the history left them, one voucher each, in full
    at alternating shops (so both shops are owed more than the minimum payment)."""
    for j, member in enumerate(world.left):
        amount = world.left[member]
        if amount <= 0:
            continue
        spend = Spend(member, amount, "full", j % 2)
        name = f"{i}-rest-{member}"
        _issue(world, s, now + timedelta(minutes=j), name, spend)
        _redeem(world, s, now + timedelta(hours=2, minutes=j), name, spend)


def _setup_rate_and_payees(
    world: _World, s: Session, now: datetime, first: Month, shops: list[dict[str, Any]]
) -> None:
    if rate_for(s, first) is None:
        set_rate(s, world.officer, RATE_PENCE, effective_from=first)
    for shop, details in zip(shops, PAYEES, strict=True):
        if payees.active_payee(s, shop["id"]) is not None:
            continue
        change = payees.request_change(
            s,
            world.officer,
            shop["id"],
            reason="The shop's signed partner form",
            now=now,
            **details,
        )
        payees.approve_change(s, world.second, change.id, now=now + timedelta(hours=2))


def _close(world: _World, s: Session, now: datetime, month: Month) -> None:
    close_month(s, world.officer, month, now=now)


def _settle(world: _World, s: Session, now: datetime, month: Month) -> None:
    """Start the month's settlement run (the officer) and approve it (the second officer)."""
    policy = Policy.from_settings(world.services.settings)
    run = create_run(
        s,
        world.officer,
        month=str(month),
        idempotency_key=f"demo-history-{month}",
        policy=policy,
        now=now,
    )
    approve_run(s, world.second, run.id, now=now + timedelta(hours=3))
