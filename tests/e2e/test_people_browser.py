"""People and access in real Chromium against the real server: an officer invites a member,
who joins and signs in on a phone; a forgotten password; registration. axe-core on every page
(no serious or critical violations); screenshots in the test's tmp_path."""

from __future__ import annotations

import pytest

from credits.accounts import Role
from tests.conftest import axe_violations

pytestmark = pytest.mark.browser

NEW_PASSWORD = "kettle garden bicycle"


def check(page, tmp_path, name, *, width=None):
    """axe finds nothing serious; nothing scrolls sideways; keep a screenshot to look at."""
    page.wait_for_load_state()
    assert axe_violations(page) == [], name
    if width:
        assert page.evaluate("document.documentElement.scrollWidth") <= width, name
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)


def sign_in(page, base, login, password):
    page.goto(base + "/sign-in")
    page.get_by_label("Email address or mobile number").fill(login)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def test_officer_invites_a_member_who_joins_on_a_phone(
    live_server, desktop, phone, make_person, mailbox, tmp_path
):
    officer = make_person(Role.OFFICER, name="Olu Officer")
    make_person(Role.MEMBER, name="Ann Okafor")
    base = live_server.url

    sign_in(desktop, base, officer.email, "correct horse battery")
    assert desktop.url == base + "/officer"
    check(desktop, tmp_path, "01-officer-home")
    desktop.get_by_role("link", name="Invite someone").click()
    check(desktop, tmp_path, "02-invite-form")
    # A mistake first: the error is summarised at the top and nothing is sent.
    desktop.get_by_role("button", name="Send the invitation").click()
    alert = desktop.get_by_role("alert")
    assert "name" in alert.inner_text().lower()
    check(desktop, tmp_path, "03-invite-errors")
    assert mailbox.all() == []
    desktop.get_by_label("Full name").fill("Bea Volunteer")
    desktop.get_by_label("Email address").fill("bea@test.example")
    desktop.get_by_label("Mobile number (optional)").fill("07700 900777")
    desktop.get_by_role("button", name="Send the invitation").click()
    desktop.wait_for_load_state()
    assert desktop.get_by_text("Invitation sent to bea@test.example").is_visible()
    check(desktop, tmp_path, "04-person-invited")
    for name, path in [
        ("05-people", "/officer/people"),
        ("06-invitations", "/officer/invitations"),
        ("07-registrations", "/officer/registrations"),
        ("08-tokens", "/officer/tokens"),
        ("09-audit", "/officer/audit"),
    ]:
        desktop.goto(base + path)
        check(desktop, tmp_path, name)

    # Bea opens the emailed link on her phone.
    link = mailbox.last(to="bea@test.example", kind="invitation").link()
    assert link.startswith(base + "/invitation?token=")
    phone.goto(link)
    assert phone.get_by_role("heading", name="Welcome, Bea Volunteer").is_visible()
    check(phone, tmp_path, "10-phone-accept", width=390)
    phone.get_by_label("Choose a password").fill(NEW_PASSWORD)
    phone.get_by_label("Type it again").fill(NEW_PASSWORD)
    phone.get_by_role("button", name="Set my password").click()
    phone.wait_for_load_state()
    assert "/sign-in" in phone.url
    assert phone.get_by_text("Your password is set").is_visible()
    check(phone, tmp_path, "11-phone-sign-in", width=390)
    phone.get_by_label("Email address or mobile number").fill("07700 900777")
    phone.get_by_label("Password").fill(NEW_PASSWORD)
    phone.get_by_role("button", name="Sign in").click()
    phone.wait_for_load_state()
    assert phone.get_by_text("Bea Volunteer").first.is_visible()
    phone.goto(base + "/account")
    check(phone, tmp_path, "12-phone-account", width=390)
    phone.get_by_role("link", name="Manage your API tokens").click()
    check(phone, tmp_path, "13-phone-tokens", width=390)

    # The officer sees it happen.
    desktop.goto(base + "/officer/audit?action=invitation.accept")
    assert desktop.get_by_text("1 event.").is_visible()


def test_forgotten_password_on_a_phone(live_server, phone, make_person, mailbox, tmp_path):
    ann = make_person(Role.MEMBER, name="Ann Okafor")
    base = live_server.url
    phone.goto(base + "/sign-in")
    phone.get_by_role("link", name="Forgotten your password?").click()
    check(phone, tmp_path, "20-forgot", width=390)
    phone.get_by_label("Email address").fill(ann.email)
    phone.get_by_role("button", name="Send me a link").click()
    assert phone.get_by_role("heading", name="Check your email").is_visible()
    check(phone, tmp_path, "21-sent", width=390)
    phone.goto(mailbox.last(to=ann.email, kind="password_reset").link())
    check(phone, tmp_path, "22-reset", width=390)
    phone.get_by_label("New password").fill(NEW_PASSWORD)
    phone.get_by_label("Type it again").fill("a different one entirely")
    phone.get_by_role("button", name="Set my new password").click()
    assert "Type the same password twice" in phone.get_by_role("alert").inner_text()
    check(phone, tmp_path, "23-reset-error", width=390)
    phone.get_by_label("New password").fill(NEW_PASSWORD)
    phone.get_by_label("Type it again").fill(NEW_PASSWORD)
    phone.get_by_role("button", name="Set my new password").click()
    phone.wait_for_load_state()
    assert "signed out everywhere" in phone.content()
    sign_in(phone, base, ann.email, NEW_PASSWORD)
    assert phone.get_by_text("Ann Okafor").first.is_visible()


def test_registration_at_320_pixels(live_server, browser, mailbox, tmp_path):
    context = browser.new_context(viewport={"width": 320, "height": 700})
    page = context.new_page()
    try:
        base = live_server.url
        page.goto(base + "/register")
        check(page, tmp_path, "30-register-320", width=320)
        page.get_by_label("Full name").fill("Rae Resident")
        page.get_by_label("Email address").fill("rae@test.example")
        page.get_by_label("Choose a password").fill("short")
        page.get_by_role("button", name="Register").click()
        assert "at least 10 characters" in page.get_by_role("alert").inner_text()
        check(page, tmp_path, "31-register-error-320", width=320)
        page.get_by_label("Choose a password").fill(NEW_PASSWORD)
        page.get_by_role("button", name="Register").click()
        assert page.get_by_role("heading", name="Check your email").is_visible()
        page.goto(mailbox.last(to="rae@test.example").link())
        check(page, tmp_path, "32-confirm-320", width=320)
        page.get_by_role("button", name="Confirm my email address").click()
        assert page.get_by_text("your email address is confirmed").is_visible()
        check(page, tmp_path, "33-confirmed-320", width=320)
    finally:
        context.close()
