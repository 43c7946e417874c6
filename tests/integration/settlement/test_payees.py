"""Shops' bank details: four eyes on every change, checked like a bank checks them, audited,
and masked for everyone but officers."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from credits import audit, shops
from credits.accounts import Role
from tests.problems import assert_problem

from ..people_helpers import snapshot
from .helpers import get, post, shop_staff

GOOD_UK = {"sort_code": "08-99-99", "account_number": "66374958"}


@pytest.fixture
def shop(db) -> dict:
    def make(s):
        by = audit.Actor.system("test")
        made = shops.create_shop(s, by, name="Brixton Bakery")
        other = shops.create_shop(s, by, name="Market Grocer")
        _, token = shops.add_terminal(s, by, made.id, name="Till 1")
        _, other_token = shops.add_terminal(s, by, other.id, name="Counter")
        return {
            "id": made.id,
            "other": other.id,
            "terminal": {"Authorization": f"Bearer {token}"},
            "other_terminal": {"Authorization": f"Bearer {other_token}"},
        }

    return db.run(make)


def _request(client, who, shop_id, **body):
    payload = {"legal_name": "Brixton Bakery Ltd", "reason": "the shop's letter", **body}
    return post(client, who, f"/api/v1/settlements/payees/{shop_id}", payload)


def test_a_change_of_bank_details_by_one_officer_alone_is_refused(client, db, make_person, shop):
    first = make_person(Role.OFFICER, name="First Officer")
    second = make_person(Role.OFFICER, name="Second Officer")
    resp = _request(client, first, shop["id"], **GOOD_UK)
    assert resp.status_code == 202
    pending = resp.get_json()
    assert pending["status"] == "pending" and pending["account_full"] == "08-99-99 66374958"

    before = snapshot(db)
    body = assert_problem(
        post(client, first, f"/api/v1/settlements/payee-changes/{pending['id']}/approve"),
        403,
        "second_approver_required",
    )
    assert "another officer" in body["detail"]
    assert snapshot(db) == before
    # Nor can the database be talked into it: the decider is never the requester.
    with pytest.raises(Exception, match="four_eyes"):
        db.run(
            lambda s: s.execute(
                text(
                    "UPDATE payee SET status = 'active', pending_shop = NULL, active_shop = "
                    "shop_id, decided_by_person_id = requested_by_person_id WHERE id = :i"
                ),
                {"i": pending["id"]},
            )
        )
    # One change waits at a time.
    assert_problem(
        _request(client, second, shop["id"], iban="GB89NWBK93861107806039"),
        409,
        "payee_change_pending",
    )

    resp = post(client, second, f"/api/v1/settlements/payee-changes/{pending['id']}/approve")
    assert resp.status_code == 200 and resp.get_json()["status"] == "active"

    # A new version supersedes it when a second officer approves it; history keeps both.
    newer = _request(client, second, shop["id"], iban="GB89 NWBK 9386 1107 8060 39").get_json()
    post(client, first, f"/api/v1/settlements/payee-changes/{newer['id']}/approve")
    history = get(client, first, f"/api/v1/settlements/payees/{shop['id']}").get_json()
    assert [(p["status"], p["account_full"]) for p in history["history"]] == [
        ("active", "GB89 NWBK 9386 1107 8060 39"),
        ("superseded", "08-99-99 66374958"),
    ]
    # Audited — with the account masked (admins read the audit log; they are not officers).
    with db.read() as s:
        events = s.execute(
            text(
                "SELECT action, actor, details FROM audit_event WHERE action LIKE 'payee.%' "
                "ORDER BY id"
            )
        ).all()
    assert [e[0] for e in events] == [
        "payee.request",
        "payee.approve",
        "payee.request",
        "payee.approve",
    ]
    assert events[1][1].startswith(f"person:{second.id} ")
    assert "66374958" not in str([e[2] for e in events])
    assert "**-**-99 ****4958" in str(events[0][2])


def test_rejecting_a_change_keeps_the_details_in_force(client, db, make_person, shop):
    first, second = make_person(Role.OFFICER), make_person(Role.OFFICER)
    pending = _request(client, first, shop["id"], **GOOD_UK).get_json()
    path = f"/api/v1/settlements/payee-changes/{pending['id']}/reject"
    assert_problem(post(client, second, path, {"reason": ""}), 422, "validation_error")
    resp = post(client, second, path, {"reason": "the shop says it did not write"})
    assert resp.status_code == 200
    assert resp.get_json()["status"] == "rejected"
    assert resp.get_json()["decision_reason"] == "the shop says it did not write"
    assert_problem(
        post(client, second, f"/api/v1/settlements/payee-changes/{pending['id']}/approve"),
        409,
        "payee_change_not_pending",
    )
    body = get(client, first, f"/api/v1/settlements/payees/{shop['id']}").get_json()
    assert body["active"] is None


@pytest.mark.parametrize(
    "details, field",
    [
        ({"sort_code": "08-99-99", "account_number": "66374959"}, "account_number"),
        ({"sort_code": "08-99-9", "account_number": "66374958"}, "sort_code"),
        ({"sort_code": "089999", "account_number": "123456789"}, "account_number"),
        ({"sort_code": "08a999", "account_number": "66374958"}, "sort_code"),
        ({"iban": "GB89NWBK93861107806038"}, "iban"),
        ({"iban": "GB89NWBK9386110780603"}, "iban"),
        # A GB IBAN with valid check digits whose sort code and account fail the modulus check.
        ({"iban": "GB43NWBK08999966374959"}, "iban"),
        ({"iban": "GB89NWBK93861107806039", **GOOD_UK}, "iban"),
        ({}, "sort_code"),
        # Text no bank would print is refused by the API's bounded fields (credits/api/inputs.py)
        # before the bank rules are asked: a validation_error naming the field.
        ({"legal_name": "\u0007", **GOOD_UK}, "legal_name"),
    ],
)
def test_bank_details_are_checked_as_the_bank_checks_them(
    client, db, make_person, shop, details, field
):
    officer = make_person(Role.OFFICER)
    before = snapshot(db)
    code = "validation_error" if field == "legal_name" else "invalid_bank_details"
    body = assert_problem(_request(client, officer, shop["id"], **details), 422, code)
    assert field in body["errors"], body
    assert snapshot(db) == before


def test_the_details_are_masked_for_the_shop_and_hidden_from_others(client, db, make_person, shop):
    first, second = make_person(Role.OFFICER), make_person(Role.OFFICER)
    pending = _request(client, first, shop["id"], **GOOD_UK).get_json()
    post(client, second, f"/api/v1/settlements/payee-changes/{pending['id']}/approve")
    staff = shop_staff(db, make_person, shop["id"])
    path = f"/api/v1/settlements/payees/{shop['id']}"
    for headers in (staff.auth, shop["terminal"]):
        body = client.get(path, headers=headers).get_json()
        assert body["active"]["account"] == "**-**-99 ****4958"
        assert body["active"]["account_full"] is None
        assert "66374958" not in str(body)
    officer_view = get(client, first, path).get_json()
    assert officer_view["active"]["account_full"] == "08-99-99 66374958"
    # Another shop's terminal and staff: refused.
    assert client.get(path, headers=shop["other_terminal"]).status_code == 403
    other_staff = shop_staff(db, make_person, shop["other"])
    assert client.get(path, headers=other_staff.auth).status_code == 403
    # Admins are not officers: they never see bank details.
    admin = make_person(Role.ADMIN)
    assert client.get(path, headers=admin.auth).status_code == 403
