"""Offline claims on spent vouchers are bounded (issue 12, item 1; docs/redemption.md, "The
bounding rule"): the reproduction line by line through the HTTP API, each rule, held claims
and officers' decisions, the spent list, the verify check. Both databases."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import text

from credits import ledger
from credits.accounts import Role
from credits.cli import main as cli
from credits.db import utcnow
from credits.ledger import Month
from credits.redemption import spent_list as spent
from tests.problems import assert_problem

from .ledger_helpers import all_ok, bal, counts
from .test_redemption import fetch_spent_list, issue, make_terminal, outstanding, redeem
from .web_helpers import post_form, sign_in


@pytest.fixture
def officer(make_person):
    return make_person(Role.OFFICER)


@pytest.fixture
def chen(make_person):
    return make_person(Role.MEMBER, credits=100, name="Chen")


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def offline(client, terminal, code, key, at=None, **body):
    return redeem(client, terminal, code, key=key, offline_accepted_at=iso(at or utcnow()), **body)


def adjustments(db) -> int:
    with db.read() as s:
        return ledger.balance(s, ledger.scheme_account(s, ledger.ADJUSTMENTS).id)


def shop_nets(client, officer) -> dict[int, int]:
    month = Month.containing(utcnow())
    resp = client.get(f"/api/v1/statements/{month}", headers=officer.auth)
    assert resp.status_code == 200, resp.get_json()
    return {line["shop_id"]: line["net"] for line in resp.get_json()["per_shop"]}


def claims(client, officer, **query) -> list[dict]:
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    resp = client.get(f"/api/v1/redemption-exceptions?{qs}", headers=officer.auth)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def spent_list_at(db) -> datetime | None:
    """F as the ledger recorded it for the (only) terminal."""
    from sqlalchemy import select

    from credits.shops.models import Terminal

    with db.read() as s:
        return s.execute(select(Terminal.spent_list_at)).scalar_one()


def claim_rows(db) -> list[tuple[str, str | None, int]]:
    with db.read() as s:
        return [
            tuple(r)
            for r in s.execute(
                text("SELECT status, rule, amount FROM redemption_exception ORDER BY submitted_at")
            )
        ]


# --- the reproduction of issue 12, item 1 -------------------------------------------------


def test_the_reproduction_pays_at_most_face_value_plus_one_exception(
    client, db, chen, officer, runner
):
    """Chen's 4-credit voucher: terminal 1 (shop 1) redeems it online; terminal 2 (shop 2),
    which had fetched its spent list before, posts it three times "offline" with new keys;
    terminal 1 posts it "offline" too; and a claim dated before the voucher was issued."""
    t1 = make_terminal(db, name="Shop One", till="Terminal 1")
    t2 = make_terminal(db, name="Shop Two", till="Terminal 2")
    v = issue(client, chen, 4)
    assert fetch_spent_list(client, t2).status_code == 200  # shop 2 followed the rules
    before = shop_nets(client, officer)

    online = redeem(client, t1, v["code"], key="t1-online")
    assert online.status_code == 201 and online.get_json()["status"] == "redeemed"

    answers = [offline(client, t2, v["code"], f"t2-offline-{n}") for n in range(3)]
    assert [a.status_code for a in answers] == [201, 409, 409]
    assert answers[0].get_json()["status"] == "exception"
    for refused in answers[1:]:
        body = assert_problem(refused, 409, "already_redeemed")
        assert body["shop_id"] == t1["shop_id"] and body["claim"]["rule"] == "already_claimed"

    own = assert_problem(offline(client, t1, v["code"], "t1-offline"), 409, "already_redeemed")
    assert own["claim"]["rule"] == "same_shop" and own["shop_id"] == t1["shop_id"]

    w = issue(client, chen, 4)
    entries = counts(db)
    early = assert_problem(
        offline(client, t2, w["code"], "t2-early", at=utcnow() - timedelta(hours=2)),
        422,
        "validation_error",
    )
    assert "offline_accepted_at" in early["errors"]
    assert counts(db) == entries  # nothing moved

    after = shop_nets(client, officer)
    moved = {k: after.get(k, 0) - before.get(k, 0) for k in (t1["shop_id"], t2["shop_id"])}
    assert moved == {t1["shop_id"]: 4, t2["shop_id"]: 4}  # face value + one exception
    assert adjustments(db) == -4 and outstanding(db) == 4  # w is still open
    assert claim_rows(db) == [
        ("paid", None, 4),
        ("refused", "already_claimed", 4),
        ("refused", "already_claimed", 4),
        ("refused", "same_shop", 4),
    ]
    # Every claim is listed for officers, with its reason.
    listed = claims(client, officer)
    assert sorted((c["status"], c["rule"]) for c in listed) == [
        ("paid", None),
        ("refused", "already_claimed"),
        ("refused", "already_claimed"),
        ("refused", "same_shop"),
    ]
    assert {c["person_id"] for c in listed} == {chen.id}
    assert all_ok(db) == []
    result = runner.invoke(cli, ["verify"])
    assert result.exit_code == 0 and "redemption_exceptions" in result.output, result.output


def test_a_shop_without_a_fresh_spent_list_gets_no_exception(client, db, chen, officer):
    """The issue's terminal 2 as it was: it never fetched the spent list. Its claims are all
    refused: the scheme guarantees an offline acceptance only to terminals that kept the
    offline rules."""
    t1 = make_terminal(db, name="Shop One", till="Terminal 1")
    t2 = make_terminal(db, name="Shop Two", till="Terminal 2")
    v = issue(client, chen, 4)
    redeem(client, t1, v["code"], key="online")
    for n in range(3):
        body = assert_problem(offline(client, t2, v["code"], f"k{n}"), 409, "already_redeemed")
        assert body["claim"]["rule"] == "no_fresh_list"
    assert bal(db, t2["account"]) == 0 and adjustments(db) == 0
    assert [c["rule"] for c in claims(client, officer)] == ["no_fresh_list"] * 3


# --- each rule ------------------------------------------------------------------------------


def test_a_voucher_on_the_terminals_spent_list_is_refused(client, db, chen):
    t1 = make_terminal(db, name="Shop One", till="T1")
    t2 = make_terminal(db, name="Shop Two", till="T2")
    v = issue(client, chen, 10)
    redeem(client, t1, v["code"], key="online")
    # F is the list's as_of, two minutes behind the ledger's clock: fetch it later than that.
    with freeze_time(utcnow() + timedelta(minutes=3)):
        listed = fetch_spent_list(client, t2).get_json()
        assert [r[0] for r in listed["redeemed"]] == [v["id"]]
        body = assert_problem(offline(client, t2, v["code"], "k"), 409, "already_redeemed")
    assert body["claim"]["rule"] == "on_spent_list" and bal(db, t2["account"]) == 0


def test_a_list_older_than_a_day_when_the_shop_accepted_is_not_fresh(client, db, chen):
    t1 = make_terminal(db, name="Shop One", till="T1")
    t2 = make_terminal(db, name="Shop Two", till="T2")
    start = utcnow()
    v = issue(client, chen, 10)
    fetch_spent_list(client, t2)  # F = start - 2 min
    with freeze_time(start + timedelta(hours=25)):
        redeem(client, t1, v["code"], key="online")
        # Accepted 24 h 10 min after its list: too old.
        at = start + timedelta(hours=24, minutes=10)
        body = assert_problem(
            offline(client, t2, v["code"], "late", at=at), 409, "already_redeemed"
        )
        assert body["claim"]["rule"] == "no_fresh_list"
        # Accepted 23 h after its list: fresh enough, the scheme pays.
        at = start + timedelta(hours=23)
        assert offline(client, t2, v["code"], "fresh", at=at).status_code == 201
    assert bal(db, t2["account"]) == 10


def test_a_shop_the_ledger_told_online_gets_no_exception(client, db, chen):
    """Terminal 2 asked online and was told "already used"; its claim of the same voucher
    afterwards (or another terminal's of the same shop) is refused. On PostgreSQL the online
    refusal is recorded by the one-statement function."""
    t1 = make_terminal(db, name="Shop One", till="T1")
    t2 = make_terminal(db, name="Shop Two", till="T2")
    t2b = make_terminal(db, name="Shop Two", till="T2b")
    v = issue(client, chen, 10)
    fetch_spent_list(client, t2b)
    redeem(client, t1, v["code"], key="online")
    assert_problem(redeem(client, t2, v["code"], key="asked"), 409, "already_redeemed")
    body = assert_problem(offline(client, t2b, v["code"], "claim"), 409, "already_redeemed")
    assert body["claim"]["rule"] == "told_online"
    with db.read() as s:
        told = s.execute(text("SELECT shop_id, terminal_id, code FROM redemption_refusal")).all()
    assert told == [(t2["shop_id"], t2["terminal_id"], "already_redeemed")]


def test_cancelled_then_claimed(client, db, chen):
    t1 = make_terminal(db, name="Shop One", till="T1")
    v = issue(client, chen, 10)
    w = issue(client, chen, 10)
    fetch_spent_list(client, t1)
    for voucher in (v, w):
        client.post(f"/api/v1/vouchers/{voucher['id']}/cancel", headers=chen.auth)
    body = offline(client, t1, v["code"], "k1").get_json()
    assert body["status"] == "exception" and body["exception"]["reason"] == "voucher_cancelled"
    # The member was told online too late for the shop: it is still one claim per voucher.
    assert_problem(redeem(client, t1, w["code"], key="asked"), 409, "voucher_cancelled")
    refused = assert_problem(offline(client, t1, w["code"], "k2"), 409, "voucher_cancelled")
    assert refused["claim"]["rule"] == "told_online"
    assert bal(db, t1["account"]) == 10 and bal(db, chen.account_id) == 100


# --- the bounds on offline_accepted_at ---------------------------------------------------


@pytest.mark.parametrize(
    "shift, words",
    [
        (timedelta(minutes=-6), "before the voucher was issued"),
        (timedelta(minutes=6), "in the future"),
    ],
)
def test_offline_time_bounds_refuse_before_anything_moves(client, db, chen, shift, words):
    t1 = make_terminal(db)
    with freeze_time(utcnow()) as clock:
        v = issue(client, chen, 10)
        before = counts(db)
        body = assert_problem(
            offline(client, t1, v["code"], "k", at=utcnow() + shift), 422, "validation_error"
        )
        assert words in body["detail"] and "offline_accepted_at" in body["errors"]
        assert counts(db) == before and outstanding(db) == 10
        # Within the five-minute allowance either way: accepted.
        clock.tick(timedelta(minutes=1))
        at = utcnow() - timedelta(minutes=1) + (shift / 6 * 4)
        assert offline(client, t1, v["code"], "k2", at=at).status_code == 201


def test_offline_claims_older_than_30_days_are_refused(client, db, chen):
    t1 = make_terminal(db)
    v = issue(client, chen, 10)
    start = utcnow()
    with freeze_time(start + timedelta(days=31)):
        assert_problem(
            offline(client, t1, v["code"], "k", at=start + timedelta(hours=1)),
            422,
            "validation_error",
        )


# --- idempotency of recorded claims -------------------------------------------------------


def _without_request_id(resp):
    body = dict(resp.get_json())
    assert body.pop("request_id")
    return body


def test_every_recorded_claim_replays_its_first_answer(client, db, chen):
    t1 = make_terminal(db, name="Shop One", till="T1")
    t2 = make_terminal(db, name="Shop Two", till="T2")
    v = issue(client, chen, 10)
    fetch_spent_list(client, t2)
    redeem(client, t1, v["code"], key="online")
    at = utcnow()
    paid = offline(client, t2, v["code"], "paid", at=at)
    refused = offline(client, t2, v["code"], "refused", at=at)
    assert (paid.status_code, refused.status_code) == (201, 409)
    entries = counts(db)
    assert offline(client, t2, v["code"], "paid", at=at).get_json() == paid.get_json()
    again = offline(client, t2, v["code"], "refused", at=at)
    # The same problem again; only request_id, which names each request, differs.
    assert again.status_code == 409 and _without_request_id(again) == _without_request_id(refused)
    assert_problem(
        offline(client, t2, v["code"], "refused", at=at, amount=5), 409, "idempotency_conflict"
    )
    assert counts(db) == entries and len(claim_rows(db)) == 2


# --- held claims and officers' decisions -----------------------------------------------------


def set_ceiling(client, officer, terminal, count, credits):
    resp = client.patch(
        f"/api/v1/terminals/{terminal['terminal_id']}",
        json={
            "offline": {
                "floor_limit": 20,
                "max_count": 10,
                "max_total": 100,
                "exceptions_per_month": count,
                "exception_credits_per_month": credits,
            }
        },
        headers=officer.auth,
    )
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["offline"]["exceptions_per_month"] == count


def spend_elsewhere(client, db, member, elsewhere, amount):
    v = issue(client, member, amount)
    redeem(client, elsewhere, v["code"], key=f"online-{v['id']}")
    return v


def test_above_the_monthly_ceiling_a_claim_is_held_for_an_officer(client, db, chen, officer):
    t1 = make_terminal(db, name="Shop One", till="T1")
    t2 = make_terminal(db, name="Shop Two", till="T2")
    set_ceiling(client, officer, t2, 1, 60)
    fetch_spent_list(client, t2)
    first, second, third = (spend_elsewhere(client, db, chen, t1, 5) for _ in range(3))
    at = utcnow()
    assert offline(client, t2, first["code"], "a").status_code == 201
    held = offline(client, t2, second["code"], "b", at=at)
    assert held.status_code == 202, held.get_json()
    body = held.get_json()
    assert body["status"] == "held" and body["amount"] == 5 and body["change"] == 0
    assert bal(db, t2["account"]) == 5 and adjustments(db) == -5  # nothing more paid
    assert offline(client, t2, second["code"], "b", at=at).status_code == 202  # replays
    # One claim per voucher: a third shop's claim of the held voucher is refused.
    t3 = make_terminal(db, name="Shop Three", till="T3")
    fetch_spent_list(client, t3)
    refused = assert_problem(offline(client, t3, second["code"], "c"), 409, "already_redeemed")
    assert refused["claim"]["rule"] == "already_claimed"

    [waiting] = claims(client, officer, status="held")
    assert waiting["rule"] == "monthly_ceiling" and waiting["id"] == body["exception"]["id"]
    paid = client.post(
        f"/api/v1/redemption-exceptions/{waiting['id']}/pay",
        json={"reason": "checked the till roll"},
        headers=officer.auth,
    )
    assert paid.status_code == 200, paid.get_json()
    assert paid.get_json()["status"] == "paid" and paid.get_json()["decided_by"].startswith(
        f"person:{officer.id}"
    )
    assert bal(db, t2["account"]) == 10 and adjustments(db) == -10
    assert_problem(
        client.post(
            f"/api/v1/redemption-exceptions/{waiting['id']}/pay", json={}, headers=officer.auth
        ),
        409,
        "claim_not_held",
    )
    # The first answer stays the first answer.
    assert offline(client, t2, second["code"], "b", at=at).status_code == 202

    # Declined: with a reason, nothing paid.
    declined = offline(client, t2, third["code"], "d").get_json()
    assert declined["status"] == "held"
    claim_id = declined["exception"]["id"]
    assert_problem(
        client.post(
            f"/api/v1/redemption-exceptions/{claim_id}/decline", json={}, headers=officer.auth
        ),
        422,
        "validation_error",
    )
    done = client.post(
        f"/api/v1/redemption-exceptions/{claim_id}/decline",
        json={"reason": "the shop was online all day"},
        headers=officer.auth,
    )
    assert done.status_code == 200 and done.get_json()["status"] == "declined"
    assert bal(db, t2["account"]) == 10 and adjustments(db) == -10
    with db.read() as s:
        actions = s.execute(
            text("SELECT action FROM audit_event WHERE action LIKE 'redemption.exception_%'")
        ).scalars()
        assert sorted(actions) == ["redemption.exception_decline", "redemption.exception_pay"]
    assert all_ok(db) == []


def test_the_credit_ceiling_holds_a_claim_too(client, db, chen, officer):
    t1 = make_terminal(db, name="Shop One", till="T1")
    t2 = make_terminal(db, name="Shop Two", till="T2")
    set_ceiling(client, officer, t2, 10, 15)
    fetch_spent_list(client, t2)
    a, b = spend_elsewhere(client, db, chen, t1, 10), spend_elsewhere(client, db, chen, t1, 10)
    assert offline(client, t2, a["code"], "a").status_code == 201
    assert offline(client, t2, b["code"], "b", amount=5).status_code == 201  # exactly 15
    c = spend_elsewhere(client, db, chen, t1, 10)
    assert offline(client, t2, c["code"], "c", amount=1).status_code == 202


def test_the_ceiling_counts_the_london_month(client, db, chen, officer):
    t1 = make_terminal(db, name="Shop One", till="T1")
    t2 = make_terminal(db, name="Shop Two", till="T2")
    set_ceiling(client, officer, t2, 1, 60)
    fetch_spent_list(client, t2)
    a = spend_elsewhere(client, db, chen, t1, 5)
    assert offline(client, t2, a["code"], "a").status_code == 201
    nxt = Month.containing(utcnow()).next().starts_at
    with freeze_time(nxt + timedelta(minutes=10)):
        fetch_spent_list(client, t2)
        b = spend_elsewhere(client, db, chen, t1, 5)
        assert offline(client, t2, b["code"], "b").status_code == 201  # a new month


def test_the_web_page_sets_the_ceiling(client, db, officer):
    t1 = make_terminal(db, name="Shop One", till="T1")
    sign_in(client, officer.email)
    page = client.get(f"/officer/shops/{t1['shop_id']}")
    assert "Monthly exception ceiling" in page.get_data(as_text=True)
    resp = post_form(
        client,
        f"/officer/shops/{t1['shop_id']}/terminals/{t1['terminal_id']}",
        from_page=f"/officer/shops/{t1['shop_id']}",
        data={
            "action": "limits",
            "floor_limit": "20",
            "max_count": "10",
            "max_total": "100",
            "exceptions_per_month": "5",
            "exception_credits_per_month": "75",
        },
    )
    assert resp.status_code == 302, resp.data
    with db.read() as s:
        assert s.execute(
            text("SELECT exceptions_per_month, exception_credits_per_month FROM terminal")
        ).one() == (5, 75)


# --- the spent list -----------------------------------------------------------------------


def test_the_spent_list_full_incremental_304_and_expiry(client, db, chen, officer):
    t1 = make_terminal(db, name="Shop One", till="T1")
    start = utcnow()
    short = issue(client, chen, 5)
    kept = issue(client, chen, 5)
    gone = issue(client, chen, 5)
    redeem(client, t1, short["code"], key="a")
    redeem(client, t1, kept["code"], key="b")
    client.post(f"/api/v1/vouchers/{gone['id']}/cancel", headers=chen.auth)
    assert spent_list_at(db) is None

    with freeze_time(start + timedelta(minutes=5)):
        full = fetch_spent_list(client, t1)
        assert full.status_code == 200
        body = full.get_json()
        assert body["full"] is True and body["more"] is False
        assert sorted(r[0] for r in body["redeemed"]) == sorted([short["id"], kept["id"]])
        assert [r[0] for r in body["cancelled"]] == [gone["id"]]
        expiry = {v["id"]: parse(v["expires_at"]) for v in (short, kept)}
        assert dict(body["redeemed"]) == {k: int(t.timestamp()) for k, t in expiry.items()}
        as_of = parse(body["as_of"])
        assert as_of == utcnow() - spent.OVERLAP
        assert spent_list_at(db) == as_of  # F: recorded by the ledger
        cursor, etag = body["cursor"], full.headers["ETag"]

    with freeze_time(start + timedelta(minutes=7)):
        # Nothing closed since the cursor: an empty answer, the same cursor (not worth moving
        # yet) ...
        first = fetch_spent_list(client, t1, since=cursor, etag=etag)
        assert first.status_code == 200 and first.get_json()["cursor"] == cursor
        assert first.get_json()["redeemed"] == first.get_json()["cancelled"] == []
        etag = first.headers["ETag"]
    with freeze_time(start + timedelta(minutes=8)):
        # ... and then 304 while nothing closes (F still moves on).
        same = fetch_spent_list(client, t1, since=cursor, etag=etag)
        assert same.status_code == 304 and same.headers["ETag"] == etag
        assert spent_list_at(db) == utcnow() - spent.OVERLAP
        # A voucher spent since: the same question gets a new answer.
        newer = issue(client, chen, 5)
        redeem(client, t1, newer["code"], key="c")
        inc = fetch_spent_list(client, t1, since=cursor, etag=etag)
        assert inc.status_code == 200 and inc.get_json()["full"] is False
        assert [r[0] for r in inc.get_json()["redeemed"]] == [newer["id"]]
        expiry[newer["id"]] = parse(newer["expires_at"])

    # Past their expiry, vouchers drop out of the list.
    with freeze_time(max(expiry.values()) + timedelta(seconds=1)):
        assert fetch_spent_list(client, t1).get_json()["redeemed"] == []
    assert_problem(fetch_spent_list(client, t1, since="yesterday"), 422, "validation_error")
    assert_problem(
        client.get("/api/v1/terminal/spent-vouchers", headers=officer.auth), 403, "forbidden"
    )


def test_the_spent_list_comes_in_pages(client, db, chen, monkeypatch):
    monkeypatch.setattr(spent, "PAGE", 2)
    t1 = make_terminal(db)
    ids = []
    for n in range(5):
        v = issue(client, chen, 1)
        redeem(client, t1, v["code"], key=f"k{n}")
        ids.append(v["id"])
    seen: list[str] = []
    body = fetch_spent_list(client, t1).get_json()
    pages = 1
    while True:
        seen += [r[0] for r in body["redeemed"]]
        if not body["more"]:
            break
        body = fetch_spent_list(client, t1, since=body["cursor"]).get_json()
        pages += 1
    assert pages == 3 and sorted(seen) == sorted(ids)
    # The walk's last cursor goes back to when it started: the next answer repeats the
    # overlap rather than miss a late commit.
    assert "." not in body["cursor"]


# --- verify -----------------------------------------------------------------------------


def test_verify_finds_a_paid_claim_without_its_entry_and_a_second_paying_claim(
    client, db, chen, runner
):
    t1 = make_terminal(db, name="Shop One", till="T1")
    t2 = make_terminal(db, name="Shop Two", till="T2")
    v = issue(client, chen, 10)
    fetch_spent_list(client, t2)
    redeem(client, t1, v["code"], key="online")
    assert offline(client, t2, v["code"], "paid").status_code == 201
    assert offline(client, t2, v["code"], "refused").status_code == 409
    assert runner.invoke(cli, ["verify"]).exit_code == 0
    with db.engine.begin() as conn:
        redeem_entry = conn.execute(text("SELECT entry_id FROM redemption")).scalar_one()
        conn.execute(
            text("UPDATE redemption_exception SET entry_id = :e WHERE status = 'paid'"),
            {"e": redeem_entry},
        )
    result = runner.invoke(cli, ["verify"])
    assert result.exit_code != 0 and "its entry is redeem" in result.output, result.output
    # The database refuses a second claim that pays; verify would say so too.
    with pytest.raises(Exception, match=r"(?i)unique"), db.engine.begin() as conn:
        conn.execute(text("UPDATE redemption_exception SET status = 'held' WHERE rule IS NOT NULL"))
