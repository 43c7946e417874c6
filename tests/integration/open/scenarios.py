"""A September snow day a council would recognise, for the privacy tests: nine volunteers
with names and emails nobody could mistake for a figure — seven cleared snow, two ran a
speed watch (nobody did both) — and one of them spent a voucher at the bakery. September is
then closed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from freezegun import freeze_time
from sqlalchemy import text

from credits import audit
from credits.accounts import Role
from credits.earning import add_member
from credits.ledger import Month
from credits.statements.close import close_month
from tests.integration.earning.conftest import as_principal, build_scheme

from ..statements.worked_month import london, make_terminal

SEPTEMBER = Month(2026, 9)
#: Names nobody could mistake for anything the public record would say of its own accord.
NAMES = [f"Quillon Marchbanks-Vey {c}" for c in "ABCDEFGHI"]


@dataclass
class SnowDay:
    scheme: Any
    volunteers: list[Any]
    shop: dict[str, Any]
    identifiers: set[str] = field(default_factory=set)


def snow_day(db: Any, client: Any, make_person: Any) -> SnowDay:
    """Build and close September 2026 (module docstring); collect every identifier of the
    people and vouchers in it."""
    with freeze_time(london(2026, 9, 20, 12)):
        sch = build_scheme(db, make_person)
        shop = make_terminal(db, "Brixton Bakery", "Till 1")
        volunteers = [make_person(Role.MEMBER, name=n) for n in NAMES]
        o = as_principal(sch.officer)
        db.run(lambda s: [add_member(s, o, sch.snow_team, v.email) for v in volunteers])
        for i, v in enumerate(volunteers):
            sch.record(
                member_email=v.email,
                activity="snow-clearing" if i < 7 else "speed-watch",
                quantity="2" if i < 7 else "1",
                occurred_on="2026-09-10",
            )
        resp = client.post(
            "/api/v1/vouchers",
            json={"amount": 12, "idempotency_key": "snow-day-voucher"},
            headers=volunteers[0].auth,
        )
        assert resp.status_code == 201, resp.get_json()
        voucher = resp.get_json()
        resp = client.post(
            "/api/v1/redemptions",
            json={"code": voucher["code"], "idempotency_key": "snow-day-bake"},
            headers=shop["auth"],
        )
        assert resp.status_code == 201, resp.get_json()
        redemption = resp.get_json()
    with freeze_time(london(2026, 10, 5, 9)):
        db.run(lambda s: close_month(s, audit.Actor("cli:test"), SEPTEMBER, now=datetime.now(UTC)))
    day = SnowDay(sch, volunteers, shop)
    with db.read() as s:
        people = s.execute(text("SELECT id, name, email FROM person")).all()
        references = s.execute(text("SELECT id, reference FROM voucher")).all()
    for _pid, name, email in people:
        day.identifiers |= {name, email, email.split("@")[0]}
    for vid, reference in references:
        day.identifiers |= {str(vid), reference, f"{reference[:4]}-{reference[4:]}"}
    day.identifiers |= {voucher["code"], redemption["id"], volunteers[0].token}
    return day
