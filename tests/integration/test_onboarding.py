"""Joining and getting back in: invitations, registration with approval or decline, and
forgotten passwords — through the pages, reading the mail the test mailer wrote."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import text

from credits.accounts import Role
from credits.db import utcnow
from tests.problems import assert_problem

from .people_helpers import audit_actions, snapshot
from .web_helpers import csrf_from, post_form, sign_in

PASSWORD = "a brand new password"


def local(url: str) -> str:
    return url.replace("http://localhost", "")


def open_link(client, link: str, **kwargs):
    """Open an emailed link as a browser does: the first answer moves the token out of the
    URL (303 to the same page without it); follow that."""
    first = client.get(local(link), **kwargs)
    assert first.status_code == 303, first.get_data(as_text=True)
    assert "token" not in first.headers["Location"]
    return client.get(first.headers["Location"], **kwargs)


@pytest.fixture
def officer(make_person):
    return make_person(Role.OFFICER, name="Olu Officer")


def invite(client, officer, email="bea@test.example", **extra):
    body = {"name": "Bea Volunteer", "email": email, "roles": ["member"], **extra}
    resp = client.post("/api/v1/invitations", json=body, headers=officer.auth)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["person"]["id"]


def set_password(client, link, password=PASSWORD, again=None):
    page = open_link(client, link)
    assert page.status_code == 200, page.get_data(as_text=True)
    return client.post(
        local(link).split("?")[0],
        data={
            "token": link.split("token=")[1],
            "password": password,
            "password_again": again if again is not None else password,
            "csrf_token": csrf_from(page.get_data(as_text=True)),
        },
    )


# --- invitations -----------------------------------------------------------------------------


def test_invited_person_sets_a_password_once_then_signs_in(client, officer, mailbox, db):
    person_id = invite(client, officer)
    link = mailbox.last(to="bea@test.example", kind="invitation").link()
    page = open_link(client, link).get_data(as_text=True)
    assert "Welcome, Bea Volunteer" in page and 'autocomplete="new-password"' in page
    done = set_password(client, link)
    assert done.status_code == 302 and done.headers["Location"].endswith("/sign-in")
    assert sign_in(client, "bea@test.example", PASSWORD).status_code == 302
    # The link works once.
    again = open_link(client, link, headers={"Accept": "text/html"})
    assert again.status_code == 410 and "already been used" in again.get_data(as_text=True)
    assert audit_actions(db, f"person:{person_id}")[-2:] == ["invitation.accept", "auth.sign_in"]
    with db.engine.connect() as conn:
        status, confirmed = conn.execute(
            text("SELECT status, email_confirmed_at FROM person WHERE id=:i"), {"i": person_id}
        ).one()
    assert status == "active" and confirmed is not None


def test_an_invitation_expires_after_seven_days(client, officer, mailbox, db):
    invite(client, officer)
    link = mailbox.last(kind="invitation").link()
    with freeze_time(utcnow() + timedelta(days=7, seconds=1)):
        resp = open_link(client, link, headers={"Accept": "text/html"})
        assert resp.status_code == 410 and "expired" in resp.get_data(as_text=True)
    with freeze_time(utcnow() + timedelta(days=6, hours=23)):
        assert open_link(client, link).status_code == 200


@pytest.mark.parametrize(
    "password, again, field",
    [
        ("short", None, "password"),
        ("x" * 201, None, "password"),
        ("bea@test.example", None, "password"),
        (PASSWORD, "something else entirely", "password_again"),
        ("", None, "password"),
    ],
)
def test_bad_passwords_on_an_invitation_change_nothing(
    client, officer, mailbox, db, password, again, field
):
    invite(client, officer)
    link = mailbox.last(kind="invitation").link()
    before = snapshot(db)
    resp = set_password(client, link, password, again)
    body = resp.get_data(as_text=True)
    assert resp.status_code == 422 and 'role="alert"' in body and f'href="#{field}"' in body
    rows_that_may_change = {"rate_limit_event"}  # the attempt is counted (rate limits)
    after = snapshot(db)
    assert {k: v for k, v in after.items() if k not in rows_that_may_change} == {
        k: v for k, v in before.items() if k not in rows_that_may_change
    }
    assert set_password(client, link).status_code == 302  # the link still works


@pytest.mark.parametrize("token", ["", "nonsense", "x" * 500])
def test_bad_links_say_so(client, token):
    for path in ("/invitation", "/password/reset", "/register/confirm"):
        resp = open_link(client, f"{path}?token={token}", headers={"Accept": "text/html"})
        assert resp.status_code == 404 and "not valid" in resp.get_data(as_text=True)


def test_two_uses_of_one_link_at_once_only_one_wins(client, officer, mailbox, db):
    from credits.accounts import links, onboarding

    invite(client, officer)
    token = mailbox.last(kind="invitation").link().split("token=")[1]
    password = onboarding.NewPassword.make(PASSWORD, "fast")
    db.run(lambda s: onboarding.accept_invitation(s, token, password, ip="192.0.2.1"))
    with pytest.raises(links.LinkUsed):
        db.run(lambda s: links.consume_link(s, token, links.LinkPurpose.INVITATION))


# --- registration ----------------------------------------------------------------------------


def register(client, **fields):
    data = {"name": "Rae Resident", "email": "rae@test.example", "phone": "", "password": PASSWORD}
    data.update(fields)
    return post_form(client, "/register", data)


def confirm(client, mailbox, to="rae@test.example"):
    link = mailbox.last(to=to, kind="registration_confirm").link()
    page = open_link(client, link)
    assert page.status_code == 200
    return client.post(
        "/register/confirm",
        data={
            "token": link.split("token=")[1],
            "csrf_token": csrf_from(page.get_data(as_text=True)),
        },
    )


def test_register_confirm_then_an_officer_approves(client, app, officer, mailbox, db):
    resp = register(client, phone="07700 900333")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/register/sent")
    # Waiting: cannot sign in yet, and is told why (the password was right).
    refused = sign_in(client, "rae@test.example", PASSWORD)
    assert refused.status_code == 401 and "waiting for the council" in refused.get_data(
        as_text=True
    )
    queue = client.get("/api/v1/registrations", headers=officer.auth).get_json()["items"]
    assert [p["email"] for p in queue] == ["rae@test.example"]
    rae = queue[0]
    assert rae["status"] == "pending" and rae["email_confirmed_at"] is None
    # Not before the address is confirmed.
    early = client.post(f"/api/v1/registrations/{rae['id']}/approve", headers=officer.auth)
    assert_problem(early, 409, "email_not_confirmed")
    assert "email address is confirmed" in confirm(client, mailbox).get_data(as_text=True)
    ok = client.post(f"/api/v1/registrations/{rae['id']}/approve", headers=officer.auth)
    assert ok.status_code == 200
    got = ok.get_json()
    assert got["status"] == "active" and got["ledger_account_id"] is not None
    assert got["roles"] == [{"role": "member", "scope_ref": None}]
    assert "approved" in mailbox.last(to="rae@test.example").subject
    assert sign_in(app.test_client(), "07700 900333", PASSWORD).status_code == 302
    assert audit_actions(db, f"person:{rae['id']}") == [
        "registration.create",
        "auth.sign_in_failed",
        "registration.confirm_email",
        "registration.approve",
        "auth.sign_in",
    ]


def test_a_declined_registration_is_emailed_the_reason_and_may_register_again(
    client, officer, mailbox, db
):
    register(client)
    rae_id = client.get("/api/v1/registrations", headers=officer.auth).get_json()["items"][0]["id"]
    assert_problem(
        client.post(f"/api/v1/registrations/{rae_id}/decline", json={}, headers=officer.auth),
        422,
        "validation_error",
    )
    resp = client.post(
        f"/api/v1/registrations/{rae_id}/decline",
        json={"reason": "This scheme is for Lambeth residents only."},
        headers=officer.auth,
    )
    assert resp.get_json()["status"] == "declined"
    mail = mailbox.last(to="rae@test.example", kind="registration_declined")
    assert "Lambeth residents only" in mail.body
    assert_problem(
        client.post(f"/api/v1/registrations/{rae_id}/approve", headers=officer.auth),
        409,
        "wrong_status",
    )
    register(client, name="Rae Resident-Smith")
    again = client.get("/api/v1/registrations", headers=officer.auth).get_json()["items"]
    assert [(p["id"], p["name"]) for p in again] == [(rae_id, "Rae Resident-Smith")]


def test_registering_a_known_address_changes_nothing_and_tells_its_owner(
    client, make_person, mailbox, db
):
    ann = make_person(Role.MEMBER, name="Ann Okafor")
    before = snapshot(db)
    resp = register(client, email=ann.email.upper(), name="Someone Else")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/register/sent")
    mail = mailbox.last(to=ann.email)
    assert mail.kind == "registration_exists" and "Dear Ann Okafor" in mail.body
    after = snapshot(db)
    for table in ("person", "person_role", "account_link", "api_token"):
        assert after[table] == before[table]


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"email": "rae"}, "email"),
        ({"email": ""}, "email"),
        ({"phone": "999"}, "phone"),
        ({"password": "short"}, "password"),
        ({"password": "rae@test.example"}, "password"),
    ],
)
def test_bad_registrations_are_refused_with_the_field_named(client, db, mailbox, fields, field):
    before = snapshot(db)
    resp = register(client, **fields)
    body = resp.get_data(as_text=True)
    assert resp.status_code == 422 and 'role="alert"' in body and f'href="#{field}"' in body
    after = snapshot(db)
    assert {k: v for k, v in after.items() if k != "rate_limit_event"} == {
        k: v for k, v in before.items() if k != "rate_limit_event"
    }
    assert mailbox.all() == []


def test_registration_through_the_api(client, mailbox):
    body = {"name": "Api Resident", "email": "api@test.example", "password": PASSWORD}
    resp = client.post("/api/v1/registrations", json=body)
    assert resp.status_code == 202 and resp.get_json()["status"] == "received"
    assert mailbox.last(to="api@test.example").kind == "registration_confirm"
    assert_problem(
        client.post("/api/v1/registrations", json={"name": "X"}), 422, "validation_error"
    )
    short = {**body, "email": "b@test.example", "password": "short"}
    refused = assert_problem(
        client.post("/api/v1/registrations", json=short), 422, "validation_error"
    )
    assert "password" in refused["errors"]


# --- forgotten passwords ---------------------------------------------------------------------


def forgot(client, email):
    return post_form(client, "/password/forgot", {"email": email})


def test_forgotten_password_same_answer_known_or_not_and_reset_ends_sessions(
    client, app, make_person, mailbox, db
):
    ann = make_person(Role.MEMBER, name="Ann Okafor")
    elsewhere = app.test_client()
    sign_in(elsewhere, ann.email)
    assert elsewhere.get("/account").status_code == 200

    known = forgot(client, ann.email.upper())
    unknown = forgot(client, "nobody@test.example")

    def strip(r):
        return (
            r.get_data(as_text=True)
            .replace(ann.email.upper(), "X")
            .replace("nobody@test.example", "X")
        )

    assert known.status_code == unknown.status_code == 200
    assert strip(known) == strip(unknown)  # no account enumeration
    assert mailbox.all(to="nobody@test.example") == []
    mail = mailbox.last(to=ann.email, kind="password_reset")
    assert "one hour" in mail.body

    done = set_password(client, mail.link(), "my new long password")
    assert done.status_code == 302
    assert elsewhere.get("/account").status_code == 302  # signed out everywhere
    assert sign_in(client, ann.email).status_code == 401  # the old password is gone
    assert sign_in(client, ann.email, "my new long password").status_code == 302
    assert mailbox.last(to=ann.email).kind == "password_changed"
    again = open_link(client, mail.link(), headers={"Accept": "text/html"})
    assert again.status_code == 410
    assert audit_actions(db, f"person:{ann.id}")[-4:] == [
        "password.reset_requested",
        "password.reset",
        "auth.sign_in_failed",
        "auth.sign_in",
    ]


def test_a_password_reset_revokes_every_api_token_and_every_other_session(
    client, app, make_person, mailbox, db
):
    """Whoever knew the old password may have made a token or kept a session: neither may
    outlive it. Other people's tokens are not touched."""
    ann, bola = make_person(Role.MEMBER), make_person(Role.MEMBER)
    made = client.post("/api/v1/me/tokens", json={"name": "phone"}, headers=ann.auth)
    assert made.status_code == 201, made.get_json()
    phone = {"Authorization": f"Bearer {made.get_json()['token']}"}
    laptop, library = app.test_client(), app.test_client()
    for browser in (laptop, library):
        assert sign_in(browser, ann.email).status_code == 302
        assert browser.get("/account").status_code == 200

    forgot(client, ann.email)
    done = set_password(client, mailbox.last(to=ann.email, kind="password_reset").link())
    assert done.status_code == 302

    for auth in (ann.auth, phone):
        assert_problem(client.get("/api/v1/me", headers=auth), 401, "unauthorized")
    for browser in (laptop, library):
        assert browser.get("/account").status_code == 302  # to the sign-in page
    assert client.get("/api/v1/me", headers=bola.auth).status_code == 200
    with db.read() as s:
        details = s.execute(
            text(
                "SELECT details FROM audit_event WHERE action = 'password.reset' "
                "AND target_ref = :t"
            ),
            {"t": f"person:{ann.id}"},
        ).scalar_one()
    details = json.loads(details) if isinstance(details, str) else details
    assert details["tokens_revoked"] == 2 and details["sessions_ended"] == 2
    told = mailbox.last(to=ann.email, kind="password_changed").body
    assert "Your 2 API tokens no longer work" in " ".join(told.split())
    # The new password works; tokens are made afresh.
    assert sign_in(app.test_client(), ann.email, PASSWORD).status_code == 302


def test_a_reset_link_lasts_one_hour_and_a_newer_one_replaces_it(client, make_person, mailbox):
    ann = make_person(Role.MEMBER)
    forgot(client, ann.email)
    first = mailbox.last(kind="password_reset").link()
    with freeze_time(utcnow() + timedelta(minutes=61)):
        assert open_link(client, first).status_code == 410
    forgot(client, ann.email)
    second = mailbox.last(kind="password_reset").link()
    assert open_link(client, first).status_code == 404  # replaced
    assert open_link(client, second).status_code == 200


def test_no_reset_for_disabled_people(client, officer, make_person, mailbox):
    ann = make_person(Role.MEMBER)
    client.post(f"/api/v1/people/{ann.id}/disable", json={"reason": "x"}, headers=officer.auth)
    forgot(client, ann.email)
    assert mailbox.all(to=ann.email) == []


def test_password_reset_through_the_api(client, make_person, mailbox):
    ann = make_person(Role.MEMBER)
    for email in (ann.email, "nobody@test.example"):
        resp = client.post("/api/v1/password-resets", json={"email": email})
        assert resp.status_code == 202
    assert len(mailbox.all()) == 1
    assert_problem(client.post("/api/v1/password-resets", json={}), 422, "validation_error")
    assert_problem(
        client.post("/api/v1/password-resets", json={"email": 5}), 422, "validation_error"
    )


def test_forgot_form_needs_an_address(client, mailbox):
    resp = forgot(client, "  ")
    assert resp.status_code == 422 and 'role="alert"' in resp.get_data(as_text=True)
