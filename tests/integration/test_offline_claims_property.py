"""The bound on offline claims as a property, and as a race.

Property (hypothesis): however many terminals of several shops send one voucher, in any order,
online or offline, with any acceptance time T, after spent-list fetches at any times, with the
member cancelling it or officers deciding held claims in between, the scheme pays the shops
at most the voucher's face value (its one redemption) plus at most one exception, bounded by
the floor limit; every entry balances; `credits verify` passes.

Races (real threads, PostgreSQL): terminals of many shops claiming one spent voucher at once
get at most one paying exception; one terminal claiming many at once does not pass its
monthly ceiling.
"""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import timedelta

import hypothesis.strategies as st
import pytest
from freezegun import freeze_time
from hypothesis import HealthCheck, given, settings
from sqlalchemy import text

from credits import audit, shops
from credits.accounts import Role
from credits.cli import main as cli
from credits.db import utcnow

from .ledger_helpers import all_ok, bal
from .test_ledger_races import run_threads
from .test_redemption import fetch_spent_list, issue, make_terminal, redeem

FLOOR = 20
_example = itertools.count()

step = st.tuples(
    st.sampled_from(["fetch", "online", "offline", "offline", "offline", "cancel", "decide"]),
    st.integers(0, 3),  # which terminal
    st.integers(0, 26 * 60),  # minutes the clock moves on first
    st.integers(-10, 30 * 60),  # T: minutes before now (negative: ahead of the ledger)
    st.integers(1, 25),  # credits asked (may be above the floor limit, or the face value)
    st.booleans(),  # decide: pay (True) or decline
)


def test_whatever_terminals_send_one_voucher_pays_at_most_face_plus_one_exception(
    app, db, make_person, runner
):
    @settings(
        max_examples=12,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        face=st.integers(1, 20),
        shop_of=st.lists(st.integers(0, 2), min_size=4, max_size=4),
        ceilings=st.lists(st.sampled_from([0, 1, 3]), min_size=4, max_size=4),
        steps=st.lists(step, min_size=1, max_size=12),
    )
    def example(face, shop_of, ceilings, steps):
        one_voucher(app, db, make_person, face, shop_of, ceilings, steps)

    example()
    # Every example's entries together: each balanced, and every check of `credits verify`.
    assert all_ok(db) == []
    result = runner.invoke(cli, ["verify"])
    assert result.exit_code == 0, result.output


def one_voucher(app, db, make_person, face, shop_of, ceilings, steps):
    """One voucher, four terminals, the steps in order; then the bound."""
    n = next(_example)
    client = app.test_client()
    member = make_person(Role.MEMBER, credits=face, name=f"Member {n}")
    clock = utcnow() + timedelta(days=40 * n)  # each example in its own stretch of time
    tills = []
    for i, shop in enumerate(shop_of):
        till = make_terminal(db, name=f"Shop {n}-{shop}", till=f"Till {i}", floor_limit=FLOOR)
        db.run(
            lambda s, t=till, c=ceilings[i]: shops.update_terminal(
                s,
                audit.Actor.system("test"),
                t["terminal_id"],
                limits=shops.OfflineLimits(FLOOR, 10, 100, c, 60 if c else 0),
            )
        )
        tills.append(till)
    with freeze_time(clock):
        v = issue(client, member, face, key=f"v{n}")
    keys = itertools.count()
    for kind, which, advance, before_min, amount, pay in steps:
        clock += timedelta(minutes=advance)
        till = tills[which]
        with freeze_time(clock):
            if kind == "fetch":
                resp = fetch_spent_list(client, till)
            elif kind == "online":
                resp = redeem(client, till, v["code"], key=f"k{next(keys)}", amount=amount)
            elif kind == "offline":
                at = (clock - timedelta(minutes=before_min)).isoformat()
                resp = redeem(
                    client,
                    till,
                    v["code"],
                    key=f"k{next(keys)}",
                    amount=amount,
                    offline_accepted_at=at,
                )
            elif kind == "cancel":
                resp = client.post(f"/api/v1/vouchers/{v['id']}/cancel", headers=member.auth)
            else:
                resp = decide_held(client, db, make_person, v["id"], pay)
            if resp is not None:
                assert resp.status_code < 500, resp.get_data(as_text=True)
                assert resp.status_code in (200, 201, 202, 304, 409, 422), resp.get_json()

    with db.read() as s:
        redeemed = s.execute(
            text("SELECT coalesce(sum(amount), 0) FROM redemption WHERE voucher_id = :v"),
            {"v": v["id"]},
        ).scalar_one()
        paid = s.execute(
            text(
                "SELECT amount FROM redemption_exception WHERE voucher_id = :v AND status = 'paid'"
            ),
            {"v": v["id"]},
        ).all()
    assert redeemed <= face
    assert len(paid) <= 1 and all(a <= FLOOR for (a,) in paid), paid
    # What the shops of this example were paid: the redemption and at most one exception.
    to_shops = sum(bal(db, t["account"]) for t in {t["shop_id"]: t for t in tills}.values())
    assert to_shops == redeemed + sum(a for (a,) in paid) <= face + FLOOR


def decide_held(client, db, make_person, voucher_id, pay):
    """An officer pays or declines the voucher's held claim, if it has one."""
    with db.read() as s:
        held = s.execute(
            text("SELECT id FROM redemption_exception WHERE voucher_id = :v AND status = 'held'"),
            {"v": voucher_id},
        ).scalar_one_or_none()
    if held is None:
        return None
    officer = make_person(Role.OFFICER)
    verb = "pay" if pay else "decline"
    return client.post(
        f"/api/v1/redemption-exceptions/{held}/{verb}",
        json={"reason": "decided in the property test"},
        headers=officer.auth,
    )


# --- races -------------------------------------------------------------------------------


@pytest.mark.postgres
def test_many_shops_claiming_one_spent_voucher_at_once_get_one_exception(app, db, make_person):
    member = make_person(Role.MEMBER, credits=50)
    client = app.test_client()
    first = make_terminal(db, name="Shop 0", till="Till")
    others = [make_terminal(db, name=f"Shop {i}", till="Till") for i in range(1, 9)]
    for t in others:
        assert fetch_spent_list(client, t).status_code == 200
    v = issue(client, member, 12)
    assert redeem(client, first, v["code"], key="online").status_code == 201
    at = utcnow().isoformat()

    def claim(i):
        return app.test_client().post(
            "/api/v1/redemptions",
            json={"code": v["code"], "idempotency_key": f"race-{i}", "offline_accepted_at": at},
            headers=others[i]["auth"],
        )

    outcomes = run_threads(len(others), claim)
    statuses = Counter(r.status_code for r in outcomes)
    assert statuses == Counter({201: 1, 409: len(others) - 1}), statuses
    rules = {r.get_json()["claim"]["rule"] for r in outcomes if r.status_code == 409}
    assert rules == {"already_claimed"}
    assert sum(bal(db, t["account"]) for t in others) == 12
    assert all_ok(db) == []


@pytest.mark.postgres
def test_one_terminal_claiming_many_at_once_keeps_its_monthly_ceiling(app, db, make_person):
    member = make_person(Role.MEMBER, credits=100)
    client = app.test_client()
    first = make_terminal(db, name="Shop 0", till="Till")
    claimer = make_terminal(db, name="Shop 1", till="Till")
    db.run(
        lambda s: shops.update_terminal(
            s,
            audit.Actor.system("test"),
            claimer["terminal_id"],
            limits=shops.OfflineLimits(FLOOR, 10, 100, 2, 60),
        )
    )
    assert fetch_spent_list(client, claimer).status_code == 200
    vouchers = [issue(client, member, 5, key=f"v{i}") for i in range(8)]
    for i, v in enumerate(vouchers):
        assert redeem(client, first, v["code"], key=f"online-{i}").status_code == 201
    at = utcnow().isoformat()

    def claim(i):
        return app.test_client().post(
            "/api/v1/redemptions",
            json={
                "code": vouchers[i]["code"],
                "idempotency_key": f"race-{i}",
                "offline_accepted_at": at,
            },
            headers=claimer["auth"],
        )

    outcomes = run_threads(len(vouchers), claim)
    statuses = Counter(r.status_code for r in outcomes)
    assert statuses == Counter({201: 2, 202: 6}), statuses
    assert bal(db, claimer["account"]) == 10
    assert all_ok(db) == []
