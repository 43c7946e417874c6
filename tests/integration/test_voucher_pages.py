"""The voucher pages, through the test client: spend, show, cancel, print, officer issue."""

import re

import pytest
from sqlalchemy import text

from credits.accounts import Role

from .voucher_helpers import balance, issue, snapshot, verify_all, vouchers_outstanding
from .web_helpers import csrf_from, sign_in


def form_fields(html):
    return {
        "csrf_token": csrf_from(html),
        "idempotency_key": re.search(r'name="idempotency_key" value="([^"]+)"', html).group(1),
    }


@pytest.fixture
def ann(client, make_person):
    person = make_person(Role.MEMBER, credits=60, name="Ann Okafor")
    sign_in(client, person.email)
    return person


def spend(client, data):
    page = client.get("/vouchers/new").get_data(as_text=True)
    return client.post("/vouchers/new", data={**form_fields(page), **data})


def test_spend_show_and_cancel(client, db, ann):
    listing = client.get("/vouchers").get_data(as_text=True)
    assert "60</span> credits to spend" in listing and "Spend credits" in listing
    page = client.get("/vouchers/new").get_data(as_text=True)
    assert "You have <strong>60 credits</strong>" in page
    assert 'value="50"' in page and 'value="5"' in page  # quick amounts she can afford
    made = spend(client, {"quick": "20"})
    assert made.status_code == 303
    shown = client.get(made.headers["Location"])
    html = shown.get_data(as_text=True)
    assert shown.status_code == 200 and "<svg" in html and "20 credits" in html
    reference = re.search(r'class="ref">([0-9A-Z]{4}-[0-9A-Z]{4})<', html).group(1)
    assert "Valid until" in html
    assert balance(db, ann.account_id) == 40
    listing = client.get("/vouchers").get_data(as_text=True)
    assert reference in listing and "20</span> credits held in open vouchers" in listing
    # Cancel asks first, then returns the credits.
    cancel_url = made.headers["Location"] + "/cancel"
    confirm = client.get(cancel_url).get_data(as_text=True)
    assert "Yes, cancel it" in confirm and "go back to your balance" in confirm
    done = client.post(cancel_url, data={"csrf_token": csrf_from(confirm)})
    assert done.status_code == 303
    assert "credits are back" in client.get("/vouchers").get_data(as_text=True)
    assert balance(db, ann.account_id) == 60
    again = client.post(cancel_url, data={"csrf_token": csrf_from(confirm)})
    assert again.status_code == 409 and "was cancelled" in again.get_data(as_text=True)
    assert verify_all(db) == []


def test_a_typed_amount_and_a_double_submit_make_one_voucher(client, db, ann):
    page = client.get("/vouchers/new").get_data(as_text=True)
    data = {**form_fields(page), "amount": " 15 "}
    first = client.post("/vouchers/new", data=data)
    second = client.post("/vouchers/new", data=data)  # the same form sent twice
    assert first.headers["Location"] == second.headers["Location"]
    assert balance(db, ann.account_id) == 45 and vouchers_outstanding(db) == 15


@pytest.mark.parametrize(
    "amount, status, message",
    [
        ("", 422, "Enter a whole number of credits"),
        ("ten", 422, "Enter a whole number of credits"),
        ("2.5", 422, "Enter a whole number of credits"),
        ("-3", 422, "Enter a whole number of credits"),
        ("0", 422, "Enter a whole number of credits"),
        ("99999999", 422, "Enter a whole number of credits"),
        ("61", 409, "You do not have enough credits"),
    ],
)
def test_refused_amounts_say_why_and_change_nothing(client, db, ann, amount, status, message):
    before = snapshot(db)
    resp = spend(client, {"amount": amount})
    assert resp.status_code == status
    html = resp.get_data(as_text=True)
    assert message in html and 'role="alert"' in html
    assert snapshot(db) == before


def test_forms_without_csrf_are_refused(client, db, ann):
    before = snapshot(db)
    assert (
        client.post("/vouchers/new", data={"amount": "5", "idempotency_key": "x"}).status_code
        == 403
    )
    assert snapshot(db) == before


def test_someone_elses_voucher_page_is_not_found(client, db, ann, make_person):
    bob = make_person(Role.MEMBER, credits=10)
    vid = issue(client, bob, 5).get_json()["id"]
    for path in ("", "/cancel", "/print"):
        resp = client.get(f"/vouchers/{vid}{path}", headers={"Accept": "text/html"})
        assert resp.status_code == 404 and "No such voucher" in resp.get_data(as_text=True)
    assert client.get("/vouchers/nonsense", headers={"Accept": "text/html"}).status_code == 404


def test_pages_need_sign_in_and_the_right_role(client, make_person):
    assert client.get("/vouchers").status_code == 302
    officer = make_person(Role.OFFICER)
    sign_in(client, officer.email)
    assert client.get("/vouchers").status_code == 403
    assert client.get("/officer/vouchers/new").status_code == 200


def test_print_page_has_a_level_q_code(client, ann):
    made = spend(client, {"amount": "12"})
    html = client.get(made.headers["Location"] + "/print").get_data(as_text=True)
    assert 'viewBox="0 0 57 57"' in html  # version 8 (49) + quiet zone: level Q
    # The paper size is a stylesheet of its own (no inline <style> under the CSP).
    assert "print-a6.css" in html and "print-a4.css" not in html
    a4 = client.get(made.headers["Location"] + "/print?paper=a4").get_data(as_text=True)
    assert "print-a4.css" in a4
    for paper, size in (("a4", "A4"), ("a6", "A6")):
        sheet = client.get(f"/static/print-{paper}.css")
        assert f"size: {size}" in sheet.get_data(as_text=True)
        sheet.close()


def test_an_officer_issues_and_prints_for_a_member(client, db, make_person):
    member = make_person(Role.MEMBER, credits=30, name="Dot Without-Phone")
    officer = make_person(Role.OFFICER, name="Olu Officer")
    sign_in(client, officer.email)
    page = client.get("/officer/vouchers/new").get_data(as_text=True)
    resp = client.post(
        "/officer/vouchers/new",
        data={**form_fields(page), "email": member.email.upper(), "amount": "25"},
    )
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/print")
    printed = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Dot Without-Phone" in printed and "25 credits" in printed and "<svg" in printed
    assert balance(db, member.account_id) == 5
    with db.read() as s:
        issued_by, actor = s.execute(
            text(
                "SELECT v.issued_by, e.actor FROM voucher v "
                "JOIN journal_entry e ON e.id = v.issue_entry_id"
            )
        ).one()
    assert issued_by == actor and actor.startswith(f"person:{officer.id} as officer via session:")
    # The member sees it among their vouchers, marked as issued for them.
    listed = client.get("/api/v1/vouchers", headers=member.auth).get_json()["vouchers"]
    assert listed[0]["issued_by_officer"] is True
    assert verify_all(db) == []


@pytest.mark.parametrize(
    "email, amount, status, message",
    [
        ("nobody@test.example", "5", 404, "No member is registered"),
        ("not an email", "5", 422, "Enter the member&#39;s email address"),
        ("MEMBER", "5", 422, "Enter the member&#39;s email address"),
        (None, "x", 422, "Enter a whole number"),
        (None, "31", 409, "You do not have enough credits"),
    ],
)
def test_officer_refusals_change_nothing(client, db, make_person, email, amount, status, message):
    member = make_person(Role.MEMBER, credits=30)
    officer = make_person(Role.OFFICER)
    sign_in(client, officer.email)
    before = snapshot(db)
    page = client.get("/officer/vouchers/new").get_data(as_text=True)
    resp = client.post(
        "/officer/vouchers/new",
        data={**form_fields(page), "email": email or member.email, "amount": amount},
    )
    assert resp.status_code == status and message in resp.get_data(as_text=True)
    assert snapshot(db) == before


def test_an_officer_cannot_issue_for_someone_who_is_not_a_member(client, db, make_person):
    coordinator = make_person(Role.COORDINATOR)
    officer = make_person(Role.OFFICER)
    sign_in(client, officer.email)
    before = snapshot(db)
    page = client.get("/officer/vouchers/new").get_data(as_text=True)
    resp = client.post(
        "/officer/vouchers/new",
        data={**form_fields(page), "email": coordinator.email, "amount": "5"},
    )
    assert resp.status_code == 404 and "not an active member" in resp.get_data(as_text=True)
    assert snapshot(db) == before
