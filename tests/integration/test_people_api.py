"""Officers manage people through the API: find, invite, edit, roles, disable/enable.
Every refusal is a clear problem+json and writes nothing (not a row, not a mail)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from credits.accounts import Role
from tests.problems import assert_problem

from .people_helpers import audit_actions, snapshot
from .web_helpers import sign_in


@pytest.fixture
def officer(make_person):
    return make_person(Role.OFFICER, name="Olu Officer")


@pytest.fixture
def admin(make_person):
    return make_person(Role.ADMIN, name="Ada Admin")


def invite(client, who, **body):
    payload = {"name": "Bea Volunteer", "email": "bea@test.example", "roles": ["member"], **body}
    return client.post("/api/v1/invitations", json=payload, headers=who.auth)


def test_officer_finds_people_by_name_email_number_status_and_role(client, officer, make_person):
    for name in ("Ann Okafor", "Bola Adeyemi", "Chen Li", "Dee Annan"):
        make_person(Role.MEMBER, name=name)
    make_person(Role.COORDINATOR, name="Cara Coordinator")
    invite(client, officer, name="Ed Invited", email="ed@test.example", phone="07700 900123")

    def names(query):
        resp = client.get(f"/api/v1/people?{query}", headers=officer.auth)
        assert resp.status_code == 200, resp.get_json()
        return [p["name"] for p in resp.get_json()["items"]]

    assert names("q=ann") == ["Ann Okafor", "Dee Annan"]  # any case, part of a name
    assert names("q=member3%40test") == ["Bola Adeyemi"]  # part of an email
    assert names("q=07700%20900123") == ["Ed Invited"]  # national form finds +44...
    assert names("status=invited") == ["Ed Invited"]
    assert names("role=coordinator") == ["Cara Coordinator"]
    page = client.get("/api/v1/people?per_page=2&page=2", headers=officer.auth).get_json()
    assert page["page"] == 2 and page["per_page"] == 2 and page["total"] == 7
    assert page["pages"] == 4 and len(page["items"]) == 2
    ed = client.get("/api/v1/people?q=ed%40test", headers=officer.auth).get_json()["items"][0]
    assert ed["phone"] == "+447700900123" and ed["status"] == "invited"
    assert ed["roles"] == [{"role": "member", "scope_ref": None}]


@pytest.mark.parametrize(
    "query",
    ["status=sleeping", "role=terminal", "page=0", "per_page=101", "per_page=x", "q=" + "x" * 101],
)
def test_bad_list_queries_are_422(client, officer, query):
    assert_problem(
        client.get(f"/api/v1/people?{query}", headers=officer.auth), 422, "validation_error"
    )


def test_unknown_person_is_404(client, officer):
    for method, path, body in [
        ("GET", "/api/v1/people/999999", None),
        ("PATCH", "/api/v1/people/999999", {"name": "X"}),
        ("POST", "/api/v1/people/999999/roles", {"role": "member"}),
        ("DELETE", "/api/v1/people/999999/roles/member", None),
        ("POST", "/api/v1/people/999999/disable", {"reason": "x"}),
        ("POST", "/api/v1/people/999999/enable", None),
        ("POST", "/api/v1/invitations/999999/resend", None),
        ("POST", "/api/v1/registrations/999999/approve", None),
    ]:
        assert_problem(
            client.open(path, method=method, json=body, headers=officer.auth), 404, "not_found"
        )


def test_invitation_creates_an_invited_person_and_emails_a_link(client, officer, mailbox, db):
    resp = invite(client, officer, phone="+44 7700 900456")
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["person"]["status"] == "invited" and body["person"]["has_password"] is False
    assert body["state"] == "pending" and body["email_sent"] is True
    mail = mailbox.last(to="bea@test.example", kind="invitation")
    assert mail.subject == "You are invited to join Cooperative Credits"
    assert "Dear Bea Volunteer" in mail.body and "as a volunteer" in mail.body
    assert "/invitation?token=" in mail.link()
    token = mail.link().split("token=")[1]
    with db.engine.connect() as conn:
        stored = conn.execute(
            text("SELECT token_hash, expires_at, created_at FROM account_link")
        ).one()
    assert token not in stored[0] and len(stored[0]) == 64  # only its hash is kept
    listed = client.get("/api/v1/invitations?state=pending", headers=officer.auth).get_json()
    assert [i["person"]["email"] for i in listed["items"]] == ["bea@test.example"]
    assert "invitation.create" in audit_actions(db, f"person:{body['person']['id']}")


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": 5}, "name"),
        ({"email": "not-an-email"}, "email"),
        ({"email": None}, "email"),
        ({"roles": []}, "roles"),
        ({"roles": ["terminal"]}, "roles"),
        ({"roles": "member"}, "roles"),
        ({"phone": "12345"}, "phone"),
        ({"phone": "07700 90012x"}, "phone"),
        ({"roles": ["shop_staff"]}, "scope_ref"),
        ({"roles": ["shop_staff"], "scope_ref": "the corner shop"}, "scope_ref"),
        ({"roles": ["member"], "scope_ref": "shop:3"}, "scope_ref"),
        ({"favourite_colour": "green"}, "favourite_colour"),
    ],
)
def test_bad_invitations_are_refused_and_write_nothing(client, officer, mailbox, db, body, field):
    before = snapshot(db)
    body = assert_problem(invite(client, officer, **body), 422, "validation_error")
    assert field in body["errors"], body
    assert snapshot(db) == before and mailbox.all() == []


def test_a_missing_field_is_named(client, officer):
    resp = client.post("/api/v1/invitations", json={"name": "No Email"}, headers=officer.auth)
    assert "email" in assert_problem(resp, 422, "validation_error")["errors"]


def test_duplicate_email_or_phone_is_409_person_exists(client, officer, mailbox, db):
    assert invite(client, officer, phone="07700 900111").status_code == 201
    before, mails = snapshot(db), len(mailbox.all())
    again = assert_problem(invite(client, officer, email="BEA@test.example"), 409, "person_exists")
    assert "email" in again["errors"]
    same_phone = invite(client, officer, email="other@test.example", phone="+447700900111")
    assert "phone" in assert_problem(same_phone, 409, "person_exists")["errors"]
    assert snapshot(db) == before and len(mailbox.all()) == mails


def test_only_an_admin_may_make_an_admin(client, officer, admin):
    resp = invite(client, officer, roles=["admin"])
    assert "administrator" in assert_problem(resp, 403, "forbidden")["detail"]
    assert invite(client, admin, roles=["admin", "officer"]).status_code == 201


def test_officer_edits_name_and_phone(client, officer, make_person, db):
    ann = make_person(Role.MEMBER, name="Ann")
    resp = client.patch(
        f"/api/v1/people/{ann.id}",
        json={"name": "  Ann   Okafor ", "phone": "07700 900222"},
        headers=officer.auth,
    )
    assert resp.status_code == 200
    got = resp.get_json()
    assert got["name"] == "Ann Okafor" and got["phone"] == "+447700900222"
    assert got["updated_by"].startswith(f"person:{officer.id} as officer via token:")
    cleared = client.patch(f"/api/v1/people/{ann.id}", json={"phone": None}, headers=officer.auth)
    assert cleared.get_json()["phone"] is None
    with db.engine.connect() as conn:
        details = (
            conn.execute(
                text("SELECT details FROM audit_event WHERE action = 'person.update' ORDER BY id")
            )
            .scalars()
            .all()
        )
    assert len(details) == 2


@pytest.mark.parametrize(
    "body, status, code",
    [
        ({"name": ""}, 422, "validation_error"),
        ({"name": "x" * 201}, 422, "validation_error"),
        ({"name": ["Ann"]}, 422, "validation_error"),
        ({"phone": "not a number"}, 422, "validation_error"),
        ({"phone": "+447700900999"}, 409, "person_exists"),
        ({"email": "new@test.example"}, 422, "validation_error"),  # not editable here
    ],
)
def test_bad_edits_are_refused_and_write_nothing(
    client, officer, make_person, db, body, status, code
):
    ann = make_person(Role.MEMBER)
    bob = make_person(Role.MEMBER)
    db.run(
        lambda s: s.execute(
            text("UPDATE person SET phone='+447700900999' WHERE id=:i"), {"i": bob.id}
        )
    )
    before = snapshot(db)
    assert_problem(
        client.patch(f"/api/v1/people/{ann.id}", json=body, headers=officer.auth), status, code
    )
    assert snapshot(db) == before


def _shops(client, officer, *names):
    return [
        client.post("/api/v1/shops", json={"name": n}, headers=officer.auth).get_json()["id"]
        for n in names
    ]


def test_roles_are_granted_moved_and_revoked(client, officer, make_person, db):
    ann = make_person(Role.MEMBER)
    bakery, hardware = _shops(client, officer, "Bakery", "Hardware")
    url = f"/api/v1/people/{ann.id}/roles"
    got = client.post(
        url, json={"role": "shop_staff", "scope_ref": f"shop:{bakery}"}, headers=officer.auth
    )
    assert {"role": "shop_staff", "scope_ref": f"shop:{bakery}"} in got.get_json()["roles"]
    moved = client.post(
        url, json={"role": "shop_staff", "scope_ref": f"shop:{hardware}"}, headers=officer.auth
    )
    assert {"role": "shop_staff", "scope_ref": f"shop:{hardware}"} in moved.get_json()["roles"]
    # Granting what they already have changes nothing and records nothing.
    before = snapshot(db)
    client.post(
        url, json={"role": "shop_staff", "scope_ref": f"shop:{hardware}"}, headers=officer.auth
    )
    assert snapshot(db) == before
    # Revoking member ends that role's token at once; the ledger account stays.
    assert client.get("/api/v1/me", headers=ann.auth).status_code == 200
    gone = client.delete(f"{url}/member", headers=officer.auth)
    assert gone.status_code == 200 and gone.get_json()["ledger_account_id"] == ann.account_id
    assert_problem(client.get("/api/v1/me", headers=ann.auth), 401, "unauthorized")
    # ...and granting it again does not bring the old token back.
    client.post(url, json={"role": "member"}, headers=officer.auth)
    assert_problem(client.get("/api/v1/me", headers=ann.auth), 401, "unauthorized")
    assert audit_actions(db, f"person:{ann.id}").count("role.grant") == 3
    assert "role.revoke" in audit_actions(db, f"person:{ann.id}")


@pytest.mark.parametrize(
    "body, status, code",
    [
        ({"role": "wizard"}, 422, "validation_error"),
        ({"role": "terminal"}, 422, "validation_error"),
        ({}, 422, "validation_error"),
        ({"role": "member", "scope_ref": "shop:1"}, 422, "validation_error"),
        ({"role": "shop_staff"}, 422, "validation_error"),
        ({"role": "shop_staff", "scope_ref": "shop:0"}, 422, "validation_error"),
        ({"role": "shop_staff", "scope_ref": "shop:999"}, 422, "validation_error"),
        ({"role": "admin"}, 403, "forbidden"),
    ],
)
def test_bad_grants_are_refused_and_write_nothing(
    client, officer, make_person, db, body, status, code
):
    ann = make_person(Role.MEMBER)
    before = snapshot(db)
    resp = client.post(f"/api/v1/people/{ann.id}/roles", json=body, headers=officer.auth)
    assert_problem(resp, status, code)
    assert snapshot(db) == before


def test_revoke_refusals(client, officer, make_person, db):
    ann = make_person(Role.MEMBER)
    before = snapshot(db)
    assert_problem(
        client.delete(f"/api/v1/people/{ann.id}/roles/coordinator", headers=officer.auth),
        404,
        "not_found",
    )
    assert_problem(
        client.delete(f"/api/v1/people/{ann.id}/roles/wizard", headers=officer.auth),
        422,
        "validation_error",
    )
    mine = client.delete(f"/api/v1/people/{officer.id}/roles/officer", headers=officer.auth)
    assert "yourself" in assert_problem(mine, 403, "forbidden")["detail"]
    assert snapshot(db) == before


def test_disabling_ends_sessions_and_tokens_at_once(client, app, officer, make_person, db, mailbox):
    ann = make_person(Role.MEMBER)
    browser = app.test_client()
    sign_in(browser, ann.email)
    assert browser.get("/account").status_code == 200
    assert client.get("/api/v1/me", headers=ann.auth).status_code == 200
    resp = client.post(
        f"/api/v1/people/{ann.id}/disable", json={"reason": "Moved away"}, headers=officer.auth
    )
    assert resp.status_code == 200
    got = resp.get_json()
    assert got["status"] == "disabled" and got["status_reason"] == "Moved away"
    assert_problem(client.get("/api/v1/me", headers=ann.auth), 401, "unauthorized")
    assert browser.get("/account").status_code == 302  # back to sign-in
    assert sign_in(browser, ann.email).status_code == 401
    with db.engine.connect() as conn:
        open_tokens = conn.execute(
            text("SELECT count(*) FROM api_token WHERE person_id=:i AND revoked_at IS NULL"),
            {"i": ann.id},
        ).scalar_one()
        open_sessions = conn.execute(
            text("SELECT count(*) FROM web_session WHERE person_id=:i AND revoked_at IS NULL"),
            {"i": ann.id},
        ).scalar_one()
    assert open_tokens == 0 and open_sessions == 0
    # Re-enabling lets them sign in again, but old tokens stay dead.
    back = client.post(f"/api/v1/people/{ann.id}/enable", headers=officer.auth)
    assert back.get_json()["status"] == "active"
    assert_problem(client.get("/api/v1/me", headers=ann.auth), 401, "unauthorized")
    assert sign_in(browser, ann.email).status_code == 302
    assert audit_actions(db, f"person:{ann.id}")[-2:] == ["person.enable", "auth.sign_in"]


def test_disable_refusals(client, officer, admin, make_person, db):
    ann = make_person(Role.MEMBER)
    before = snapshot(db)
    url = f"/api/v1/people/{ann.id}/disable"
    assert_problem(client.post(url, json={}, headers=officer.auth), 422, "validation_error")
    assert_problem(
        client.post(url, json={"reason": ""}, headers=officer.auth), 422, "validation_error"
    )
    assert_problem(
        client.post(url, json={"reason": "x" * 501}, headers=officer.auth), 422, "validation_error"
    )
    assert_problem(
        client.post(url, json={"reason": 7}, headers=officer.auth), 422, "validation_error"
    )
    me = f"/api/v1/people/{officer.id}/disable"
    assert_problem(
        client.post(me, json={"reason": "tired"}, headers=officer.auth), 403, "forbidden"
    )
    boss = f"/api/v1/people/{admin.id}/disable"
    assert_problem(
        client.post(boss, json={"reason": "coup"}, headers=officer.auth), 403, "forbidden"
    )
    assert_problem(
        client.post(f"/api/v1/people/{ann.id}/enable", headers=officer.auth), 409, "wrong_status"
    )
    assert snapshot(db) == before
    client.post(url, json={"reason": "Moved away"}, headers=officer.auth)
    assert_problem(
        client.post(url, json={"reason": "again"}, headers=officer.auth), 409, "wrong_status"
    )


def test_resend_and_withdraw_an_invitation(client, officer, mailbox, db):
    person_id = invite(client, officer).get_json()["person"]["id"]
    first = mailbox.last(kind="invitation").link()
    again = client.post(f"/api/v1/invitations/{person_id}/resend", headers=officer.auth)
    assert again.status_code == 200 and again.get_json()["state"] == "pending"
    second = mailbox.last(kind="invitation").link()
    assert first != second
    # The first link no longer works; the second does (shown on the page).
    assert (
        client.get(first.replace("http://localhost", ""), follow_redirects=True).status_code == 404
    )
    assert (
        client.get(second.replace("http://localhost", ""), follow_redirects=True).status_code == 200
    )
    gone = client.post(f"/api/v1/invitations/{person_id}/withdraw", json={}, headers=officer.auth)
    assert gone.get_json()["status"] == "disabled"
    assert (
        client.get(second.replace("http://localhost", ""), follow_redirects=True).status_code == 404
    )
    assert_problem(
        client.post(f"/api/v1/invitations/{person_id}/resend", headers=officer.auth),
        409,
        "wrong_status",
    )
    assert audit_actions(db, f"person:{person_id}") == [
        "invitation.create",
        "invitation.resend",
        "invitation.withdraw",
    ]


def test_mail_failure_is_reported_not_hidden(client, officer, services, monkeypatch):
    from credits.mail import MailError

    def refuse(message):
        raise MailError("connection refused")

    monkeypatch.setattr(services.mailer, "send", refuse)
    body = invite(client, officer).get_json()
    assert body["email_sent"] is False and "connection refused" in body["mail_problem"]
    assert body["person"]["status"] == "invited"  # kept: resend once mail works
