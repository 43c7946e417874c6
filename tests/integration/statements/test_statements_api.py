"""GET /api/v1/statements/{YYYY-MM}: the same figures as the engine, signed bytes, access."""

from __future__ import annotations

import json

import pytest
from freezegun import freeze_time

from credits.accounts import Role
from credits.statements import signing
from tests.problems import assert_problem

from .worked_month import EXPECTED, build_worked_month, london, make_terminal


@pytest.fixture
def month(db, client, make_person):
    return build_worked_month(db, client, make_person)


def get(client, who_auth, path):
    with freeze_time(london(2026, 11, 25, 12)):
        return client.get(path, headers=who_auth)


def test_the_scheme_statement_as_json(client, month):
    resp = get(client, month.officer.auth, "/api/v1/statements/2026-10")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.mimetype == "application/json"
    body = resp.get_json()
    t = body["totals"]
    assert (t["issued"], t["redeemed"], t["expired"], t["outstanding"]) == (155, 57, 2, 116)
    assert (t["reversals"], t["adjustments"], t["change_returned"]) == (10, 0, 7)
    assert (t["owed_pence"], t["owed_gbp"]) == (2600, "26.00")
    assert body["opening_outstanding"] == EXPECTED["opening"]
    assert body["closing_outstanding"] == EXPECTED["closing"]
    assert {a["slug"]: a["credits"] for a in body["per_activity"]} == EXPECTED["by_activity"]
    shops = {s["name"]: s for s in body["per_shop"]}
    assert shops["Brixton Bakery"]["owed_gbp"] == "14.50"
    assert shops["Market Grocer"]["net"] == 23
    tb = body["trial_balance"]
    assert tb["total"] == 0 and len(tb["lines"]) == 7
    assert {x["account_type"]: x["closing"] for x in tb["lines"]} == {
        k: v[3] for k, v in EXPECTED["trial_balance"].items()
    }
    # Canonical bytes: sorted keys, no spaces, one newline.
    data = resp.get_data()
    assert data == (json.dumps(body, sort_keys=True, separators=(",", ":")) + "\n").encode()


def test_the_signature_header_proves_the_bytes(client, month):
    for fmt in ("json", "csv"):
        resp = get(client, month.officer.auth, f"/api/v1/statements/2026-10?format={fmt}")
        assert resp.status_code == 200
        trust = client.get("/api/v1/trust-list").get_json()
        sig = resp.headers[signing.HEADER]
        assert signing.verify(resp.get_data(), sig, trust) == trust["statement_keys"][0]["kid"]
        # The statement key is not a voucher key: terminals must never trust it for vouchers.
        assert trust["statement_keys"][0]["kid"] not in {k["kid"] for k in trust["keys"]}
        with pytest.raises(signing.StatementSignatureError):
            signing.verify(resp.get_data() + b" ", sig, trust)


def test_csv(client, month):
    resp = get(client, month.officer.auth, "/api/v1/statements/2026-10?format=csv")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    text = resp.get_data(as_text=True)
    assert "issued,155\r\n" in text and "closing_outstanding,116\r\n" in text
    assert "snow-clearing,Snow clearing,2,50\r\n" in text
    assert ",Market Grocer,2,28,7,10,5,23,1150,11.50,0\r\n" in text
    assert text.endswith("total,0,,,0,0\r\n")


def test_a_shop_statement_for_an_officer_and_for_its_terminal(client, month):
    a = month.shop_a["shop_id"]
    by_officer = get(client, month.officer.auth, f"/api/v1/statements/2026-10?shop={a}")
    by_terminal = get(client, month.shop_a["auth"], "/api/v1/statements/2026-10")
    assert by_officer.status_code == by_terminal.status_code == 200
    assert by_officer.get_data() == by_terminal.get_data()
    body = by_terminal.get_json()
    assert body["kind"] == "shop" and body["shop"]["id"] == a
    assert [x["amount"] for x in body["lines"]] == [4, 20, 5]
    assert body["totals"]["owed_pence"] == 1450
    assert "per_shop" not in body and "per_activity" not in body
    same = get(client, month.shop_a["auth"], f"/api/v1/statements/2026-10?shop={a}")
    assert same.get_data() == by_terminal.get_data()


def test_a_terminal_cannot_read_another_shop_or_the_scheme_figures(client, db, month):
    b = month.shop_b["shop_id"]
    resp = get(client, month.shop_a["auth"], f"/api/v1/statements/2026-10?shop={b}")
    assert_problem(resp, 403, "forbidden")


def test_other_roles_are_refused(client, month, make_person):
    assert_problem(get(client, {}, "/api/v1/statements/2026-10"), 401, "unauthorized")
    for role in (Role.MEMBER, Role.COORDINATOR, Role.SHOP_STAFF, Role.ADMIN):
        who = make_person(role)
        assert_problem(get(client, who.auth, "/api/v1/statements/2026-10"), 403, "forbidden")


@pytest.mark.parametrize("bad", ["2026-13", "2026-1", "oct", "1999-10", "2026-10-01"])
def test_bad_months_are_validation_errors(client, make_person, bad):
    officer = make_person(Role.OFFICER)
    resp = get(client, officer.auth, f"/api/v1/statements/{bad}")
    assert_problem(resp, 422, "validation_error")


def test_a_future_month_is_refused_and_the_current_one_is_not(client, make_person):
    officer = make_person(Role.OFFICER)
    assert_problem(get(client, officer.auth, "/api/v1/statements/2026-12"), 422, "validation_error")
    assert get(client, officer.auth, "/api/v1/statements/2026-11").status_code == 200


def test_unknown_shop_and_bad_format(client, db, make_person):
    officer = make_person(Role.OFFICER)
    make_terminal(db, "Corner Shop", "Till")
    resp = get(client, officer.auth, "/api/v1/statements/2026-10?shop=999999")
    assert_problem(resp, 404, "not_found")
    resp = get(client, officer.auth, "/api/v1/statements/2026-10?format=pdf")
    assert_problem(resp, 422, "validation_error")


def test_the_openapi_document_describes_it(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    path = doc["paths"]["/api/v1/statements/{month}"]
    params = path.get("parameters", []) + path["get"]["parameters"]
    assert {p["name"] for p in params} >= {"format", "shop", "month"}
    assert "Statement" in doc["components"]["schemas"]
