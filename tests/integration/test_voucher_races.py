"""Vouchers under real concurrency (threads against PostgreSQL; SQLite serialises writers)."""

from collections import Counter

import pytest

from credits.accounts import Role
from credits.vouchers.runtime import runtime
from credits.vouchers.service import cancel_voucher, issue_voucher

from .test_ledger_races import run_threads
from .test_vouchers_api import redeem_directly
from .voucher_helpers import balance, issue, verify_all, vouchers_outstanding

pytestmark = pytest.mark.postgres


def test_16_requests_for_the_whole_balance_exactly_one_succeeds(app, db, make_person):
    ann = make_person(Role.MEMBER, credits=60)
    clients = [app.test_client() for _ in range(16)]  # one per thread, as 16 phones would be
    outcomes = run_threads(16, lambda i: issue(clients[i], ann, 60, f"tap-{i}"))
    statuses = Counter(r.status_code for r in outcomes)
    assert statuses == {201: 1, 409: 15}, statuses
    assert {r.get_json()["code"] for r in outcomes if r.status_code == 409} == {
        "insufficient_funds"
    }
    assert balance(db, ann.account_id) == 0 and vouchers_outstanding(db) == 60
    assert verify_all(db) == []


def test_16_use_case_calls_for_the_whole_balance(services, db, make_person):
    ann = make_person(Role.MEMBER, credits=60)
    rt = runtime(services.settings)

    def spend(i):
        return db.run(
            lambda s: issue_voucher(
                s,
                keyring=rt.keyring,
                policy=rt.policy,
                person_id=ann.id,
                amount=60,
                client_key=f"k{i}",
                actor="test",
            )
        )

    outcomes = run_threads(16, spend)
    kinds = Counter(type(o).__name__ for o in outcomes)
    assert kinds == {"tuple": 1, "InsufficientFunds": 15}, outcomes
    assert verify_all(db) == []


def test_one_key_from_many_threads_makes_one_voucher(app, db, make_person):
    ann = make_person(Role.MEMBER, credits=60)
    clients = [app.test_client() for _ in range(8)]
    outcomes = run_threads(8, lambda i: issue(clients[i], ann, 10, "the-same-tap"))
    assert {r.status_code for r in outcomes} == {201}
    assert len({r.get_json()["id"] for r in outcomes}) == 1
    assert balance(db, ann.account_id) == 50 and verify_all(db) == []


def test_racing_cancels_and_redemption_close_a_voucher_once(app, db, make_person):
    from credits import ledger

    ann = make_person(Role.MEMBER, credits=60)
    shop = db.run(
        lambda s: ledger.open_account(s, code="shop:r", type=ledger.AccountType.SHOP, name="r")
    ).id
    vid = issue(app.test_client(), ann, 40).get_json()["id"]

    def attempt(i):
        if i % 2:
            return db.run(lambda s: cancel_voucher(s, vid, actor=f"t{i}", person_id=ann.id))
        return redeem_directly(db, vid, shop, 40)

    outcomes = run_threads(8, attempt)
    winners = [o for o in outcomes if not isinstance(o, Exception)]
    losers = [o for o in outcomes if isinstance(o, Exception)]
    assert len(winners) == 1, outcomes
    assert {getattr(e, "code", type(e).__name__) for e in losers} <= {
        "voucher_cancelled",
        "already_redeemed",
    }, losers
    assert vouchers_outstanding(db) == 0
    assert balance(db, ann.account_id) + balance(db, shop) == 60
    assert verify_all(db) == []
