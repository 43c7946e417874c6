"""The adjustment pages: the form from the person page, the pending list, approve and reject
by a second officer, and refusals shown on the page."""

from __future__ import annotations

import re
from typing import Any

import pytest

from credits.accounts import Role

from ..people_helpers import snapshot
from ..voucher_helpers import balance
from ..web_helpers import csrf_from, post_form, sign_in

HTML = {"Accept": "text/html"}


@pytest.fixture
def member(make_person: Any) -> Any:
    return make_person(Role.MEMBER, credits=20, name="Mo Member")


@pytest.fixture
def first(make_person: Any, app: Any) -> Any:
    officer = make_person(Role.OFFICER, name="Olive Officer")
    browser = app.test_client()
    assert sign_in(browser, officer.email).status_code == 302
    return browser


@pytest.fixture
def second(make_person: Any, app: Any) -> Any:
    officer = make_person(Role.OFFICER, name="Oscar Officer")
    browser = app.test_client()
    assert sign_in(browser, officer.email).status_code == 302
    return browser


def adjust(browser: Any, member: Any, **fields: str) -> Any:
    path = f"/officer/people/{member.id}/adjust"
    form = browser.get(path).get_data(as_text=True)
    key = re.search(r'name="idempotency_key" value="([^"]+)"', form)
    assert key
    data = {"direction": "credit", "idempotency_key": key.group(1), **fields}
    return browser.post(path, data={**data, "csrf_token": csrf_from(form)})


def test_the_person_page_links_to_the_form(first, member):
    body = first.get(f"/officer/people/{member.id}").get_data(as_text=True)
    assert f"/officer/people/{member.id}/adjust" in body
    form = first.get(f"/officer/people/{member.id}/adjust").get_data(as_text=True)
    assert "holds <strong>20 credits</strong>" in form


def test_a_small_credit_posts_and_a_large_one_waits_for_another_officer(first, second, member, db):
    resp = adjust(first, member, amount="5", reason="Sheet lost")
    assert resp.status_code == 302
    assert balance(db, member.account_id) == 25

    resp = adjust(first, member, amount="80", reason="Whole season of runs missing")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/officer/adjustments")
    assert balance(db, member.account_id) == 25
    mine = first.get("/officer/adjustments").get_data(as_text=True)
    assert "Whole season of runs missing" in mine
    assert "You asked for this" in mine

    theirs = second.get("/officer/adjustments").get_data(as_text=True)
    match = re.search(r'action="(/officer/adjustments/(\d+)/approve)"', theirs)
    assert match, theirs
    done = post_form(second, match.group(1), {}, from_page="/officer/adjustments")
    assert done.status_code == 302
    assert balance(db, member.account_id) == 105
    assert "Nothing is waiting." in second.get("/officer/adjustments").get_data(as_text=True)


def test_a_second_officer_rejects_with_a_reason(first, second, member, db):
    adjust(first, member, amount="70", reason="Duplicate?")
    page = second.get("/officer/adjustments").get_data(as_text=True)
    path = re.search(r'action="(/officer/adjustments/\d+/reject)"', page)
    assert path
    empty = post_form(second, path.group(1), {"reason": ""}, from_page="/officer/adjustments")
    assert empty.status_code == 422
    done = post_form(
        second, path.group(1), {"reason": "Already paid"}, from_page="/officer/adjustments"
    )
    assert done.status_code == 302
    listed = second.get("/officer/adjustments?state=rejected").get_data(as_text=True)
    assert "Already paid" in listed
    assert balance(db, member.account_id) == 20


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ({"amount": "abc", "reason": "x"}, 422, "must be a whole number"),
        ({"amount": "5", "reason": ""}, 422, "is required"),
        ({"amount": "50", "reason": "too much", "direction": "debit"}, 409, "holds 20 credits"),
    ],
)
def test_refusals_are_shown_on_the_form_and_change_nothing(
    first, member, db, fields, status, message
):
    before = snapshot(db)
    resp = adjust(first, member, **fields)
    assert resp.status_code == status
    assert message in resp.get_data(as_text=True)
    assert snapshot(db) == before


def test_without_the_csrf_token_nothing_happens(first, member, db):
    before = snapshot(db)
    resp = first.post(
        f"/officer/people/{member.id}/adjust",
        data={"direction": "credit", "amount": "5", "reason": "x", "idempotency_key": "k"},
    )
    assert resp.status_code == 403
    assert snapshot(db) == before


def test_members_cannot_open_the_pages(client, member):
    assert sign_in(client, member.email).status_code == 302
    assert client.get("/officer/adjustments").status_code == 403
    assert client.get(f"/officer/people/{member.id}/adjust").status_code == 403
