"""Fixtures for the earning tests: a small scheme a council would recognise.

``scheme`` builds, through the real use cases:

- activities ``snow-clearing`` (hour, 10 credits/hour, caps 100 a week / 300 a month,
  budget 1000 a month), ``speed-watch`` (session, 20 a session, caps 60 / 160, budget 500)
  and ``good-gym-run`` (run, 15 a run, caps 45 / 120, budget 400);
- group "Acre Lane snow team" (snow-clearing, speed-watch), coordinated by ``coord`` and
  ``coord2``, with members ``ann`` and ``bola``;
- group "Brixton Good Gym" (good-gym-run), coordinated by ``other_coord``, member ``zed``;
- two officers, a shop worker, and ``outsider`` (a member in no group).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from credits import earning, ledger
from credits.accounts import Principal, Role
from credits.earning import dates
from tests.conftest import Someone

SNOW = {
    "slug": "snow-clearing",
    "name": "Snow clearing",
    "description": "Clearing pavements with council shovels and grit",
    "unit": "hour",
    "credits_per_unit": 10,
    "week_cap_credits": 100,
    "month_cap_credits": 300,
    "monthly_budget_credits": 1000,
}
SPEED = {
    "slug": "speed-watch",
    "name": "Community speed watch",
    "unit": "session",
    "credits_per_unit": 20,
    "week_cap_credits": 60,
    "month_cap_credits": 160,
    "monthly_budget_credits": 500,
}
GYM = {
    "slug": "good-gym-run",
    "name": "Good Gym run",
    "unit": "run",
    "credits_per_unit": 15,
    "week_cap_credits": 45,
    "month_cap_credits": 120,
    "monthly_budget_credits": 400,
}


def as_principal(who: Someone, via: str = "test") -> Principal:
    return Principal(role=who.role, name=who.name, person_id=who.id, via=via)


@dataclass
class Scheme:
    db: Any
    officer: Someone
    officer2: Someone
    coord: Someone
    coord2: Someone
    other_coord: Someone
    ann: Someone
    bola: Someone
    zed: Someone
    outsider: Someone
    shop: Someone
    snow_team: int
    gym_group: int

    def p(self, who: Someone) -> Principal:
        return as_principal(who)

    def run(self, fn: Any, who: Someone, *args: Any, **kwargs: Any) -> Any:
        principal = as_principal(who)
        return self.db.run(lambda s: fn(s, principal, *args, **kwargs))

    def record(self, who: Someone | None = None, **kw: Any) -> earning.AwardView:
        body = {
            "member_email": self.ann.email,
            "activity": "snow-clearing",
            "quantity": "1",
            "occurred_on": yesterday().isoformat(),
            "idempotency_key": kw.pop("key", f"k-{next(_keys)}"),
            **kw,
        }
        return self.run(earning.record_award, who or self.coord, **body)

    def claim(self, who: Someone | None = None, **kw: Any) -> earning.AwardView:
        body = {
            "activity": "snow-clearing",
            "quantity": "2",
            "occurred_on": yesterday().isoformat(),
            "note": "Cleared the path by the school",
            "idempotency_key": kw.pop("key", f"c-{next(_keys)}"),
            **kw,
        }
        return self.run(earning.file_claim, who or self.ann, **body)

    def balance(self, who: Someone) -> int:
        assert who.account_id is not None
        with self.db.read() as s:
            return ledger.balance(s, who.account_id)

    def entries(self) -> int:
        with self.db.read() as s:
            return int(s.execute(text("SELECT count(*) FROM journal_entry")).scalar_one())

    def awards(self) -> int:
        with self.db.read() as s:
            return int(s.execute(text("SELECT count(*) FROM award")).scalar_one())

    def verify(self) -> list[str]:
        from credits.ledger import run_checks
        from credits.verify_checks import all_checks

        with self.db.read() as s:
            return [p for r in run_checks(s, all_checks()) for p in r.problems]


_keys = iter(range(1, 10**9))


def yesterday() -> date:
    return dates.london_today() - timedelta(days=1)


def safe_day() -> date:
    """A recent day such that the whole Monday-Sunday week is in the same London month and
    in the past: caps tests must not straddle a month boundary by accident."""
    day = dates.london_today() - timedelta(days=1)
    while True:
        monday, sunday = dates.week_bounds(day)
        if monday.month == sunday.month and sunday < dates.london_today():
            return monday
        day -= timedelta(days=1)


@pytest.fixture
def scheme(db, make_person) -> Scheme:
    return build_scheme(db, make_person)


def build_scheme(db, make_person) -> Scheme:
    """The scheme described in the module docstring, built through the use cases."""
    officer = make_person(Role.OFFICER, name="Olu Officer")
    officer2 = make_person(Role.OFFICER, name="Pat Officer")
    coord = make_person(Role.COORDINATOR, name="Cara Coordinator")
    coord2 = make_person(Role.COORDINATOR, name="Dev Coordinator")
    other_coord = make_person(Role.COORDINATOR, name="Gus Coordinator")
    ann = make_person(Role.MEMBER, name="Ann Okafor")
    bola = make_person(Role.MEMBER, name="Bola Adeyemi")
    zed = make_person(Role.MEMBER, name="Zed Zephyr")
    outsider = make_person(Role.MEMBER, name="Otto Outsider")
    shop = make_person(Role.SHOP_STAFF, name="Sam Shop")
    o = as_principal(officer)

    def build(s: Any) -> tuple[int, int]:
        for values in (SNOW, SPEED, GYM):
            earning.create_activity(s, o, dict(values))
        team = earning.create_group(
            s,
            o,
            {"name": "Acre Lane snow team", "activities": ["snow-clearing", "speed-watch"]},
        )
        gym = earning.create_group(
            s, o, {"name": "Brixton Good Gym", "activities": ["good-gym-run"]}
        )
        for c in (coord, coord2):
            earning.add_coordinator(s, o, team.id, c.email)
        earning.add_coordinator(s, o, gym.id, other_coord.email)
        for m in (ann, bola):
            earning.add_member(s, o, team.id, m.email)
        earning.add_member(s, o, gym.id, zed.email)
        return team.id, gym.id

    team_id, gym_id = db.run(build)
    return Scheme(
        db,
        officer,
        officer2,
        coord,
        coord2,
        other_coord,
        ann,
        bola,
        zed,
        outsider,
        shop,
        team_id,
        gym_id,
    )
