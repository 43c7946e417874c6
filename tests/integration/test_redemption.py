"""Redemption at the shop (issue 5, the ledger's side; docs/api-terminal.md)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import text

from credits import audit, ledger, shops
from credits.accounts import Role
from credits.cli import main as cli
from credits.db import utcnow
from tests.problems import assert_problem

from .ledger_helpers import all_ok, bal, counts
from .test_ledger_races import run_threads


@pytest.fixture
def officer(make_person):
    return make_person(Role.OFFICER)


def make_terminal(db, name="Brixton Bakery", till="Till 1", floor_limit=20):
    def make(s):
        by = audit.Actor.system("test")
        shop = s.execute(text("SELECT id FROM shop WHERE name = :n"), {"n": name}).scalar()
        if shop is None:
            shop = shops.create_shop(s, by, name=name).id
        terminal, token = shops.add_terminal(
            s,
            by,
            shop,
            name=till,
            limits=shops.OfflineLimits(floor_limit=floor_limit, max_count=10, max_total=100),
        )
        account = shops.shop_account_id(s, shop)
        return {
            "shop_id": shop,
            "terminal_id": terminal.id,
            "account": account,
            "auth": {"Authorization": f"Bearer {token}"},
        }

    return db.run(make)


@pytest.fixture
def till(db):
    return make_terminal(db)


@pytest.fixture
def ann(make_person):
    return make_person(Role.MEMBER, credits=100, name="Ann")


def issue(client, member, amount, key=None):
    resp = client.post(
        "/api/v1/vouchers",
        json={
            "amount": amount,
            "idempotency_key": key or f"v-{amount}-{id(member)}-{utcnow().timestamp()}",
        },
        headers=member.auth,
    )
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def redeem(client, terminal, code, key="scan-1", **body):
    return client.post(
        "/api/v1/redemptions",
        json={"code": code, "idempotency_key": key, **body},
        headers=terminal["auth"],
    )


def fetch_spent_list(client, terminal, since=None, etag=None):
    """GET /terminal/spent-vouchers as a terminal does (the ledger records when: F)."""
    headers = dict(terminal["auth"])
    if etag:
        headers["If-None-Match"] = etag
    query = f"?since={since}" if since else ""
    return client.get(f"/api/v1/terminal/spent-vouchers{query}", headers=headers)


def outstanding(db):
    with db.read() as s:
        return ledger.balance(s, ledger.scheme_account(s, ledger.VOUCHERS_OUTSTANDING).id)


def test_redeeming_a_whole_voucher(client, db, till, ann):
    v = issue(client, ann, 30)
    assert bal(db, ann.account_id) == 70 and outstanding(db) == 30
    resp = redeem(client, till, v["code"])
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["voucher_id"] == v["id"] and body["amount"] == 30 and body["change"] == 0
    assert body["shop_id"] == till["shop_id"] and body["status"] == "redeemed"
    assert body["redeemed_at"].endswith("Z") and len(body["id"]) == 32
    assert (bal(db, till["account"]), outstanding(db), bal(db, ann.account_id)) == (30, 0, 70)
    assert all_ok(db) == []


def test_taking_part_returns_the_change_in_the_same_entry(client, db, till, ann):
    v = issue(client, ann, 30)
    before = counts(db)
    body = redeem(client, till, v["code"], amount=18).get_json()
    assert (body["amount"], body["change"]) == (18, 12)
    assert (bal(db, till["account"]), outstanding(db), bal(db, ann.account_id)) == (18, 0, 82)
    assert counts(db)[0] == before[0] + 1  # one entry
    with db.read() as s:
        entry = s.execute(text("SELECT entry_id FROM redemption")).scalar_one()
        postings = ledger.get_entry(s, entry).postings
    assert sorted(p.amount_credits for p in postings) == [-30, 12, 18]


def test_a_retry_returns_the_first_answer_and_moves_nothing(client, db, till, ann):
    v = issue(client, ann, 30)
    first = redeem(client, till, v["code"], amount=10)
    before = counts(db)
    again = redeem(client, till, v["code"], amount=10)
    assert again.status_code == 201 and again.get_json() == first.get_json()
    assert counts(db) == before
    assert_problem(redeem(client, till, v["code"], amount=11), 409, "idempotency_conflict")
    # Another terminal may use the same key without meeting this one's.
    other = make_terminal(db, till="Till 2")
    assert_problem(redeem(client, other, v["code"], amount=10), 409, "already_redeemed")
    assert bal(db, till["account"]) == 10 and all_ok(db) == []


def test_a_refusal_is_not_remembered(client, db, till, ann):
    v = issue(client, ann, 30)
    assert_problem(redeem(client, till, v["code"], amount=31), 422, "amount_exceeds_voucher")
    assert redeem(client, till, v["code"], amount=30).status_code == 201


def test_already_redeemed_says_where_and_when(client, db, till, ann):
    v = issue(client, ann, 30)
    first = redeem(client, till, v["code"]).get_json()
    hardware = make_terminal(db, name="Acre Lane Hardware", till="Counter")
    body = assert_problem(
        redeem(client, hardware, v["code"], key="their-scan"), 409, "already_redeemed"
    )
    assert body["shop_id"] == till["shop_id"] and body["shop_name"] == "Brixton Bakery"
    assert body["redeemed_at"] == first["redeemed_at"]
    assert bal(db, hardware["account"]) == 0


def test_cancelled_and_expired_vouchers_are_refused(client, db, till, ann):
    v = issue(client, ann, 30)
    assert client.post(f"/api/v1/vouchers/{v['id']}/cancel", headers=ann.auth).status_code == 200
    assert_problem(redeem(client, till, v["code"]), 409, "voucher_cancelled")
    w = issue(client, ann, 10)
    with freeze_time(utcnow() + timedelta(days=91)):
        assert_problem(redeem(client, till, w["code"], key="late"), 409, "expired")
    assert bal(db, till["account"]) == 0 and all_ok(db) == []


@pytest.mark.parametrize(
    "mutate, status, code",
    [
        # Character 100 is the least significant of a Base45 group inside the signature: nudging
        # it keeps the text valid Base45 but changes a signature byte.
        (lambda c: c[:100] + ("1" if c[100] != "1" else "2") + c[101:], 422, "invalid_signature"),
        (lambda c: c[:40], 422, "malformed_code"),
        (lambda c: "not a voucher", 422, "malformed_code"),
        (lambda c: c.lower(), 422, "malformed_code"),
    ],
)
def test_bad_codes_are_refused_and_move_nothing(client, db, till, ann, mutate, status, code):
    v = issue(client, ann, 30)
    before = counts(db)
    assert_problem(redeem(client, till, mutate(v["code"])), status, code)
    assert counts(db) == before and outstanding(db) == 30


@pytest.mark.parametrize(
    "body",
    [
        {"amount": 0},
        {"amount": -5},
        {"amount": 2.5},
        {"amount": "10"},
        {"amount": 10**12},
        {"idempotency_key": ""},
        {"idempotency_key": "x" * 201},
        {"idempotency_key": "tab\there"},
        {"code": 12},
        {"offline_accepted_at": "yesterday"},
        {"offline_accepted_at": "2026-11-25T10:00:00"},
    ],
)
def test_bad_bodies_are_validation_errors(client, db, till, ann, body):
    v = issue(client, ann, 30)
    before = counts(db)
    assert_problem(
        client.post(
            "/api/v1/redemptions",
            json={"code": v["code"], "idempotency_key": "k", **body},
            headers=till["auth"],
        ),
        422,
        "validation_error",
    )
    assert counts(db) == before


def test_only_terminals_redeem_and_they_see_only_their_shop(client, db, till, ann, officer):
    v = issue(client, ann, 30)
    assert_problem(
        client.post(
            "/api/v1/redemptions",
            json={"code": v["code"], "idempotency_key": "k"},
            headers=ann.auth,
        ),
        403,
        "forbidden",
    )
    rid = redeem(client, till, v["code"]).get_json()["id"]
    other = make_terminal(db, name="Acre Lane Hardware", till="Counter")
    assert client.get(f"/api/v1/redemptions/{rid}", headers=till["auth"]).status_code == 200
    assert_problem(
        client.get(f"/api/v1/redemptions/{rid}", headers=other["auth"]), 404, "not_found"
    )
    assert [
        r["id"] for r in client.get("/api/v1/redemptions", headers=till["auth"]).get_json()
    ] == [rid]
    assert client.get("/api/v1/redemptions", headers=other["auth"]).get_json() == []
    assert len(client.get("/api/v1/redemptions", headers=officer.auth).get_json()) == 1
    assert_problem(
        client.get(f"/api/v1/redemptions?shop={till['shop_id']}", headers=other["auth"]),
        403,
        "forbidden",
    )


def test_a_revoked_terminal_cannot_redeem(client, db, till, ann, officer):
    v = issue(client, ann, 30)
    client.post(f"/api/v1/terminals/{till['terminal_id']}/revoke", headers=officer.auth)
    assert_problem(redeem(client, till, v["code"]), 401, "unauthorized")
    assert outstanding(db) == 30


# --- offline -------------------------------------------------------------------------------


def test_an_offline_acceptance_within_the_limit_is_recorded(client, db, till, ann):
    v = issue(client, ann, 15)
    with freeze_time(utcnow() + timedelta(hours=1)):
        accepted = (utcnow() - timedelta(minutes=20)).isoformat()
        body = redeem(client, till, v["code"], offline_accepted_at=accepted).get_json()
    assert body["status"] == "redeemed" and body["offline"] is True
    assert bal(db, till["account"]) == 15


def test_offline_above_the_floor_limit_is_refused(client, db, till, ann):
    v = issue(client, ann, 25)
    body = assert_problem(
        redeem(client, till, v["code"], offline_accepted_at=utcnow().isoformat()),
        422,
        "offline_limit_exceeded",
    )
    assert body["floor_limit"] == 20
    # Taking part of it, within the limit, is fine.
    assert (
        redeem(
            client, till, v["code"], key="s2", amount=20, offline_accepted_at=utcnow().isoformat()
        ).status_code
        == 201
    )


def test_offline_expiry_is_judged_when_the_shop_accepted_it(client, db, till, ann):
    v = issue(client, ann, 10)
    expires = v["expires_at"]
    from datetime import datetime

    expiry = datetime.fromisoformat(expires.replace("Z", "+00:00"))
    with freeze_time(expiry + timedelta(days=1)):
        accepted = (expiry - timedelta(hours=1)).isoformat()
        body = redeem(client, till, v["code"], offline_accepted_at=accepted).get_json()
        assert body["status"] == "redeemed"
        assert_problem(
            redeem(
                client,
                till,
                v["code"],
                key="s2",
                offline_accepted_at=(expiry + timedelta(minutes=1)).isoformat(),
            ),
            409,
            "expired",
        )
    with freeze_time(expiry - timedelta(days=1)):
        assert_problem(
            redeem(
                client,
                till,
                v["code"],
                key="s3",
                offline_accepted_at=(utcnow() + timedelta(minutes=10)).isoformat(),
            ),
            422,
            "validation_error",
        )


def test_the_same_voucher_accepted_offline_at_two_shops(client, db, till, ann, officer):
    """One redemption and one exception: the second shop is paid by the scheme; the member is
    flagged for officers."""
    v = issue(client, ann, 15)
    hardware = make_terminal(db, name="Acre Lane Hardware", till="Counter")
    assert fetch_spent_list(client, hardware).status_code == 200  # before the voucher went
    at = utcnow().isoformat()
    first = redeem(client, till, v["code"], offline_accepted_at=at).get_json()
    second = redeem(client, hardware, v["code"], key="h-1", offline_accepted_at=at)
    assert second.status_code == 201
    body = second.get_json()
    assert first["status"] == "redeemed" and body["status"] == "exception"
    assert body["exception"]["reason"] == "already_redeemed" and body["change"] == 0
    assert "Brixton Bakery" in body["exception"]["detail"]
    assert (bal(db, till["account"]), bal(db, hardware["account"])) == (15, 15)
    with db.read() as s:
        assert ledger.balance(s, ledger.scheme_account(s, ledger.ADJUSTMENTS).id) == -15
    assert redeem(client, hardware, v["code"], key="h-1", offline_accepted_at=at).get_json() == body
    queue = client.get("/api/v1/redemption-exceptions", headers=officer.auth).get_json()
    assert len(queue) == 1 and queue[0]["person_id"] == ann.id and queue[0]["amount"] == 15
    done = client.post(
        f"/api/v1/redemption-exceptions/{queue[0]['id']}/resolve",
        json={"resolution": "member repaid 15 credits"},
        headers=officer.auth,
    )
    assert done.status_code == 200 and done.get_json()["resolved_by"].startswith(
        f"person:{officer.id}"
    )
    assert client.get("/api/v1/redemption-exceptions", headers=officer.auth).get_json() == []
    assert all_ok(db) == []


def test_an_offline_acceptance_of_a_voucher_cancelled_meanwhile(client, db, till, ann):
    v = issue(client, ann, 15)
    assert fetch_spent_list(client, till).status_code == 200  # before the member cancelled
    client.post(f"/api/v1/vouchers/{v['id']}/cancel", headers=ann.auth)
    body = redeem(client, till, v["code"], offline_accepted_at=utcnow().isoformat()).get_json()
    assert body["status"] == "exception" and body["exception"]["reason"] == "voucher_cancelled"
    assert bal(db, till["account"]) == 15 and bal(db, ann.account_id) == 100


# --- reversal ------------------------------------------------------------------------------


def test_an_officer_reverses_a_redemption(client, db, till, ann, officer):
    v = issue(client, ann, 30)
    rid = redeem(client, till, v["code"], amount=18).get_json()["id"]
    assert bal(db, ann.account_id) == 82
    resp = client.post(
        f"/api/v1/redemptions/{rid}/reverse", json={"reason": "charged twice"}, headers=officer.auth
    )
    assert resp.status_code == 200 and resp.get_json()["reversed"] is True
    assert (bal(db, till["account"]), outstanding(db), bal(db, ann.account_id)) == (0, 0, 100)
    assert_problem(
        client.post(
            f"/api/v1/redemptions/{rid}/reverse", json={"reason": "again"}, headers=officer.auth
        ),
        409,
        "already_reversed",
    )
    assert_problem(
        client.post(f"/api/v1/redemptions/{rid}/reverse", json={}, headers=officer.auth),
        422,
        "validation_error",
    )
    assert_problem(
        client.post(
            f"/api/v1/redemptions/{'0' * 32}/reverse", json={"reason": "x"}, headers=officer.auth
        ),
        404,
        "not_found",
    )
    assert_problem(
        client.post(
            f"/api/v1/redemptions/{rid}/reverse", json={"reason": "x"}, headers=till["auth"]
        ),
        403,
        "forbidden",
    )
    # The voucher stays spent.
    assert_problem(redeem(client, till, v["code"], key="again"), 409, "already_redeemed")
    assert all_ok(db) == []


# --- the terminal's journal ---------------------------------------------------------------


def test_journal_upload_latest_report_wins(client, db, till):
    entry = {
        "scan_id": "s-1",
        "voucher_id": "a" * 32,
        "amount": 12,
        "outcome": "queued",
        "redemption_id": None,
        "at": utcnow().isoformat(),
        "offline_accepted_at": utcnow().isoformat(),
        "reason": None,
        "app_version": "1.2",
    }
    resp = client.post("/api/v1/terminal/journal", json={"entries": [entry]}, headers=till["auth"])
    assert resp.status_code == 200 and resp.get_json() == {"accepted": 1}
    updated = {**entry, "outcome": "redeemed", "redemption_id": "b" * 32}
    client.post("/api/v1/terminal/journal", json={"entries": [updated]}, headers=till["auth"])
    with db.read() as s:
        rows = s.execute(
            text("SELECT outcome, redemption_id, extra FROM terminal_journal_entry")
        ).all()
    assert len(rows) == 1 and rows[0][0] == "redeemed" and rows[0][1] == "b" * 32
    assert "app_version" in str(rows[0][2])


@pytest.mark.parametrize(
    "entries",
    [
        [],
        [{"scan_id": "s"}],
        [
            {
                "scan_id": "s",
                "voucher_id": "xyz",
                "amount": 1,
                "outcome": "redeemed",
                "at": "2026-11-25T10:00:00Z",
            }
        ],
        [
            {
                "scan_id": "s",
                "voucher_id": "a" * 32,
                "amount": 1,
                "outcome": "lost",
                "at": "2026-11-25T10:00:00Z",
            }
        ],
        [
            {
                "scan_id": "s",
                "voucher_id": "a" * 32,
                "amount": 1.5,
                "outcome": "redeemed",
                "at": "2026-11-25T10:00:00Z",
            }
        ],
        [
            {
                "scan_id": "s",
                "voucher_id": "a" * 32,
                "amount": 1,
                "outcome": "redeemed",
                "at": "2099-01-01T00:00:00Z",
            }
        ],
    ],
)
def test_bad_journal_uploads_are_refused(client, db, till, entries):
    resp = client.post("/api/v1/terminal/journal", json={"entries": entries}, headers=till["auth"])
    assert resp.status_code == 422 and resp.get_json()["code"] == "validation_error"
    with db.read() as s:
        assert s.execute(text("SELECT count(*) FROM terminal_journal_entry")).scalar_one() == 0


# --- verify, and races ---------------------------------------------------------------------


def test_verify_passes_after_a_day_of_trading(client, db, till, ann, runner):
    for amount, take in [(30, 30), (20, 5), (10, None)]:
        v = issue(client, ann, amount)
        redeem(client, till, v["code"], key=f"k{amount}", **({"amount": take} if take else {}))
    result = runner.invoke(cli, ["verify"])
    assert result.exit_code == 0, result.output


@pytest.mark.postgres
def test_32_concurrent_redemptions_of_one_voucher_across_two_terminals(app, db, till, ann, client):
    v = issue(client, ann, 30)
    other = make_terminal(db, till="Till 2")
    terminals = [till, other]

    def attempt(i):
        c = app.test_client()
        t = terminals[i % 2]
        return c.post(
            "/api/v1/redemptions",
            json={"code": v["code"], "idempotency_key": f"race-{i}"},
            headers=t["auth"],
        )

    outcomes = run_threads(32, attempt)
    statuses = Counter(r.status_code for r in outcomes)
    assert statuses == Counter({201: 1, 409: 31}), statuses
    assert {r.get_json()["code"] for r in outcomes if r.status_code == 409} == {"already_redeemed"}
    assert other["account"] == till["account"]  # two tills of one shop
    assert bal(db, till["account"]) == 30 and outstanding(db) == 0
    assert all_ok(db) == []


@pytest.mark.postgres
def test_concurrent_retries_with_one_key_answer_the_same(app, db, till, ann, client):
    v = issue(client, ann, 30)
    outcomes = run_threads(
        16,
        lambda i: app.test_client().post(
            "/api/v1/redemptions",
            json={"code": v["code"], "idempotency_key": "same"},
            headers=till["auth"],
        ),
    )
    assert {r.status_code for r in outcomes} == {201}, [r.get_json() for r in outcomes]
    assert len({r.get_json()["id"] for r in outcomes}) == 1
    assert bal(db, till["account"]) == 30 and all_ok(db) == []


@pytest.mark.postgres
def test_online_redemptions_take_the_one_statement_path(client, db, till, ann, monkeypatch):
    """On PostgreSQL an online redemption never runs the Python use case, and the entry it
    posts has the fingerprint Python would have given it."""
    from credits.ledger.posting import request_fingerprint
    from credits.redemption import fast

    def refuse(*args, **kwargs):
        raise AssertionError("the Python use case ran for an online redemption")

    monkeypatch.setattr(fast, "redeem", refuse)
    v = issue(client, ann, 30)
    body = redeem(client, till, v["code"], amount=18).get_json()
    assert body["change"] == 12
    again = redeem(client, till, v["code"], amount=18).get_json()
    assert again == body
    with db.read() as s:
        entry_id, stored = s.execute(
            text(
                "SELECT e.id, e.request_hash FROM journal_entry e "
                "JOIN redemption r ON r.entry_id = e.id"
            )
        ).one()
        entry = ledger.get_entry(s, entry_id)
    python = request_fingerprint(
        ledger.EntryRequest(
            kind=entry.kind,
            legs=tuple(ledger.Leg(p.account_id, p.amount_credits) for p in entry.postings),
            memo=entry.memo,
            actor=entry.actor,
            idempotency_key=entry.idempotency_key,
        )
    )
    assert stored == python
    assert all_ok(db) == []


def test_revoking_a_cached_terminal_token_stops_redemptions_at_once(client, db, till, ann, officer):
    v = issue(client, ann, 10)
    w = issue(client, ann, 10)
    assert redeem(client, till, v["code"]).status_code == 201  # the token is now cached
    from credits.api.auth import _TOKEN_CACHE, token_digest

    digest = token_digest(till["auth"]["Authorization"].removeprefix("Bearer "))
    assert digest in _TOKEN_CACHE, "the redemption endpoint caches terminal tokens"
    client.post(f"/api/v1/terminals/{till['terminal_id']}/revoke", headers=officer.auth)
    assert_problem(redeem(client, till, w["code"], key="after"), 401, "unauthorized")
    assert outstanding(db) == 10
    # The API edge drops the revoked token from its worker cache (the use case only refuses).
    assert digest not in _TOKEN_CACHE
