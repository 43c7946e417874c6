"""Expiry: an unused voucher's value returns to its member after it expires — once, in one
entry per voucher, however often and however concurrently the sweep runs."""

from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import text

from credits.accounts import Role
from credits.cli import main as cli
from credits.vouchers.code import verify_code
from credits.vouchers.errors import VoucherExpired
from credits.vouchers.service import expire_due
from tests.problems import assert_problem

from .test_ledger_races import run_threads
from .test_vouchers_api import redeem_directly, trust_from
from .voucher_helpers import balance, issue, snapshot, verify_all, vouchers_outstanding

# Stated, not read off the clock: 90 days on (the expiry) crosses the clocks going forward.
T0 = datetime(2026, 1, 2, 23, 45, tzinfo=UTC)


def entries_of_kind(db, kind):
    with db.read() as s:
        return s.execute(
            text("SELECT count(*) FROM journal_entry WHERE kind = :k"), {"k": kind}
        ).scalar_one()


def test_expired_vouchers_come_back_once(client, db, make_person, runner):
    ann = make_person(Role.MEMBER, credits=100)
    bob = make_person(Role.MEMBER, credits=100)
    shop = None
    with freeze_time(T0):
        a1 = issue(client, ann, 10).get_json()
        a2 = issue(client, ann, 20).get_json()
        b1 = issue(client, bob, 30).get_json()
        cancelled = issue(client, bob, 5).get_json()
        client.post(f"/api/v1/vouchers/{cancelled['id']}/cancel", headers=bob.auth)
    with freeze_time(T0 + timedelta(days=1)):
        late = issue(client, ann, 7).get_json()  # expires a day after the others
    from credits import ledger

    shop = db.run(
        lambda s: ledger.open_account(s, code="shop:x", type=ledger.AccountType.SHOP, name="x")
    ).id
    with freeze_time(T0 + timedelta(days=2)):
        redeem_directly(db, b1["id"], shop, 30)

    expires = datetime.fromisoformat(a1["expires_at"])
    assert expires == T0 + timedelta(days=90)
    with freeze_time(expires - timedelta(seconds=1)):
        assert expire_due(db).expired == 0
        assert verify_code(a1["code"], trust_from(client), now=datetime.now(UTC))
    with freeze_time(expires):  # valid while now < expires_at: now it has expired
        with pytest.raises(VoucherExpired):
            verify_code(a1["code"], trust_from(client), now=datetime.now(UTC))
        result = runner.invoke(cli, ["expire-vouchers"])
        assert result.exit_code == 0, result.output
        assert "expired 2 vouchers; 30 credits returned" in result.output
        assert balance(db, ann.account_id) == 100 - 7
        assert vouchers_outstanding(db) == 7
        before = snapshot(db)
        assert runner.invoke(cli, ["expire-vouchers"]).output.startswith("expired 0 vouchers")
        assert snapshot(db) == before
        body = assert_problem(
            client.post(f"/api/v1/vouchers/{a1['id']}/cancel", headers=ann.auth), 409, "expired"
        )
        assert "expired" in body["detail"]
        assert client.get(f"/api/v1/vouchers/{a2['id']}", headers=ann.auth).get_json()["state"] == (
            "expired"
        )
    with freeze_time(expires + timedelta(days=1)):
        assert expire_due(db).expired == 1
    assert balance(db, ann.account_id) == 100
    assert balance(db, bob.account_id) == 100 - 30 and vouchers_outstanding(db) == 0
    assert entries_of_kind(db, "expire") == 3
    with db.read() as s:
        states = dict(s.execute(text("SELECT id, state FROM voucher")).all())
    assert states == {
        a1["id"]: "expired",
        a2["id"]: "expired",
        late["id"]: "expired",
        b1["id"]: "redeemed",
        cancelled["id"]: "cancelled",
    }
    assert verify_all(db) == []


def test_a_voucher_past_expiry_not_yet_swept_can_be_cancelled(client, db, make_person):
    ann = make_person(Role.MEMBER, credits=10)
    with freeze_time(T0):
        v = issue(client, ann, 10).get_json()
    with freeze_time(T0 + timedelta(days=91)):
        assert (
            client.post(f"/api/v1/vouchers/{v['id']}/cancel", headers=ann.auth).status_code == 200
        )
        assert expire_due(db).expired == 0
    assert balance(db, ann.account_id) == 10 and verify_all(db) == []


@pytest.mark.postgres
def test_concurrent_sweeps_expire_each_voucher_once(client, db, make_person):
    people = [make_person(Role.MEMBER, credits=50) for _ in range(4)]
    with freeze_time(T0):
        for p in people:
            for amount in (3, 4, 5):
                issue(client, p, amount)
    with freeze_time(T0 + timedelta(days=90)):
        outcomes = run_threads(4, lambda i: expire_due(db))
    assert all(not isinstance(o, Exception) for o in outcomes), outcomes
    assert sum(o.expired for o in outcomes) == 12
    assert entries_of_kind(db, "expire") == 12
    assert all(balance(db, p.account_id) == 50 for p in people)
    assert vouchers_outstanding(db) == 0 and verify_all(db) == []
