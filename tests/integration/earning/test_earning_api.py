"""The earning API over HTTP: contract v1 bodies, 202 for four eyes, problem+json, paging."""

import json
from datetime import timedelta

import pytest

from credits import earning
from credits.earning import dates
from tests.problems import assert_problem

from .conftest import yesterday


def earning_body(scheme, **kw):
    return {
        "member_email": scheme.ann.email,
        "activity": "snow-clearing",
        "quantity": "1.5",
        "occurred_on": yesterday().isoformat(),
        "idempotency_key": "api-1",
        **kw,
    }


def test_post_earnings_is_contract_v1(client, scheme):
    resp = client.post("/api/v1/earnings", json=earning_body(scheme), headers=scheme.coord.auth)
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["state"] == "posted" and body["credits"] == 15 and body["entry_id"] > 0
    assert body["member"] == {"id": scheme.ann.id, "name": "Ann Okafor", "email": scheme.ann.email}
    assert body["activity"] == {"slug": "snow-clearing", "name": "Snow clearing"}
    assert body["quantity"] == "1.5" and body["unit"] == "hour" and body["kind"] == "record"
    assert body["created"]["actor"].endswith("via token:" + body["created"]["actor"].split(":")[-1])
    assert body["created"]["at"].endswith("+00:00")
    assert resp.headers["Location"].endswith(f"/api/v1/earnings/{body['id']}")
    # The same key and body: the same body back, nothing new posted.
    again = client.post("/api/v1/earnings", json=earning_body(scheme), headers=scheme.coord.auth)
    assert again.status_code == 201 and again.get_json()["id"] == body["id"]
    assert again.get_json()["replayed"] is True and scheme.entries() == 1
    conflict = client.post(
        "/api/v1/earnings", json=earning_body(scheme, quantity="2"), headers=scheme.coord.auth
    )
    assert_problem(conflict, 409, "idempotency_conflict")
    # The member sees it in their history.
    entries = client.get("/api/v1/me/entries", headers=scheme.ann.auth).get_json()
    (item,) = entries["items"]
    assert item["id"] == body["entry_id"] and item["amount"] == 15 and item["kind"] == "earn"
    assert item["activity"] == {"slug": "snow-clearing", "name": "Snow clearing"}
    assert item["approved_by"] == ["Cara Coordinator"] and item["quantity"] == "1.5"
    assert entries["next_before"] is None


def test_above_the_threshold_the_answer_is_202_and_nothing_is_posted(client, scheme):
    resp = client.post(
        "/api/v1/earnings", json=earning_body(scheme, quantity="6"), headers=scheme.coord.auth
    )
    assert resp.status_code == 202
    body = resp.get_json()
    assert body["state"] == "awaiting_officer" and body["entry_id"] is None
    assert body["needs_officer"] is True and scheme.entries() == 0
    award_url = resp.headers["Location"]
    assert client.get(award_url, headers=scheme.coord.auth).get_json()["state"] == (
        "awaiting_officer"
    )
    refused = client.post(
        f"/api/v1/earnings/{body['id']}/approve",
        json={"idempotency_key": "k"},
        headers=scheme.coord2.auth,
    )
    assert_problem(refused, 403, "second_approver_required")
    queue = client.get("/api/v1/earnings/queue?stage=officer", headers=scheme.officer.auth)
    assert [a["id"] for a in queue.get_json()["items"]] == [body["id"]]
    ok = client.post(
        f"/api/v1/earnings/{body['id']}/approve",
        json={"idempotency_key": "k"},
        headers=scheme.officer.auth,
    )
    assert ok.status_code == 200 and ok.get_json()["state"] == "posted"
    assert [s["person"]["name"] for s in (ok.get_json()["first_approval"],)] == ["Cara Coordinator"]
    assert ok.get_json()["second_approval"]["person"]["name"] == "Olu Officer"
    assert scheme.balance(scheme.ann) == 60


def test_numbers_are_accepted_as_written_and_floats_never_rounded(client, scheme):
    ok = client.post(
        "/api/v1/earnings",
        json=earning_body(scheme, quantity=0.1, idempotency_key="f1"),
        headers=scheme.coord.auth,
    )
    assert ok.status_code == 201 and ok.get_json()["credits"] == 1
    for sent in (0.30000000000000004, 1e-7, 0.25, -1, 0, 1000, True, [1], "1,5", "abc"):
        resp = client.post(
            "/api/v1/earnings",
            json=earning_body(scheme, quantity=sent, idempotency_key=f"bad-{sent!r}"),
            headers=scheme.coord.auth,
        )
        body = assert_problem(resp, 422, "validation_error")
        assert "quantity" in body["errors"], (sent, body)
    for raw in ("NaN", "Infinity", "-Infinity", "1e400"):
        text = json.dumps(earning_body(scheme, idempotency_key="raw")).replace(
            '"quantity": "1.5"', f'"quantity": {raw}'
        )
        resp = client.post(
            "/api/v1/earnings",
            data=text,
            content_type="application/json",
            headers=scheme.coord.auth,
        )
        assert "quantity" in assert_problem(resp, 422, "validation_error")["errors"]
    assert scheme.entries() == 1


BAD_EARNINGS = [
    ({}, 422, "validation_error"),
    ({"member_email": None}, 422, "validation_error"),
    ({"member_email": 5}, 422, "validation_error"),
    ({"member_email": "not an email"}, 422, "validation_error"),
    ({"member_email": "nobody@test.example"}, 422, "unknown_member"),
    ({"activity": "juggling"}, 422, "unknown_activity"),
    ({"activity": 7}, 422, "validation_error"),
    ({"occurred_on": "2026-02-30"}, 422, "validation_error"),
    ({"occurred_on": "yesterday"}, 422, "validation_error"),
    ({"occurred_on": 20261124}, 422, "validation_error"),
    ({"occurred_on": "future"}, 422, "validation_error"),
    ({"occurred_on": "too-old"}, 422, "validation_error"),
    ({"idempotency_key": ""}, 422, "validation_error"),
    ({"idempotency_key": "x" * 201}, 422, "validation_error"),
    ({"idempotency_key": "clé"}, 422, "validation_error"),
    ({"idempotency_key": "a\nb"}, 422, "validation_error"),
    ({"idempotency_key": 12}, 422, "validation_error"),
    ({"note": "x" * 501}, 422, "validation_error"),
    ({"unexpected": 1}, 422, "validation_error"),
    ({"quantity": "24.5"}, 422, "validation_error"),
    ({"quantity": "0.25"}, 422, "validation_error"),
    ({"quantity": "99999999999999999999"}, 422, "validation_error"),
]


@pytest.mark.parametrize("change, status, code", BAD_EARNINGS)
def test_bad_earnings_are_refused_and_post_nothing(client, scheme, change, status, code):
    body = earning_body(scheme, **change)
    if change == {}:
        body = {}
    for field in ("member_email",):
        if change.get(field, "") is None:
            body.pop(field)
    if body.get("occurred_on") == "future":
        body["occurred_on"] = (dates.london_today() + timedelta(days=1)).isoformat()
    if body.get("occurred_on") == "too-old":
        body["occurred_on"] = (dates.london_today() - timedelta(days=61)).isoformat()
    resp = client.post("/api/v1/earnings", json=body, headers=scheme.coord.auth)
    assert_problem(resp, status, code)
    assert scheme.entries() == 0 and scheme.awards() == 0


def test_a_closed_month_is_409_period_closed(client, scheme, db):
    from freezegun import freeze_time

    from credits import ledger

    with freeze_time("2026-11-03 12:00:00"):
        db.run(
            lambda s: ledger.close_month(
                s, ledger.Month(2026, 10), closed_by="t", now=dates.utcnow()
            )
        )
        resp = client.post(
            "/api/v1/earnings",
            json=earning_body(scheme, occurred_on="2026-10-30"),
            headers=scheme.coord.auth,
        )
        assert assert_problem(resp, 409, "period_closed")["month"] == "2026-10"
        claim = client.post(
            "/api/v1/claims",
            json={
                "activity": "snow-clearing",
                "quantity": "1",
                "occurred_on": "2026-10-30",
                "idempotency_key": "c",
            },
            headers=scheme.ann.auth,
        )
        assert_problem(claim, 409, "period_closed")
    assert scheme.entries() == 0 and scheme.awards() == 0


def test_caps_and_budgets_say_how_much_is_left(client, scheme):
    scheme.run(earning.set_four_eyes_threshold, scheme.officer, 1000)
    client.post(
        "/api/v1/earnings", json=earning_body(scheme, quantity="9"), headers=scheme.coord.auth
    )
    over = client.post(
        "/api/v1/earnings",
        json=earning_body(scheme, quantity="2", idempotency_key="api-2"),
        headers=scheme.coord.auth,
    )
    body = assert_problem(over, 409, "cap_exceeded")
    assert body["credits_left"] == 10 and body["credits_asked"] == 20 and body["cap_credits"] == 100
    month = dates.month_key(yesterday())
    client.put(
        f"/api/v1/activities/snow-clearing/budgets/{month}",
        json={"budget_credits": 95},
        headers=scheme.officer.auth,
    )
    over = client.post(
        "/api/v1/earnings",
        json=earning_body(scheme, member_email=scheme.bola.email, idempotency_key="api-3"),
        headers=scheme.coord.auth,
    )
    body = assert_problem(over, 409, "budget_exceeded")
    assert body["credits_left"] == 5 and body["month"] == month


def test_bulk_over_http(client, scheme):
    body = {
        "activity": "snow-clearing",
        "occurred_on": yesterday().isoformat(),
        "idempotency_key": "snow-day",
        "lines": [
            {"member_email": scheme.ann.email, "quantity": "2"},
            {"member_email": scheme.bola.email, "quantity": 1.5},
        ],
    }
    resp = client.post("/api/v1/earnings/bulk", json=body, headers=scheme.coord.auth)
    assert resp.status_code == 201, resp.get_json()
    award = resp.get_json()
    assert award["kind"] == "session" and award["credits"] == 35 and award["member"] is None
    assert [(x["member"]["email"], x["quantity"], x["credits"]) for x in award["lines"]] == [
        (scheme.ann.email, "2", 20),
        (scheme.bola.email, "1.5", 15),
    ]
    again = client.post("/api/v1/earnings/bulk", json=body, headers=scheme.coord.auth)
    assert again.get_json()["id"] == award["id"] and scheme.entries() == 1
    bad = dict(
        body,
        idempotency_key="bad-day",
        lines=[
            {"member_email": scheme.ann.email, "quantity": "2"},
            {"member_email": "nobody@test.example", "quantity": "1"},
            {"member_email": scheme.bola.email, "quantity": "0.05"},
        ],
    )
    refused = assert_problem(
        client.post("/api/v1/earnings/bulk", json=bad, headers=scheme.coord.auth),
        422,
        "lines_refused",
    )
    assert [(x["line"], x["code"]) for x in refused["lines"]] == [
        (2, "unknown_member"),
        (3, "validation_error"),
    ]
    for broken in (
        dict(body, lines=[]),
        dict(body, lines="everyone"),
        dict(body, lines=[{"member_email": scheme.ann.email, "quantity": "1", "extra": 1}]),
        {k: v for k, v in body.items() if k != "idempotency_key"},
    ):
        assert_problem(
            client.post("/api/v1/earnings/bulk", json=broken, headers=scheme.coord.auth),
            422,
            "validation_error",
        )
    assert scheme.entries() == 1


def claim_body(**kw):
    return {
        "activity": "snow-clearing",
        "quantity": "2",
        "occurred_on": yesterday().isoformat(),
        "note": "Gritted the school path",
        "idempotency_key": "claim-1",
        **kw,
    }


def test_claims_over_http(client, scheme):
    filed = client.post("/api/v1/claims", json=claim_body(), headers=scheme.ann.auth)
    assert filed.status_code == 201, filed.get_json()
    claim = filed.get_json()
    assert claim["state"] == "pending" and claim["credits"] == 20 and claim["kind"] == "claim"
    assert claim["note"] == "Gritted the school path"
    assert filed.headers["Location"].endswith(f"/api/v1/claims/{claim['id']}")
    mine = client.get("/api/v1/claims", headers=scheme.ann.auth).get_json()
    assert [c["id"] for c in mine["items"]] == [claim["id"]]
    assert client.get("/api/v1/claims", headers=scheme.bola.auth).get_json()["items"] == []
    assert_problem(
        client.get(f"/api/v1/claims/{claim['id']}", headers=scheme.bola.auth), 404, "not_found"
    )
    queue = client.get("/api/v1/earnings/queue", headers=scheme.coord.auth).get_json()
    assert [c["id"] for c in queue["items"]] == [claim["id"]]
    approve = f"/api/v1/earnings/{claim['id']}/approve"
    first = client.post(approve, json={"idempotency_key": "tap"}, headers=scheme.coord.auth)
    again = client.post(approve, json={"idempotency_key": "tap"}, headers=scheme.coord.auth)
    assert first.status_code == again.status_code == 200
    assert again.get_json()["entry_id"] == first.get_json()["entry_id"] and scheme.entries() == 1
    assert_problem(
        client.post(approve, json={"idempotency_key": "other"}, headers=scheme.coord2.auth),
        409,
        "award_not_pending",
    )
    seen = client.get(f"/api/v1/claims/{claim['id']}", headers=scheme.ann.auth).get_json()
    assert seen["state"] == "posted" and seen["first_approval"]["person"]["name"] == (
        "Cara Coordinator"
    )
    # Rejecting: the reason is kept and shown to the member.
    other = client.post(
        "/api/v1/claims", json=claim_body(idempotency_key="claim-2"), headers=scheme.ann.auth
    ).get_json()
    rejected = client.post(
        f"/api/v1/earnings/{other['id']}/reject",
        json={"reason": "You were at the other site"},
        headers=scheme.coord.auth,
    )
    assert rejected.get_json()["state"] == "rejected"
    seen = client.get(f"/api/v1/claims/{other['id']}", headers=scheme.ann.auth).get_json()
    assert seen["reject_reason"] == "You were at the other site"


BAD_CLAIMS = [
    ({"activity": "good-gym-run", "quantity": "1"}, 422, "not_in_group"),
    ({"activity": "juggling"}, 422, "unknown_activity"),
    ({"quantity": "1.5", "activity": "speed-watch"}, 422, "validation_error"),
    ({"quantity": "-2"}, 422, "validation_error"),
    ({"quantity": None}, 422, "validation_error"),
    ({"occurred_on": "2026-13-01"}, 422, "validation_error"),
    ({"idempotency_key": None}, 422, "validation_error"),
    ({"note": 5}, 422, "validation_error"),
    ({"quantity": "25"}, 422, "validation_error"),
]


@pytest.mark.parametrize("change, status, code", BAD_CLAIMS)
def test_bad_claims_are_refused_and_file_nothing(client, scheme, change, status, code):
    body = {k: v for k, v in claim_body(**change).items() if v is not None}
    assert_problem(client.post("/api/v1/claims", json=body, headers=scheme.ann.auth), status, code)
    assert scheme.awards() == 0


def test_bad_decisions(client, scheme):
    claim = scheme.claim()
    base = f"/api/v1/earnings/{claim.id}"
    for path, body, status, code in [
        (f"{base}/approve", {}, 422, "validation_error"),
        (f"{base}/approve", {"idempotency_key": ""}, 422, "validation_error"),
        (f"{base}/approve", {"idempotency_key": 5}, 422, "validation_error"),
        (f"{base}/reject", {}, 422, "validation_error"),
        (f"{base}/reject", {"reason": ""}, 422, "validation_error"),
        (f"{base}/reject", {"reason": "x" * 501}, 422, "validation_error"),
        ("/api/v1/earnings/999999/approve", {"idempotency_key": "k"}, 404, "not_found"),
        ("/api/v1/earnings/999999/reject", {"reason": "r"}, 404, "not_found"),
        ("/api/v1/earnings/abc/approve", {"idempotency_key": "k"}, 404, "not_found"),
    ]:
        assert_problem(client.post(path, json=body, headers=scheme.coord.auth), status, code)
    assert scheme.run(earning.get_award, scheme.officer, claim.id).state == "pending"
    assert scheme.entries() == 0


def test_me_entries_pages_newest_first(client, scheme):
    for n in range(5):
        scheme.record(quantity="1", key=f"p{n}")
    seen, before = [], None
    while True:
        query = "?limit=2" + (f"&before={before}" if before else "")
        page = client.get("/api/v1/me/entries" + query, headers=scheme.ann.auth).get_json()
        seen += [i["id"] for i in page["items"]]
        before = page["next_before"]
        if before is None:
            break
    assert seen == sorted(seen, reverse=True) and len(seen) == 5
    for query in ("?limit=0", "?limit=101", "?before=abc", "?before=0", "?limit=x"):
        assert_problem(
            client.get("/api/v1/me/entries" + query, headers=scheme.ann.auth),
            422,
            "validation_error",
        )
    assert client.get("/api/v1/me/entries", headers=scheme.bola.auth).get_json() == {
        "items": [],
        "next_before": None,
    }


def test_officers_manage_activities_budgets_settings_and_groups(client, scheme):
    auth = scheme.officer.auth
    created = client.post(
        "/api/v1/activities",
        json={
            "slug": "litter-pick",
            "name": "Litter pick",
            "unit": "hour",
            "credits_per_unit": 4,
            "week_cap_credits": 20,
            "month_cap_credits": 60,
            "monthly_budget_credits": 500,
        },
        headers=auth,
    )
    assert created.status_code == 201 and created.get_json()["quantity_step"] == "0.25"
    assert_problem(
        client.post(
            "/api/v1/activities", json=created.get_json() | {"quantity_step": 1}, headers=auth
        ),
        422,
        "validation_error",
    )
    changed = client.patch(
        "/api/v1/activities/litter-pick", json={"credits_per_unit": 5}, headers=auth
    )
    assert changed.get_json()["credits_per_unit"] == 5 and changed.get_json()["quantity_step"] == (
        "0.2"
    )
    client.patch("/api/v1/activities/litter-pick", json={"active": False}, headers=auth)
    listed = client.get("/api/v1/activities", headers=scheme.ann.auth).get_json()["items"]
    assert "litter-pick" not in [a["slug"] for a in listed]
    everything = client.get("/api/v1/activities?include_inactive=true", headers=auth).get_json()
    assert "litter-pick" in [a["slug"] for a in everything["items"]]
    assert_problem(
        client.get("/api/v1/activities/litter-pick", headers=scheme.ann.auth), 404, "not_found"
    )
    budgets = client.get("/api/v1/activities/snow-clearing/budgets", headers=auth).get_json()
    assert len(budgets["items"]) >= 6 and budgets["items"][0]["is_default"] is True
    put = client.put(
        "/api/v1/activities/snow-clearing/budgets/2026-12",
        json={"budget_credits": 2000},
        headers=auth,
    )
    assert put.get_json() == {
        "activity": "snow-clearing",
        "month": "2026-12",
        "budget_credits": 2000,
        "is_default": False,
        "issued_credits": 0,
        "left_credits": 2000,
    }
    settings = client.put(
        "/api/v1/earning-settings", json={"four_eyes_threshold_credits": 80}, headers=auth
    )
    assert settings.get_json()["four_eyes_threshold_credits"] == 80
    assert settings.get_json()["updated_by"].startswith(f"person:{scheme.officer.id} as officer")
    group = client.post(
        "/api/v1/groups",
        json={"name": "Tulse Hill speed watch", "activities": ["speed-watch"]},
        headers=auth,
    )
    assert group.status_code == 201
    gid = group.get_json()["id"]
    added = client.post(
        f"/api/v1/groups/{gid}/members", json={"email": scheme.zed.email}, headers=auth
    )
    assert [m["email"] for m in added.get_json()["members"]] == [scheme.zed.email]
    client.post(
        f"/api/v1/groups/{gid}/coordinators", json={"email": scheme.coord.email}, headers=auth
    )
    mine = client.get("/api/v1/groups", headers=scheme.coord.auth).get_json()["items"]
    assert sorted(g["name"] for g in mine) == ["Acre Lane snow team", "Tulse Hill speed watch"]
    assert (
        client.delete(f"/api/v1/groups/{gid}/members/{scheme.zed.id}", headers=auth).get_json()[
            "members"
        ]
        == []
    )
    renamed = client.patch(f"/api/v1/groups/{gid}", json={"name": "Tulse Hill watch"}, headers=auth)
    assert renamed.get_json()["name"] == "Tulse Hill watch"


BAD_OFFICER_REQUESTS = [
    ("post", "/api/v1/activities", {"slug": "x"}, 422, "validation_error"),
    (
        "post",
        "/api/v1/activities",
        {
            "slug": "snow-clearing",
            "name": "Again",
            "unit": "hour",
            "credits_per_unit": 1,
            "week_cap_credits": 1,
            "month_cap_credits": 1,
            "monthly_budget_credits": 1,
        },
        409,
        "activity_exists",
    ),
    (
        "patch",
        "/api/v1/activities/snow-clearing",
        {"credits_per_unit": 1.5},
        422,
        "validation_error",
    ),
    (
        "patch",
        "/api/v1/activities/snow-clearing",
        {"credits_per_unit": "10"},
        422,
        "validation_error",
    ),
    ("patch", "/api/v1/activities/snow-clearing", {"credits_per_unit": 0}, 422, "validation_error"),
    ("patch", "/api/v1/activities/snow-clearing", {"active": "no"}, 422, "validation_error"),
    ("patch", "/api/v1/activities/snow-clearing", {"slug": "renamed"}, 422, "validation_error"),
    (
        "patch",
        "/api/v1/activities/snow-clearing",
        {"week_cap_credits": 400},
        422,
        "validation_error",
    ),
    ("patch", "/api/v1/activities/nope", {"name": "x"}, 404, "not_found"),
    (
        "put",
        "/api/v1/activities/snow-clearing/budgets/2026-13",
        {"budget_credits": 1},
        422,
        "validation_error",
    ),
    (
        "put",
        "/api/v1/activities/snow-clearing/budgets/2026-11",
        {"budget_credits": -1},
        422,
        "validation_error",
    ),
    (
        "put",
        "/api/v1/activities/snow-clearing/budgets/2026-11",
        {"budget_credits": "5"},
        422,
        "validation_error",
    ),
    ("put", "/api/v1/activities/snow-clearing/budgets/2026-11", {}, 422, "validation_error"),
    ("put", "/api/v1/activities/nope/budgets/2026-11", {"budget_credits": 5}, 404, "not_found"),
    (
        "put",
        "/api/v1/earning-settings",
        {"four_eyes_threshold_credits": -1},
        422,
        "validation_error",
    ),
    (
        "put",
        "/api/v1/earning-settings",
        {"four_eyes_threshold_credits": 2.5},
        422,
        "validation_error",
    ),
    ("put", "/api/v1/earning-settings", {}, 422, "validation_error"),
    ("post", "/api/v1/groups", {"name": ""}, 422, "validation_error"),
    ("post", "/api/v1/groups", {"name": "Acre Lane snow team"}, 409, "group_exists"),
    ("post", "/api/v1/groups", {"name": "G", "activities": ["juggling"]}, 422, "validation_error"),
    (
        "post",
        "/api/v1/groups",
        {"name": "G", "activities": "snow-clearing"},
        422,
        "validation_error",
    ),
    ("patch", "/api/v1/groups/999999", {"name": "x"}, 404, "not_found"),
    ("patch", "/api/v1/groups/TEAM", {"active": "yes"}, 422, "validation_error"),
    (
        "post",
        "/api/v1/groups/TEAM/members",
        {"email": "nobody@test.example"},
        422,
        "unknown_member",
    ),
    ("post", "/api/v1/groups/TEAM/members", {"email": "not an email"}, 422, "validation_error"),
    ("post", "/api/v1/groups/TEAM/members", {}, 422, "validation_error"),
    ("post", "/api/v1/groups/TEAM/coordinators", {"email": "ANN"}, 422, "unknown_member"),
    ("delete", "/api/v1/groups/TEAM/members/999999", None, 404, "not_found"),
    ("delete", "/api/v1/groups/TEAM/coordinators/999999", None, 404, "not_found"),
]


@pytest.mark.parametrize("method, path, body, status, code", BAD_OFFICER_REQUESTS)
def test_bad_officer_requests_change_nothing(client, scheme, db, method, path, body, status, code):
    from sqlalchemy import text

    def snapshot():
        with db.read() as s:
            return [
                s.execute(text(f"SELECT * FROM {t} ORDER BY 1")).all()
                for t in (
                    "activity",
                    "activity_budget",
                    "earning_settings",
                    "volunteer_group",
                    "volunteer_group_member",
                    "volunteer_group_coordinator",
                )
            ]

    before = snapshot()
    path = path.replace("TEAM", str(scheme.snow_team))
    if body and body.get("email") == "ANN":
        body = {"email": scheme.ann.email}  # a member, not a coordinator
    call = getattr(client, method)
    kwargs = {"headers": scheme.officer.auth}
    if body is not None:
        kwargs["json"] = body
    assert_problem(call(path, **kwargs), status, code)
    assert snapshot() == before


def test_the_openapi_document_describes_the_earning_api(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    post = doc["paths"]["/api/v1/earnings"]["post"]
    assert {"201", "202", "401", "403"} <= set(post["responses"])
    assert post["security"] == [{"bearer": []}]
    quantity = doc["components"]["schemas"]["EarningIn"]["properties"]["quantity"]
    assert "Nothing is ever rounded" in quantity["description"] and len(quantity["oneOf"]) == 2
    entries = doc["paths"]["/api/v1/me/entries"]["get"]
    assert {p["name"] for p in entries["parameters"]} >= {"before", "limit"}
    for path in (
        "/api/v1/earnings/bulk",
        "/api/v1/earnings/queue",
        "/api/v1/earnings/{award_id}/approve",
        "/api/v1/claims",
        "/api/v1/activities/{slug}/budgets/{month}",
        "/api/v1/groups/{group_id}/members",
        "/api/v1/earning-settings",
    ):
        assert path in doc["paths"], path


@pytest.mark.parametrize(
    "who, path, status, code",
    [
        ("coord", "/api/v1/earnings/queue?stage=bogus", 422, "validation_error"),
        ("coord", "/api/v1/earnings/queue?limit=500", 422, "validation_error"),
        ("coord", "/api/v1/earnings/999999", 404, "not_found"),
        ("ann", "/api/v1/claims?limit=0", 422, "validation_error"),
        ("ann", "/api/v1/claims?before=-3", 422, "validation_error"),
        ("ann", "/api/v1/claims/999999", 404, "not_found"),
        ("ann", "/api/v1/activities/juggling", 404, "not_found"),
        ("officer", "/api/v1/activities/juggling/budgets", 404, "not_found"),
        ("officer", "/api/v1/activities/snow-clearing/budgets/2026-13", 422, "validation_error"),
        ("officer", "/api/v1/activities/snow-clearing/budgets/November", 422, "validation_error"),
        ("officer", "/api/v1/groups/999999", 404, "not_found"),
        ("officer", "/api/v1/groups/abc", 404, "not_found"),
    ],
)
def test_bad_reads_are_clear_problems(client, scheme, who, path, status, code):
    person = {"coord": scheme.coord, "ann": scheme.ann, "officer": scheme.officer}[who]
    assert_problem(client.get(path, headers=person.auth), status, code)
