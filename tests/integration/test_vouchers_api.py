"""Vouchers through the API: issue, replay, list, show, QR, cancel, trust list, balance."""

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import text

from credits import ledger
from credits.accounts import Role
from credits.vouchers.code import verify_code
from credits.vouchers.keys import KeyInfo
from credits.vouchers.models import VoucherState
from credits.vouchers.service import attach_closing_entry, claim_open_voucher, closing_key
from tests.problems import assert_problem

from .voucher_helpers import balance, issue, snapshot, verify_all, vouchers_outstanding


def trust_from(client):
    keys = client.get("/api/v1/trust-list").get_json()["keys"]
    return {
        k["kid"]: (
            KeyInfo.from_json({**k, "created_at": k["valid_from"]}).public_key,
            k["status"],
        )
        for k in keys
    }


def test_a_voucher_moves_credits_in_one_entry_and_its_code_verifies(client, db, make_person):
    ann = make_person(Role.MEMBER, credits=100)
    resp = issue(client, ann, 30, "first")
    assert resp.status_code == 201, resp.get_data(as_text=True)
    body = resp.get_json()
    assert {"id", "code", "amount", "expires_at", "reference"} <= set(body)
    assert body["amount"] == 30 and body["state"] == "open"
    assert resp.headers["Location"].endswith(body["id"])
    # The code is genuine under the published trust list, and says what the body says.
    claims = verify_code(body["code"], trust_from(client), now=datetime.now(UTC))
    assert claims.voucher_id.hex() == body["id"] and claims.face_value == 30
    assert claims.reference == body["reference"]
    expires = datetime.fromisoformat(body["expires_at"])
    assert claims.expires_at == int(expires.timestamp())
    assert timedelta(days=89) < expires - datetime.now(UTC) <= timedelta(days=90)
    # One entry: member -30, vouchers outstanding +30, attributed to the member's token.
    assert balance(db, ann.account_id) == 70 and vouchers_outstanding(db) == 30
    with db.read() as s:
        entry_id, kind, actor = s.execute(
            text(
                "SELECT e.id, e.kind, e.actor FROM journal_entry e "
                "JOIN voucher v ON v.issue_entry_id = e.id WHERE v.id = :v"
            ),
            {"v": body["id"]},
        ).one()
        entry = ledger.get_entry(s, entry_id)
    assert kind == "voucher_issue" and actor.startswith(f"person:{ann.id} as member via token:")
    vo = db.run(lambda s: ledger.scheme_account(s, ledger.VOUCHERS_OUTSTANDING).id)
    assert {(p.account_id, p.amount_credits) for p in entry.postings} == {
        (ann.account_id, -30),
        (vo, 30),
    }
    assert client.get("/api/v1/me/balance", headers=ann.auth).get_json() == {
        "balance": 70,
        "in_vouchers": 30,
    }
    assert verify_all(db) == []


def test_a_retry_returns_the_same_voucher_and_posts_nothing(client, db, make_person):
    ann = make_person(Role.MEMBER, credits=100)
    first = issue(client, ann, 30, "same-key")
    before = snapshot(db)
    again = issue(client, ann, 30, "same-key")
    assert again.status_code == 201 and again.get_json() == first.get_json()
    assert snapshot(db) == before
    # The same key for another amount is a conflict, and changes nothing.
    assert_problem(issue(client, ann, 31, "same-key"), 409, "idempotency_conflict")
    assert snapshot(db) == before
    # Keys are per member: Bob may use the same key text.
    bob = make_person(Role.MEMBER, credits=10)
    assert issue(client, bob, 5, "same-key").get_json()["id"] != first.get_json()["id"]


def test_several_open_vouchers_and_insufficient_funds(client, db, make_person):
    ann = make_person(Role.MEMBER, credits=50)
    ids = [issue(client, ann, n).get_json()["id"] for n in (10, 15, 20)]
    assert len(set(ids)) == 3
    before = snapshot(db)
    body = assert_problem(issue(client, ann, 6), 409, "insufficient_funds")
    assert "5 credits available" in body["detail"]
    assert snapshot(db) == before
    assert issue(client, ann, 5).status_code == 201
    assert client.get("/api/v1/me/balance", headers=ann.auth).get_json() == {
        "balance": 0,
        "in_vouchers": 50,
    }
    listed = client.get("/api/v1/vouchers", headers=ann.auth).get_json()
    assert listed["total"] == 4 and [v["amount"] for v in listed["vouchers"]] == [5, 20, 15, 10]
    assert verify_all(db) == []


def test_members_see_only_their_own_vouchers_officers_see_any(client, make_person):
    ann = make_person(Role.MEMBER, credits=50)
    bob = make_person(Role.MEMBER, credits=50)
    officer = make_person(Role.OFFICER)
    vid = issue(client, ann, 10).get_json()["id"]
    assert client.get(f"/api/v1/vouchers/{vid}", headers=ann.auth).status_code == 200
    for path in ("", "/qr.png", "/qr.svg"):
        assert_problem(
            client.get(f"/api/v1/vouchers/{vid}{path}", headers=bob.auth), 404, "not_found"
        )
        assert client.get(f"/api/v1/vouchers/{vid}{path}", headers=officer.auth).status_code == 200
    assert_problem(
        client.post(f"/api/v1/vouchers/{vid}/cancel", headers=bob.auth), 404, "not_found"
    )
    assert client.get("/api/v1/vouchers", headers=bob.auth).get_json() == {
        "vouchers": [],
        "total": 0,
    }


@pytest.mark.parametrize("role", [Role.COORDINATOR, Role.SHOP_STAFF, Role.OFFICER])
def test_only_members_make_vouchers_decided_before_the_body(client, make_person, role):
    someone = make_person(role)
    resp = client.post(
        "/api/v1/vouchers",
        data=b"{not json at all",
        content_type="application/json",
        headers=someone.auth,
    )
    assert_problem(resp, 403, "forbidden")
    assert_problem(client.post("/api/v1/vouchers", data=b"{garbage"), 401, "unauthorized")


def test_the_png_and_svg_hold_exactly_the_code(client, make_person):
    ann = make_person(Role.MEMBER, credits=50)
    body = issue(client, ann, 12).get_json()
    png = client.get(f"/api/v1/vouchers/{body['id']}/qr.png", headers=ann.auth)
    assert png.status_code == 200 and png.mimetype == "image/png"
    assert "no-store" in png.headers["Cache-Control"]
    image = Image.open(io.BytesIO(png.data))
    found = zxingcpp.read_barcodes(image)
    assert [r.text for r in found] == [body["code"]]
    assert found[0].format == zxingcpp.BarcodeFormat.QRCode
    # Version 6 (41 modules) + a 4-module quiet zone each side, 10 px a module: crisp.
    assert image.size == (490, 490)
    assert image.getpixel((39, 39)) == 255 and image.getpixel((40, 40)) == 0  # quiet zone edge
    svg = client.get(f"/api/v1/vouchers/{body['id']}/qr.svg", headers=ann.auth)
    assert svg.mimetype == "image/svg+xml" and 'viewBox="0 0 49 49"' in svg.get_data(as_text=True)
    assert "crispEdges" in svg.get_data(as_text=True)


def test_cancel_returns_the_credits_once(client, db, make_person):
    ann = make_person(Role.MEMBER, credits=40)
    vid = issue(client, ann, 25).get_json()["id"]
    resp = client.post(f"/api/v1/vouchers/{vid}/cancel", headers=ann.auth)
    assert resp.status_code == 200 and resp.get_json()["state"] == "cancelled"
    assert resp.get_json()["code"] is None
    assert balance(db, ann.account_id) == 40 and vouchers_outstanding(db) == 0
    before = snapshot(db)
    assert_problem(
        client.post(f"/api/v1/vouchers/{vid}/cancel", headers=ann.auth), 409, "voucher_cancelled"
    )
    assert_problem(
        client.get(f"/api/v1/vouchers/{vid}/qr.png", headers=ann.auth), 409, "voucher_cancelled"
    )
    assert snapshot(db) == before
    with db.read() as s:
        kinds = s.execute(text("SELECT kind, idempotency_key FROM journal_entry ORDER BY id")).all()
    assert [k for k, _ in kinds] == ["earn", "voucher_issue", "cancel"]
    assert kinds[-1][1] == closing_key(vid)
    assert verify_all(db) == []


def test_an_officer_can_cancel_and_is_named_on_the_entry(client, db, make_person):
    ann = make_person(Role.MEMBER, credits=40)
    officer = make_person(Role.OFFICER)
    vid = issue(client, ann, 25).get_json()["id"]
    assert client.post(f"/api/v1/vouchers/{vid}/cancel", headers=officer.auth).status_code == 200
    with db.read() as s:
        actor, closed_by = s.execute(
            text(
                "SELECT e.actor, v.closed_by FROM voucher v "
                "JOIN journal_entry e ON e.id = v.closed_entry_id WHERE v.id = :v"
            ),
            {"v": vid},
        ).one()
    assert actor == closed_by and actor.startswith(f"person:{officer.id} as officer")


def redeem_directly(db, vid, shop_account, amount):
    """What redemption will do: claim the voucher, then post its entry (shop + change)."""
    now = datetime.now(UTC)

    def use_case(s):
        v = claim_open_voucher(s, vid, VoucherState.REDEEMED, actor="test:shop", now=now)
        vo = ledger.scheme_account(s, ledger.VOUCHERS_OUTSTANDING).id
        legs = [ledger.Leg(vo, -v.face_value), ledger.Leg(shop_account, amount)]
        if v.face_value - amount:
            legs.append(ledger.Leg(v.account_id, v.face_value - amount))
        entry = ledger.post_entry(
            s,
            ledger.EntryRequest(
                kind=ledger.EntryKind.REDEEM,
                legs=tuple(legs),
                memo="test redemption",
                actor="test:shop",
                idempotency_key=closing_key(vid),
            ),
        )
        attach_closing_entry(s, vid, entry.id)
        return entry

    return db.run(use_case)


def test_a_redeemed_voucher_cannot_be_cancelled_or_redeemed_again(client, db, make_person):
    ann = make_person(Role.MEMBER, credits=40)
    shop = db.run(
        lambda s: ledger.open_account(s, code="shop:t", type=ledger.AccountType.SHOP, name="t")
    ).id
    vid = issue(client, ann, 25).get_json()["id"]
    redeem_directly(db, vid, shop, 20)
    assert balance(db, ann.account_id) == 20 and balance(db, shop) == 20
    before = snapshot(db)
    body = assert_problem(
        client.post(f"/api/v1/vouchers/{vid}/cancel", headers=ann.auth), 409, "already_redeemed"
    )
    assert body["redeemed_at"]
    with pytest.raises(Exception) as exc:
        redeem_directly(db, vid, shop, 25)
    assert getattr(exc.value, "code", None) == "already_redeemed"
    assert snapshot(db) == before
    assert verify_all(db) == []


def test_trust_list_etag_and_cache_headers(client, make_person):
    first = client.get("/api/v1/trust-list")
    assert first.status_code == 200 and first.mimetype == "application/json"
    assert (
        "max-age" in first.headers["Cache-Control"] and "public" in first.headers["Cache-Control"]
    )
    etag = first.headers["ETag"]
    keys = first.get_json()["keys"]
    assert len(keys) == 1 and keys[0]["status"] == "active" and keys[0]["alg"] == "Ed25519"
    assert keys[0]["use"] == "voucher" and keys[0]["valid_until"] is None
    assert first.get_json()["scheme_id"] == 1
    for header in (etag, f"W/{etag}", f'"nope", {etag}', "*"):
        again = client.get("/api/v1/trust-list", headers={"If-None-Match": header})
        assert again.status_code == 304 and again.headers["ETag"] == etag and not again.data
    assert client.get("/api/v1/trust-list", headers={"If-None-Match": '"other"'}).status_code == 200
    # Issuing vouchers does not change an active key's entry: the ETag stays.
    ann = make_person(Role.MEMBER, credits=5)
    issue(client, ann, 5)
    assert client.get("/api/v1/trust-list").headers["ETag"] == etag


def test_openapi_documents_the_voucher_endpoints(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    for path in (
        "/api/v1/vouchers",
        "/api/v1/vouchers/{voucher_id}",
        "/api/v1/vouchers/{voucher_id}/cancel",
        "/api/v1/vouchers/{voucher_id}/qr.png",
        "/api/v1/vouchers/{voucher_id}/qr.svg",
        "/api/v1/trust-list",
        "/api/v1/me/balance",
    ):
        assert path in doc["paths"], path
    assert doc["paths"]["/api/v1/vouchers"]["post"]["security"] == [{"bearer": []}]
    assert "security" not in doc["paths"]["/api/v1/trust-list"]["get"] or (
        doc["paths"]["/api/v1/trust-list"]["get"]["security"] == []
    )
    json.dumps(doc)


def test_balance_is_for_members_only(client, make_person):
    officer = make_person(Role.OFFICER)
    assert_problem(client.get("/api/v1/me/balance", headers=officer.auth), 403, "forbidden")
    assert_problem(client.get("/api/v1/me/balance"), 401, "unauthorized")


def test_a_member_may_hold_at_most_50_open_vouchers(client, db, make_person):
    from credits.vouchers.service import MAX_OPEN_VOUCHERS

    ann = make_person(Role.MEMBER, credits=100)
    made = [issue(client, ann, 1).get_json()["id"] for _ in range(MAX_OPEN_VOUCHERS)]
    before = snapshot(db)
    assert_problem(issue(client, ann, 1), 409, "too_many_open_vouchers")
    assert snapshot(db) == before
    client.post(f"/api/v1/vouchers/{made[0]}/cancel", headers=ann.auth)
    assert issue(client, ann, 1).status_code == 201


def test_responses_holding_codes_are_never_cached(client, make_person):
    ann = make_person(Role.MEMBER, credits=10)
    made = issue(client, ann, 5)
    assert made.headers["Cache-Control"] == "private, no-store"
    listed = client.get("/api/v1/vouchers", headers=ann.auth)
    assert listed.headers["Cache-Control"] == "private, no-store"
    assert "public" in client.get("/api/v1/trust-list").headers["Cache-Control"]


def test_no_qr_for_a_voucher_past_its_expiry(client, db, make_person):
    from freezegun import freeze_time

    ann = make_person(Role.MEMBER, credits=10)
    vid = issue(client, ann, 5).get_json()["id"]
    with freeze_time(datetime.now(UTC) + timedelta(days=91)):
        for kind in ("png", "svg"):
            assert_problem(
                client.get(f"/api/v1/vouchers/{vid}/qr.{kind}", headers=ann.auth), 409, "expired"
            )
