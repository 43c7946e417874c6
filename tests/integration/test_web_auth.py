"""Signing in to the pages: sessions, CSRF, guards, roles."""

import pytest
from sqlalchemy import text

from credits.accounts import Role
from credits.web.auth import SESSION_COOKIE, page_requires

from .web_helpers import csrf_from, post_form, sign_in


@pytest.fixture
def guarded(app):
    app.add_url_rule(
        "/test/member-only", "member_only", page_requires(Role.MEMBER)(lambda: "member page")
    )
    app.add_url_rule(
        "/test/officer-only", "officer_only", page_requires(Role.OFFICER)(lambda: "officer page")
    )
    return app


def test_sign_in_sets_a_safe_cookie_and_opens_pages(client, make_person, guarded):
    ann = make_person(Role.MEMBER, name="Ann")
    resp = sign_in(client, ann.email)
    assert resp.status_code == 302
    cookie = resp.headers["Set-Cookie"]
    assert SESSION_COOKIE in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get("/test/member-only").get_data(as_text=True) == "member page"
    home = client.get("/")
    assert "Ann" in home.get_data(as_text=True) and "Sign out" in home.get_data(as_text=True)
    assert home.headers["Cache-Control"] == "no-store"


def test_secure_cookie_when_configured(settings_overrides, test_database):
    from credits import create_app
    from credits.services import Services

    svc = Services.build({**settings_overrides, "SECURE_COOKIES": "true"})
    try:
        from credits import ledger

        svc.db.run(lambda s: ledger.bootstrap(s))
        from credits.accounts import create_person

        svc.db.run(
            lambda s: create_person(
                s,
                name="A",
                email="a@test.example",
                password="correct horse battery",
                granted_by="t",
                password_profile="fast",
            )
        )
        client = create_app(services=svc).test_client()
        resp = sign_in(client, "a@test.example")
        assert "Secure" in resp.headers["Set-Cookie"]
    finally:
        svc.close()


@pytest.mark.parametrize(
    "login, password",
    [
        ("member1@test.example", "wrong password!"),
        ("nobody@test.example", "correct horse battery"),
        ("", ""),
        ("07700 900000", "correct horse battery"),
    ],
)
def test_wrong_details_are_refused_with_one_message(client, make_person, login, password):
    make_person(Role.MEMBER)
    resp = sign_in(client, login, password)
    assert resp.status_code == 401
    body = resp.get_data(as_text=True)
    assert "is not right" in body and SESSION_COOKIE not in resp.headers.get("Set-Cookie", "")


def test_sign_in_by_phone_number(client, db, make_person):
    ann = make_person(Role.MEMBER)
    db.run(
        lambda s: s.execute(
            text("UPDATE person SET phone = '+447700900123' WHERE id = :i"), {"i": ann.id}
        )
    )
    assert sign_in(client, "+44 7700 900123").status_code == 302


def test_disabled_people_cannot_sign_in_and_are_signed_out(client, db, make_person, guarded):
    ann = make_person(Role.MEMBER)
    sign_in(client, ann.email)
    assert client.get("/test/member-only").status_code == 200
    db.run(
        lambda s: s.execute(
            text("UPDATE person SET status = 'disabled' WHERE id = :i"), {"i": ann.id}
        )
    )
    assert client.get("/test/member-only").status_code == 302  # the session no longer counts
    assert sign_in(client, ann.email).status_code == 401


def test_pages_redirect_to_sign_in_and_back(client, make_person, guarded):
    resp = client.get("/test/member-only?x=1")
    assert resp.status_code == 302 and "/sign-in?next=" in resp.headers["Location"]
    ann = make_person(Role.MEMBER)
    page = client.get(resp.headers["Location"])
    done = client.post(
        resp.headers["Location"],
        data={
            "login": ann.email,
            "password": "correct horse battery",
            "csrf_token": csrf_from(page.get_data(as_text=True)),
        },
    )
    assert done.headers["Location"] == "/test/member-only?x=1"


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)"]
)
def test_no_open_redirect_after_sign_in(client, make_person, target):
    ann = make_person(Role.MEMBER)
    page = client.get("/sign-in")
    resp = client.post(
        f"/sign-in?next={target}",
        data={
            "login": ann.email,
            "password": "correct horse battery",
            "csrf_token": csrf_from(page.get_data(as_text=True)),
        },
    )
    assert resp.status_code == 302 and "evil" not in resp.headers["Location"]
    assert "javascript" not in resp.headers["Location"]


def test_wrong_role_is_403(client, make_person, guarded):
    ann = make_person(Role.MEMBER)
    sign_in(client, ann.email)
    resp = client.get("/test/officer-only", headers={"Accept": "text/html"})
    assert resp.status_code == 403 and "Not allowed" in resp.get_data(as_text=True)


def test_forms_without_a_valid_csrf_token_are_refused(client, make_person):
    ann = make_person(Role.MEMBER)
    for data in [
        {"login": ann.email, "password": "correct horse battery"},
        {"login": ann.email, "password": "correct horse battery", "csrf_token": "0" * 64},
    ]:
        resp = client.post("/sign-in", data=data)
        assert resp.status_code == 403
    sign_in(client, ann.email)
    # A token from before sign-in no longer works after it (it was bound to the anonymous cookie).
    assert client.post("/sign-out", data={"csrf_token": "0" * 64}).status_code == 403


def test_sign_out_ends_the_session_everywhere(client, app, make_person, guarded):
    ann = make_person(Role.MEMBER)
    sign_in(client, ann.email)
    stolen = client.get_cookie(SESSION_COOKIE).value
    resp = post_form(client, "/sign-out", {}, from_page="/")
    assert resp.status_code == 302
    other = app.test_client()
    other.set_cookie(SESSION_COOKIE, stolen)
    assert other.get("/test/member-only").status_code == 302


def test_someone_with_two_roles_switches_between_them(client, make_person, guarded):
    cara = make_person(Role.COORDINATOR, roles=(Role.COORDINATOR, Role.MEMBER))
    sign_in(client, cara.email)
    assert client.get("/test/member-only", headers={"Accept": "text/html"}).status_code == 403
    resp = post_form(client, "/account/role", {"role": "member"}, from_page="/")
    assert resp.status_code == 302
    assert client.get("/test/member-only").status_code == 200
    # A role they do not hold is refused.
    assert post_form(client, "/account/role", {"role": "officer"}, from_page="/").status_code == 403


def test_the_api_ignores_session_cookies(client, make_person):
    ann = make_person(Role.MEMBER)
    sign_in(client, ann.email)
    assert client.get("/api/v1/me").status_code == 401
