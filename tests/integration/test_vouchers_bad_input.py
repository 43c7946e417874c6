"""Malformed input of every kind to every voucher endpoint: 4xx problem+json, nothing moved."""

import pytest

from credits.accounts import Role
from tests.problems import assert_problem

from .voucher_helpers import issue, snapshot

BAD_BODIES = {
    "float": {"amount": 10.0, "idempotency_key": "k"},
    "fraction": {"amount": 10.5, "idempotency_key": "k"},
    "string amount": {"amount": "10", "idempotency_key": "k"},
    "zero": {"amount": 0, "idempotency_key": "k"},
    "negative": {"amount": -5, "idempotency_key": "k"},
    "over the largest voucher": {"amount": 1_000_001, "idempotency_key": "k"},
    "huge": {"amount": 10**30, "idempotency_key": "k"},
    "boolean": {"amount": True, "idempotency_key": "k"},
    "null amount": {"amount": None, "idempotency_key": "k"},
    "list amount": {"amount": [10], "idempotency_key": "k"},
    "object amount": {"amount": {"n": 10}, "idempotency_key": "k"},
    "missing amount": {"idempotency_key": "k"},
    "missing key": {"amount": 10},
    "empty key": {"amount": 10, "idempotency_key": ""},
    "over-long key": {"amount": 10, "idempotency_key": "k" * 201},
    "numeric key": {"amount": 10, "idempotency_key": 12345},
    "null key": {"amount": 10, "idempotency_key": None},
    "newline in key": {"amount": 10, "idempotency_key": "a\nb"},
    "non-ASCII key": {"amount": 10, "idempotency_key": "clé"},
    "unknown field": {"amount": 10, "idempotency_key": "k", "member_id": 1},
    "empty object": {},
}


@pytest.fixture
def ann(make_person):
    return make_person(Role.MEMBER, credits=1_000)


@pytest.mark.parametrize("name", list(BAD_BODIES))
def test_bad_bodies_are_refused_and_move_nothing(client, db, ann, name):
    before = snapshot(db)
    resp = client.post("/api/v1/vouchers", json=BAD_BODIES[name], headers=ann.auth)
    body = assert_problem(resp, 422, "validation_error")
    assert body["errors"], body
    assert snapshot(db) == before


@pytest.mark.parametrize(
    "data, content_type, status",
    [
        (b"{not json", "application/json", 400),
        (b"[1, 2]", "application/json", 422),
        (b'"a string"', "application/json", 422),
        (b"amount=10&idempotency_key=k", "application/x-www-form-urlencoded", 422),
        (b"", "application/json", 422),
        (b'{"amount": 10, "idempotency_key": "k"' + b" " * 70_000 + b"}", "application/json", 413),
    ],
)
def test_bodies_that_are_not_json_objects(client, db, ann, data, content_type, status):
    before = snapshot(db)
    resp = client.post("/api/v1/vouchers", data=data, content_type=content_type, headers=ann.auth)
    assert resp.status_code == status and resp.mimetype == "application/problem+json", (
        resp.status_code,
        resp.get_data(as_text=True),
    )
    assert snapshot(db) == before


MALFORMED_IDS = [
    "0" * 31,
    "0" * 33,
    "A" * 32,  # upper-case hex is not how ids are written
    "g" * 32,
    "..%2F..%2Fetc",
    "1 OR 1=1",
    "%00",
    "x" * 5000,
    "-1",
]


@pytest.mark.parametrize("path", ["", "/qr.png", "/qr.svg"])
@pytest.mark.parametrize("voucher_id", ["0" * 32, *MALFORMED_IDS])
def test_reads_of_unknown_or_malformed_ids_are_not_found(client, db, ann, path, voucher_id):
    issue(client, ann, 5)
    before = snapshot(db)
    resp = client.get(f"/api/v1/vouchers/{voucher_id}{path}", headers=ann.auth)
    assert_problem(resp, 404, "not_found")
    assert snapshot(db) == before


@pytest.mark.parametrize("voucher_id", ["0" * 32, *MALFORMED_IDS])
def test_cancelling_unknown_or_malformed_ids_moves_nothing(client, db, ann, voucher_id):
    issue(client, ann, 5)
    before = snapshot(db)
    resp = client.post(f"/api/v1/vouchers/{voucher_id}/cancel", headers=ann.auth)
    assert_problem(resp, 404, "not_found")
    assert snapshot(db) == before


def test_someone_elses_voucher_cannot_be_seen_or_cancelled(client, db, ann, make_person):
    vid = issue(client, ann, 5).get_json()["id"]
    bob = make_person(Role.MEMBER, credits=10)
    before = snapshot(db)
    for method, path in [
        ("get", ""),
        ("get", "/qr.png"),
        ("get", "/qr.svg"),
        ("post", "/cancel"),
    ]:
        resp = getattr(client, method)(f"/api/v1/vouchers/{vid}{path}", headers=bob.auth)
        assert_problem(resp, 404, "not_found")
    assert snapshot(db) == before


@pytest.mark.parametrize(
    "query",
    ["state=bogus", "limit=0", "limit=201", "limit=abc", "offset=-1", "limit=1.5"],
)
def test_bad_list_queries(client, ann, query):
    assert_problem(
        client.get(f"/api/v1/vouchers?{query}", headers=ann.auth), 422, "validation_error"
    )


@pytest.mark.parametrize(
    "method, path",
    [
        ("delete", "/api/v1/vouchers"),
        ("put", "/api/v1/vouchers/" + "0" * 32),
        ("get", "/api/v1/vouchers/" + "0" * 32 + "/cancel"),
        ("post", "/api/v1/trust-list"),
        ("post", "/api/v1/me/balance"),
    ],
)
def test_wrong_methods_are_405_with_allow(client, ann, method, path):
    resp = getattr(client, method)(path, headers=ann.auth)
    assert_problem(resp, 405, "method_not_allowed")
    assert resp.headers.get("Allow")


@pytest.mark.parametrize(
    "auth",
    [{}, {"Authorization": "Bearer cc_not-a-token"}, {"Authorization": "Basic abc"}],
)
def test_every_member_endpoint_needs_a_token(client, db, ann, auth):
    vid = issue(client, ann, 5).get_json()["id"]
    before = snapshot(db)
    for method, path in [
        ("post", "/api/v1/vouchers"),
        ("get", "/api/v1/vouchers"),
        ("get", f"/api/v1/vouchers/{vid}"),
        ("get", f"/api/v1/vouchers/{vid}/qr.png"),
        ("get", f"/api/v1/vouchers/{vid}/qr.svg"),
        ("post", f"/api/v1/vouchers/{vid}/cancel"),
        ("get", "/api/v1/me/balance"),
    ]:
        assert_problem(getattr(client, method)(path, headers=auth), 401, "unauthorized")
    assert snapshot(db) == before
