"""A worked month (October 2026) built through the real use cases, shared by the statement,
API, CLI, close and page tests. Every figure is worked out by hand in ``EXPECTED``.

September: Ann clears snow for 1 hour (+10) and on the 29th turns 4 into voucher V0.
October (clocks go back on Sunday the 25th):
- Sat 3: snow day, Ann 3 hours (+30), Bola 2 hours (+20).         snow-clearing 50
- Mon 5 - Sun 11: speed-watch week, Ann 2 sessions (+40), Bola 1 (+20). speed-watch 60
- Good Gym runs: Zed 2 runs on the 10th (+30), 1 run on the 17th (+15). good-gym-run 45
- Fri 2: V0 (4) spent in full at Brixton Bakery (shop A).
- Mon 12: Zed turns 15 into V4; it expires unused (vouchers last 5 days here) and the sweep
  on the 20th gives it back.
- Tue 20: Ann V1 (25) spent in part at Market Grocer (shop B): 18 taken, 7 change.
          Bola V2 (20) spent in full at shop A; Bola V3 (10) cancelled.
          Zed V5 (10) spent in full at shop B.
          Ann V6 (5) spent at shop A online, and accepted offline at shop B's till at 12:10
          before its sync: an offline double spend; the scheme pays shop B 5.
- Mon 26 (after the clock change): the council reverses V5's redemption (shop B gives back
  10, Zed gets 10 back).
- Wed 28: 2 of Zed's credits lapse (the inactivity policy's entry).
Rate: 40p a credit from 2026-09, 50p from 2026-10; 60p from 2026-11 set after the month.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from freezegun import freeze_time
from sqlalchemy import text

from credits import audit, ledger, shops
from credits.accounts import Role
from credits.ledger import Month
from credits.redemption.manage import reverse_redemption
from credits.statements import set_rate
from credits.vouchers.service import expire_due
from tests.integration.earning.conftest import as_principal, build_scheme

OCTOBER = Month(2026, 10)

#: Hand-computed figures of October 2026 (see the module docstring).
EXPECTED: dict[str, Any] = {
    "opening": {"members": 6, "vouchers": 4, "total": 10},
    "issued": 155,
    "by_activity": {"good-gym-run": 45, "snow-clearing": 50, "speed-watch": 60},
    # V0 4 + V2 20 + V6 5 at A; V1 18 + V5 10 at B.
    "redeemed": 57,
    "change_returned": 7,
    "expired": 2,
    "reversals": 10,
    "adjustments": 0,
    # Ann 6+30+40-25+7-5 = 53; Bola 40-20-10+10 = 20; Zed 45-15-10+15+10-2 = 43.
    "closing": {"members": 116, "vouchers": 0, "total": 116},
    "shop_a": {
        "redemptions": 3,
        "redeemed": 29,
        "change": 0,
        "reversed": 0,
        "exceptions": 0,
        "net": 29,
        "owed_pence": 1450,
    },
    "shop_b": {
        "redemptions": 2,
        "redeemed": 28,
        "change": 7,
        "reversed": 10,
        "exceptions": 5,
        "net": 23,
        "owed_pence": 1150,
    },
    "owed_pence": 2600,
    "vouchers": {
        "issued_count": 6,
        "issued": 85,
        "redeemed_count": 5,
        "cancelled_count": 2,
        "cancelled": 20,
        "expired_count": 1,
        "expired": 15,
    },
    # type: (opening, increases, decreases, closing)
    "trial_balance": {
        "issuance": (-10, 0, 155, -165),
        "member": (6, 155 + 7 + 10 + 15 + 10, 85 + 2, 116),
        "vouchers_outstanding": (4, 85 + 10, 4 + 25 + 20 + 10 + 5 + 10 + 15 + 10, 0),
        "shop": (0, 4 + 18 + 20 + 10 + 5 + 5, 10, 52),
        "expired": (0, 2, 0, 2),
        "adjustments": (0, 0, 5, -5),
        "settled": (0, 0, 0, 0),
    },
}


def london(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    from credits.ledger import LONDON

    return datetime(y, mo, d, h, mi, tzinfo=LONDON).astimezone(UTC)


@dataclass
class WorkedMonth:
    scheme: Any
    shop_a: dict[str, Any]
    shop_b: dict[str, Any]
    officer: Any
    redemptions: dict[str, str]


def make_terminal(db: Any, name: str, till: str) -> dict[str, Any]:
    def make(s: Any) -> dict[str, Any]:
        by = audit.Actor.system("test")
        shop = s.execute(text("SELECT id FROM shop WHERE name = :n"), {"n": name}).scalar()
        if shop is None:
            shop = shops.create_shop(s, by, name=name).id
        terminal, token = shops.add_terminal(
            s,
            by,
            shop,
            name=till,
            limits=shops.OfflineLimits(floor_limit=20, max_count=10, max_total=100),
        )
        return {
            "shop_id": shop,
            "terminal_id": terminal.id,
            "account": shops.shop_account_id(s, shop),
            "auth": {"Authorization": f"Bearer {token}"},
        }

    return db.run(make)


def _issue(client: Any, who: Any, amount: int, key: str) -> dict[str, Any]:
    resp = client.post(
        "/api/v1/vouchers", json={"amount": amount, "idempotency_key": key}, headers=who.auth
    )
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def _redeem(client: Any, till: dict[str, Any], code: str, key: str, **body: Any) -> Any:
    resp = client.post(
        "/api/v1/redemptions",
        json={"code": code, "idempotency_key": key, **body},
        headers=till["auth"],
    )
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def build_worked_month(db: Any, client: Any, make_person: Any) -> WorkedMonth:
    """Post the month described in the module docstring. Needs vouchers to last 5 days."""
    with freeze_time(london(2026, 9, 20, 12)):
        sch = build_scheme(db, make_person)
        shop_a = make_terminal(db, "Brixton Bakery", "Till 1")
        shop_b = make_terminal(db, "Market Grocer", "Counter")
        officer = sch.officer
        o = as_principal(officer)
        db.run(lambda s: set_rate(s, o, 40, effective_from=Month(2026, 9)))
        db.run(lambda s: set_rate(s, o, 50, effective_from=OCTOBER))
        sch.record(
            member_email=sch.ann.email,
            activity="snow-clearing",
            quantity="1",
            occurred_on="2026-09-19",
        )
    with freeze_time(london(2026, 9, 29, 10)):
        v0 = _issue(client, sch.ann, 4, "v0")
    with freeze_time(london(2026, 10, 2, 9)):
        r0 = _redeem(client, shop_a, v0["code"], "r0")
    with freeze_time(london(2026, 10, 12, 9)):
        sch.record(
            member_email=sch.ann.email,
            activity="snow-clearing",
            quantity="3",
            occurred_on="2026-10-03",
        )
        sch.record(
            member_email=sch.bola.email,
            activity="snow-clearing",
            quantity="2",
            occurred_on="2026-10-03",
        )
        sch.record(
            member_email=sch.ann.email,
            activity="speed-watch",
            quantity="2",
            occurred_on="2026-10-06",
        )
        sch.record(
            member_email=sch.bola.email,
            activity="speed-watch",
            quantity="1",
            occurred_on="2026-10-08",
        )
        sch.record(
            sch.other_coord,
            member_email=sch.zed.email,
            activity="good-gym-run",
            quantity="2",
            occurred_on="2026-10-10",
        )
        v4 = _issue(client, sch.zed, 15, "v4")
    with freeze_time(london(2026, 10, 18, 9)):
        sch.record(
            sch.other_coord,
            member_email=sch.zed.email,
            activity="good-gym-run",
            quantity="1",
            occurred_on="2026-10-17",
        )
    with freeze_time(london(2026, 10, 20, 12)):
        assert expire_due(db).expired == 1
        v1 = _issue(client, sch.ann, 25, "v1")
        r1 = _redeem(client, shop_b, v1["code"], "r1", amount=18)
        v2 = _issue(client, sch.bola, 20, "v2")
        r2 = _redeem(client, shop_a, v2["code"], "r2")
        v3 = _issue(client, sch.bola, 10, "v3")
        resp = client.post(f"/api/v1/vouchers/{v3['id']}/cancel", headers=sch.bola.auth)
        assert resp.status_code == 200, resp.get_json()
        v5 = _issue(client, sch.zed, 10, "v5")
        r5 = _redeem(client, shop_b, v5["code"], "r5")
        v6 = _issue(client, sch.ann, 5, "v6")
        r6 = _redeem(client, shop_a, v6["code"], "r6")
    with freeze_time(london(2026, 10, 20, 12, 30)):
        x6 = _redeem(
            client,
            shop_b,
            v6["code"],
            "x6",
            offline_accepted_at=london(2026, 10, 20, 12, 10).isoformat(),
        )
        assert x6["status"] == "exception"
    with freeze_time(london(2026, 10, 26, 10)):
        db.run(lambda s: reverse_redemption(s, o, r5["id"], reason="Till rang it up twice"))
    with freeze_time(london(2026, 10, 28, 10)):

        def lapse(s: Any) -> None:
            zed = sch.zed.account_id
            expired = ledger.scheme_account(s, ledger.EXPIRED).id
            ledger.post_entry(
                s,
                ledger.EntryRequest(
                    kind=ledger.EntryKind.EXPIRE,
                    legs=(ledger.Leg(zed, -2), ledger.Leg(expired, 2)),
                    memo="Credits lapsed (test)",
                    actor="system:inactivity",
                    idempotency_key="test-lapse-zed",
                ),
            )

        db.run(lapse)
    with freeze_time(london(2026, 11, 2, 10)):
        db.run(lambda s: set_rate(s, o, 60, effective_from=Month(2026, 11)))
    assert v4 and officer.role is Role.OFFICER
    return WorkedMonth(
        sch,
        shop_a,
        shop_b,
        officer,
        {
            "r0": r0["id"],
            "r1": r1["id"],
            "r2": r2["id"],
            "r5": r5["id"],
            "r6": r6["id"],
            "x6": x6["id"],
        },
    )


def close_months(db: Any, *months: str) -> None:
    """Close ``months`` in order with the month close (every check, then the snapshot), as
    the command line would: months close in order, so September goes before October."""
    from credits.statements.close import close_month

    actor = audit.Actor("cli:test")
    for text_ in months:
        m = Month.parse(text_)
        with freeze_time(london(2026, 11, 25, 12)):
            db.run(lambda s, m=m: close_month(s, actor, m, now=datetime.now(UTC)))
