"""Settlement runs: what is refused (each as problem+json with its code, changing nothing),
idempotent re-submission, approval, cancelling, back-dating."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from freezegun import freeze_time

from credits import audit, ledger
from credits.accounts import Role
from credits.ledger import Month
from credits.statements.close import close_month
from tests.problems import assert_problem

from ..people_helpers import snapshot
from ..statements.worked_month import _issue, _redeem, london, make_terminal
from .helpers import (
    SETTLE_AT,
    close_october,
    get,
    post,
    set_payee,
    set_payees,
    settle_october,
    start_run,
)


def test_only_a_closed_month_is_settled(client, db, month, make_person):
    second = make_person(Role.OFFICER)
    with freeze_time(SETTLE_AT):
        set_payees(client, month, second)
        before = snapshot(db)
        assert_problem(start_run(client, month.officer), 409, "month_not_closed")
        assert_problem(start_run(client, month.officer, "2026-11"), 409, "month_not_closed")
        assert_problem(start_run(client, month.officer, "2026-13"), 422, "validation_error")
        assert snapshot(db) == before


def test_a_shop_owed_money_needs_approved_bank_details(client, db, month, make_person):
    close_october(db)
    second = make_person(Role.OFFICER)
    with freeze_time(SETTLE_AT):
        before = snapshot(db)
        body = assert_problem(start_run(client, month.officer), 409, "payee_details_missing")
        assert {s["name"] for s in body["shops"]} == {"Brixton Bakery", "Market Grocer"}
        # Details entered by one officer and not yet approved do not count.
        resp = post(
            client,
            month.officer,
            f"/api/v1/settlements/payees/{month.shop_a['shop_id']}",
            {"legal_name": "Brixton Bakery Ltd", "sort_code": "089999",
             "account_number": "66374958", "reason": "their letter"},
        )  # fmt: skip
        assert resp.status_code == 202
        set_payee(
            client, month.officer, second, month.shop_b["shop_id"],
            legal_name="Market Grocer", iban="GB89NWBK93861107806039",
        )  # fmt: skip
        before = snapshot(db)
        body = assert_problem(start_run(client, month.officer), 409, "payee_details_missing")
        assert [s["name"] for s in body["shops"]] == ["Brixton Bakery"]
        assert snapshot(db) == before


def test_a_run_resubmitted_is_the_same_run(client, db, month, make_person):
    second = make_person(Role.OFFICER)
    with freeze_time(SETTLE_AT):
        set_payees(client, month, second)
    close_october(db)
    with freeze_time(SETTLE_AT):
        first = start_run(client, month.officer, key="k1")
        assert first.status_code == 201 and first.get_json()["replayed"] is False
        again = start_run(client, month.officer, key="k1")
        assert again.status_code == 201
        assert again.get_json()["id"] == first.get_json()["id"] and again.get_json()["replayed"]
        before = snapshot(db)
        # Another key (a second officer, or a new form) for a month with a run: refused.
        body = assert_problem(start_run(client, second, key="k2"), 409, "already_settled")
        assert body["run_id"] == first.get_json()["id"]
        # The same key for another month is a different request.
        assert_problem(
            start_run(client, month.officer, "2026-09", "k1"), 409, "idempotency_conflict"
        )
        assert snapshot(db) == before
        runs = get(client, month.officer, "/api/v1/settlements").get_json()
        assert runs["total"] == 1


def test_one_run_waits_for_approval_at_a_time_and_months_settle_in_order(
    client, db, month, make_person
):
    second = make_person(Role.OFFICER)
    with freeze_time(SETTLE_AT):
        set_payees(client, month, second)
    close_october(db)
    with freeze_time(SETTLE_AT):
        # September: the shops took nothing, so the run pays no one (it is still a record).
        sept = start_run(client, month.officer, "2026-09", "sept")
        assert sept.status_code == 201 and sept.get_json()["lines"] == []
        body = assert_problem(start_run(client, month.officer), 409, "settlement_pending")
        assert body["run_id"] == sept.get_json()["id"]
        resp = post(client, month.officer, f"/api/v1/settlements/{sept.get_json()['id']}/approve")
        assert resp.status_code == 200
        october = start_run(client, month.officer).get_json()
        post(client, month.officer, f"/api/v1/settlements/{october['id']}/approve")
        # October's run took every credit up to its end: September cannot be settled again.
        assert_problem(
            start_run(client, month.officer, "2026-09", "sept-2"), 409, "already_settled"
        )


def test_approving_posts_one_entry_per_shop_and_approving_again_is_the_same(
    client, db, month, make_person
):
    second = make_person(Role.OFFICER)
    run = settle_october(client, db, month, second)
    with freeze_time(SETTLE_AT):
        again = post(client, month.officer, f"/api/v1/settlements/{run['id']}/approve")
        assert again.status_code == 200 and again.get_json()["replayed"] is True
        before = snapshot(db)
        assert_problem(
            post(client, second, f"/api/v1/settlements/{run['id']}/approve"), 409, "already_settled"
        )
        assert_problem(
            post(client, second, f"/api/v1/settlements/{run['id']}/cancel", {"reason": "oops"}),
            409,
            "settlement_not_pending",
        )
        assert snapshot(db) == before
    with db.read() as s:
        settled = ledger.balance(s, ledger.scheme_account(s, ledger.SETTLED).id)
    assert settled == 52


def test_back_dating_a_settlement_into_a_closed_month_is_refused(client, db, month, make_person):
    second = make_person(Role.OFFICER)
    with freeze_time(SETTLE_AT):
        set_payees(client, month, second)
    close_october(db)
    with freeze_time(SETTLE_AT):
        run = start_run(client, month.officer).get_json()
        before = snapshot(db)
        path = f"/api/v1/settlements/{run['id']}/approve"
        body = assert_problem(
            post(client, month.officer, path, {"settled_on": "2026-10-31"}), 409, "period_closed"
        )
        assert body["month"] == "2026-10"
        assert_problem(
            post(client, month.officer, path, {"settled_on": "2026-11-26"}), 422, "validation_error"
        )
        assert snapshot(db) == before
        resp = post(client, month.officer, path, {"settled_on": "2026-11-01"})
        assert resp.status_code == 200, resp.get_json()
    # Dated at the start of 1 November, London time: in November's statement.
    assert resp.get_json()["settled_at"] == "2026-11-01T00:00:00+00:00"
    # The ledger refuses a settlement entry dated in October whoever posts it.
    with db.read() as s:
        shop, settled = month.shop_a["account"], ledger.scheme_account(s, ledger.SETTLED).id
    with pytest.raises(ledger.PeriodClosed):
        db.run(
            lambda s: ledger.post_entry(
                s,
                ledger.EntryRequest(
                    kind=ledger.EntryKind.SETTLEMENT,
                    legs=(ledger.Leg(shop, -1), ledger.Leg(settled, 1)),
                    memo="back-dated",
                    actor="test",
                    idempotency_key="back-dated-settlement",
                    occurred_at=london(2026, 10, 30, 12),
                ),
            )
        )


def test_a_pending_run_is_cancelled_with_a_reason_and_the_month_settled_again(
    client, db, month, make_person
):
    second = make_person(Role.OFFICER)
    with freeze_time(SETTLE_AT):
        set_payees(client, month, second)
    close_october(db)
    with freeze_time(SETTLE_AT):
        run = start_run(client, month.officer).get_json()
        path = f"/api/v1/settlements/{run['id']}/cancel"
        assert_problem(post(client, month.officer, path, {"reason": ""}), 422, "validation_error")
        resp = post(client, month.officer, path, {"reason": "rate was wrong"})
        assert resp.status_code == 200
        assert resp.get_json()["state"] == "cancelled"
        assert resp.get_json()["cancel_reason"] == "rate was wrong"
        assert_problem(
            post(client, month.officer, f"/api/v1/settlements/{run['id']}/approve"),
            409,
            "settlement_not_pending",
        )
        again = start_run(client, month.officer, key="second try")
        assert again.status_code == 201 and again.get_json()["id"] != run["id"]


def test_bank_details_changed_after_the_run_was_computed(client, db, month, make_person):
    second = make_person(Role.OFFICER)
    with freeze_time(SETTLE_AT):
        set_payees(client, month, second)
    close_october(db)
    with freeze_time(SETTLE_AT):
        run = start_run(client, month.officer).get_json()
        set_payee(
            client, second, month.officer, month.shop_a["shop_id"],
            legal_name="Brixton Bakery Ltd", sort_code="871427", account_number="09123496",
        )  # fmt: skip
        before = snapshot(db)
        body = assert_problem(
            post(client, month.officer, f"/api/v1/settlements/{run['id']}/approve"),
            409,
            "payee_details_changed",
        )
        assert body["shops"] == [month.shop_a["shop_id"]]
        assert snapshot(db) == before


def test_a_month_without_a_rate_cannot_be_settled(client, db, make_person):
    officer = make_person(Role.OFFICER)
    with freeze_time(london(2026, 8, 3, 10)):
        member = make_person(Role.MEMBER, credits=30)
        till = make_terminal(db, "Corner Shop", "Till")
        voucher = _issue(client, member, 12, "v")
        _redeem(client, till, voucher["code"], "r")
    with freeze_time(london(2026, 9, 2, 10)):
        db.run(
            lambda s: close_month(s, audit.Actor("cli:test"), Month(2026, 8), now=datetime.now(UTC))
        )
        before = snapshot(db)
        body = assert_problem(start_run(client, officer, "2026-08"), 409, "rate_not_set")
        assert body["months"] == ["2026-08"]
        assert snapshot(db) == before
