"""The officer's pages and the account pages: every form, good and bad input, and who may
open them."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from credits.accounts import Role

from .people_helpers import audit_actions, snapshot
from .web_helpers import post_form, sign_in

HTML = {"Accept": "text/html"}


@pytest.fixture
def officer(make_person):
    return make_person(Role.OFFICER, name="Olu Officer")


@pytest.fixture
def office(client, officer):
    """A browser signed in as the officer."""
    assert sign_in(client, officer.email).status_code == 302
    return client


def page(client, path):
    resp = client.get(path, headers=HTML)
    return resp.status_code, resp.get_data(as_text=True)


def test_officers_land_on_their_home_page_with_links_to_everything(client, officer):
    resp = sign_in(client, officer.email)
    landed = client.get(resp.headers["Location"])
    assert landed.headers["Location"].endswith("/officer")
    status, body = page(client, "/officer")
    assert status == 200
    for path in (
        "/officer/people",
        "/officer/invitations",
        "/officer/registrations",
        "/officer/tokens",
        "/officer/audit",
    ):
        assert f'href="{path}"' in body


def test_officer_pages_are_for_officers_and_admins_only(client, app, make_person):
    assert client.get("/officer/people").status_code == 302  # to sign in
    ann = make_person(Role.MEMBER)
    sign_in(client, ann.email)
    for path in ("/officer", "/officer/people", "/officer/audit", "/officer/tokens"):
        assert client.get(path, headers=HTML).status_code == 403
    before = snapshot(client.application.extensions["credits"].db)
    resp = post_form(
        client, f"/officer/people/{ann.id}/disable", {"reason": "x"}, from_page="/account"
    )
    assert resp.status_code == 403
    assert snapshot(client.application.extensions["credits"].db) == before
    ada = make_person(Role.ADMIN)
    admin = app.test_client()
    sign_in(admin, ada.email)
    assert admin.get("/officer/people").status_code == 200


def test_every_officer_page_renders(office, officer, make_person, db):
    ann = make_person(Role.MEMBER, name="Ann Okafor")
    post_form(
        office,
        "/officer/invitations/new",
        {"name": "Bea", "email": "bea@test.example", "roles": "member"},
    )
    for path, expected in [
        ("/officer", "Latest officer actions"),
        ("/officer/people?q=ann", "Ann Okafor"),
        (f"/officer/people/{ann.id}", "Roles"),
        (f"/officer/people/{ann.id}/edit", "Change Ann Okafor"),
        ("/officer/invitations", "bea@test.example"),
        ("/officer/invitations?state=expired", "None."),
        ("/officer/invitations/new", "Invite someone"),
        ("/officer/registrations", "No registrations are waiting"),
        ("/officer/tokens", "Ann Okafor"),
        ("/officer/audit?action=invitation.create", "invitation.create"),
    ]:
        status, body = page(office, path)
        assert status == 200 and expected in body, path


def test_every_post_form_carries_a_csrf_token(office, officer, make_person):
    ann = make_person(Role.MEMBER)
    for path in (
        "/officer",
        f"/officer/people/{ann.id}",
        "/officer/invitations/new",
        "/officer/tokens",
        "/account/tokens",
        f"/officer/people/{ann.id}/edit",
    ):
        _, body = page(office, path)
        forms = re.findall(r"<form[^>]*method=\"post\"[^>]*>(.*?)</form>", body, re.S)
        assert forms, path
        assert all('name="csrf_token"' in f for f in forms), path


def test_invite_form(office, mailbox, db):
    from credits import audit, shops

    db.run(lambda s: shops.create_shop(s, audit.Actor.system("test"), name="Corner Shop"))
    db.run(lambda s: shops.create_shop(s, audit.Actor.system("test"), name="Sam's Shop"))
    resp = post_form(
        office,
        "/officer/invitations/new",
        {
            "name": "Sam Shop",
            "email": "sam@test.example",
            "phone": "07700 900444",
            "roles": "shop_staff",
            "scope_ref": "shop:2",
        },
    )
    assert resp.status_code == 302
    _, body = page(office, resp.headers["Location"])
    assert "Invitation sent to sam@test.example" in body and "Shop staff (shop:2)" in body
    assert mailbox.last(to="sam@test.example").kind == "invitation"


@pytest.mark.parametrize(
    "fields, field, status",
    [
        ({"name": ""}, "name", 422),
        ({"email": "nope"}, "email", 422),
        ({"roles": ""}, "role", 422),
        ({"roles": "wizard"}, "role", 422),
        ({"phone": "123"}, "phone", 422),
        ({"roles": "shop_staff"}, "scope_ref", 422),
        ({"email": "officer1@test.example"}, "email", 409),
        ({"roles": "admin"}, None, 403),
    ],
)
def test_bad_invitations_on_the_page(office, mailbox, db, fields, field, status):
    data = {"name": "Bea", "email": "bea@test.example", "roles": "member", **fields}
    before = snapshot(db)
    resp = post_form(office, "/officer/invitations/new", data)
    body = resp.get_data(as_text=True)
    assert resp.status_code == status and 'role="alert"' in body
    if field:
        assert f'href="#{field}' in body
    assert snapshot(db) == before and mailbox.all() == []


def test_person_page_actions_and_their_errors(office, officer, make_person, db):
    ann = make_person(Role.MEMBER, name="Ann Okafor")
    url = f"/officer/people/{ann.id}"
    # grant, with errors shown on the page and nothing written
    before = snapshot(db)
    bad = post_form(office, f"{url}/roles", {"role": "shop_staff", "scope_ref": ""}, from_page=url)
    assert bad.status_code == 422 and "Shop staff need a shop" in bad.get_data(as_text=True)
    bad = post_form(office, f"{url}/roles", {"role": "wizard"}, from_page=url)
    assert bad.status_code == 422
    bad = post_form(office, f"{url}/roles/coordinator/revoke", {}, from_page=url)
    assert bad.status_code == 404 and "does not hold" in bad.get_data(as_text=True)
    bad = post_form(office, f"{url}/disable", {"reason": ""}, from_page=url)
    assert bad.status_code == 422 and 'href="#reason"' in bad.get_data(as_text=True)
    bad = post_form(office, f"{url}/enable", {}, from_page=url)
    assert bad.status_code == 409
    mine = post_form(
        office, f"/officer/people/{officer.id}/disable", {"reason": "x"}, from_page=url
    )
    assert mine.status_code == 403
    assert snapshot(db) == before
    # and the good paths
    ok = post_form(office, f"{url}/roles", {"role": "coordinator"}, from_page=url)
    assert ok.status_code == 302
    ok = post_form(office, f"{url}/roles/coordinator/revoke", {}, from_page=url)
    assert ok.status_code == 302
    ok = post_form(office, f"{url}/disable", {"reason": "Moved to Leeds"}, from_page=url)
    assert ok.status_code == 302
    _, body = page(office, url)
    assert "Moved to Leeds" in body and "Re-enable Ann Okafor" in body
    assert post_form(office, f"{url}/enable", {}, from_page=url).status_code == 302
    assert audit_actions(db, f"person:{ann.id}") == [
        "role.grant",
        "role.revoke",
        "person.disable",
        "person.enable",
    ]
    assert (
        post_form(
            office, "/officer/people/999999/disable", {"reason": "x"}, from_page=url
        ).status_code
        == 404
    )


def test_edit_form(office, make_person, db):
    ann = make_person(Role.MEMBER, name="Ann")
    url = f"/officer/people/{ann.id}/edit"
    before = snapshot(db)
    for data, field in [
        ({"name": "", "phone": ""}, "name"),
        ({"name": "Ann", "phone": "not a phone"}, "phone"),
        ({"name": "x" * 201, "phone": ""}, "name"),
    ]:
        resp = post_form(office, url, data)
        assert resp.status_code == 422 and f'href="#{field}"' in resp.get_data(as_text=True)
    assert snapshot(db) == before
    assert (
        post_form(office, url, {"name": "Ann Okafor", "phone": "07700 900555"}).status_code == 302
    )
    _, body = page(office, f"/officer/people/{ann.id}")
    assert "Ann Okafor" in body and "+447700900555" in body


def test_registration_queue_approve_and_decline(office, client, db, mailbox):
    from credits.accounts import onboarding
    from credits.accounts.mailing import Outgoing
    from credits.db import utcnow

    out = Outgoing(council="Test", link=lambda page, token: f"http://x/{page}?{token}")

    def register(s, email):
        onboarding.register(
            s,
            out,
            name=email.split("@")[0].title(),
            email=email,
            phone=None,
            password=onboarding.NewPassword.make("long enough pass", "fast"),
            ip="192.0.2.1",
        )

    for email in ("rae@test.example", "sol@test.example"):
        db.run(lambda s, e=email: register(s, e))
    db.run(
        lambda s: s.execute(
            text("UPDATE person SET email_confirmed_at = :t WHERE email = 'rae@test.example'"),
            {"t": utcnow()},
        )
    )
    with db.engine.connect() as conn:
        rae, sol = (
            conn.execute(
                text(
                    "SELECT id FROM person WHERE email LIKE '%@test.example' "
                    "AND status = 'pending' ORDER BY email"
                )
            )
            .scalars()
            .all()
        )
    _, body = page(office, "/officer/registrations")
    assert "Not confirmed yet" in body and "Confirmed" in body
    early = post_form(
        office, f"/officer/registrations/{sol}/approve", {}, from_page="/officer/registrations"
    )
    assert early.status_code == 409 and "not confirmed" in early.get_data(as_text=True)
    no_reason = post_form(
        office,
        f"/officer/registrations/{sol}/decline",
        {"reason": ""},
        from_page="/officer/registrations",
    )
    assert no_reason.status_code == 422
    assert (
        post_form(
            office, f"/officer/registrations/{rae}/approve", {}, from_page="/officer/registrations"
        ).status_code
        == 302
    )
    assert (
        post_form(
            office,
            f"/officer/registrations/{sol}/decline",
            {"reason": "Not local"},
            from_page="/officer/registrations",
        ).status_code
        == 302
    )
    assert mailbox.last(to="sol@test.example").kind == "registration_declined"
    assert mailbox.last(to="rae@test.example").kind == "registration_approved"


def test_audit_page_filters_and_bad_dates(office, make_person):
    status, body = page(office, "/officer/audit?date_from=2026-13-01")
    assert status == 422 and 'href="#date_from"' in body
    status, body = page(office, "/officer/audit?person_id=abc")
    assert status == 422 and 'href="#person_id"' in body
    status, body = page(office, "/officer/audit?date_from=2000-01-01&date_to=2000-01-02")
    assert status == 200 and "0 events" in body
    status, body = page(office, "/officer/audit?action=auth.sign_in")
    assert status == 200 and "1 event." in body


def test_people_page_bad_filter(office):
    status, body = page(office, "/officer/people?status=sleeping")
    assert status == 422 and 'role="alert"' in body


def test_tokens_page_revoke(office, make_person, db):
    ann = make_person(Role.MEMBER)
    with db.engine.connect() as conn:
        token_id = conn.execute(
            text("SELECT id FROM api_token WHERE person_id=:i"), {"i": ann.id}
        ).scalar_one()
    resp = post_form(office, f"/officer/tokens/{token_id}/revoke", {}, from_page="/officer/tokens")
    assert resp.status_code == 302
    _, body = page(office, "/officer/tokens")
    assert "Revoked" in body
    resp = post_form(
        office,
        "/officer/tokens/999999/revoke",
        {"back": "https://evil.example/"},
        from_page="/officer/tokens",
    )
    assert resp.headers["Location"] == "/officer/tokens"  # no open redirect
    assert "no token" in page(office, "/officer/tokens")[1]


def test_my_tokens_page(client, app, make_person, db):
    cara = make_person(Role.COORDINATOR, roles=(Role.COORDINATOR, Role.MEMBER))
    sign_in(client, cara.email)
    resp = post_form(client, "/account/tokens", {"name": "till script", "role": "member"})
    body = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "it will not be shown again" in body
    secret = re.search(r'<code id="new-token">(cc_[^<]+)</code>', body).group(1)
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).get_json()
    assert me == {"id": cara.id, "name": cara.name, "role": "member"}
    # The secret is on that page only.
    assert secret not in client.get("/account/tokens").get_data(as_text=True)
    before = snapshot(db)
    for data in (
        {"name": "", "role": "member"},
        {"name": "x", "role": "officer"},
        {"name": "x" * 101, "role": "member"},
    ):
        bad = post_form(client, "/account/tokens", data)
        assert bad.status_code == 422 and 'role="alert"' in bad.get_data(as_text=True)
    assert snapshot(db) == before
    other = make_person(Role.MEMBER)
    before = snapshot(db)
    with db.engine.connect() as conn:
        theirs = conn.execute(
            text("SELECT id FROM api_token WHERE person_id=:i"), {"i": other.id}
        ).scalar_one()
    assert (
        post_form(
            client, f"/account/tokens/{theirs}/revoke", {}, from_page="/account/tokens"
        ).status_code
        == 404
    )
    assert snapshot(db) == before
    with db.engine.connect() as conn:
        mine = conn.execute(
            text("SELECT id FROM api_token WHERE person_id=:i AND name='till script'"),
            {"i": cara.id},
        ).scalar_one()
    assert (
        post_form(
            client, f"/account/tokens/{mine}/revoke", {}, from_page="/account/tokens"
        ).status_code
        == 302
    )
    assert (
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    )
