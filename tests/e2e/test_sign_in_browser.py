"""Signing in on a phone, in real Chromium, against the real server; axe on the page."""

import pytest

from credits.accounts import Role
from tests.conftest import axe_violations

pytestmark = pytest.mark.browser


def test_member_signs_in_on_a_phone(live_server, phone, make_person, tmp_path):
    ann = make_person(Role.MEMBER, name="Ann Okafor")
    phone.goto(live_server.url + "/sign-in")
    assert axe_violations(phone) == []
    phone.get_by_label("Email address or mobile number").fill(ann.email)
    phone.get_by_label("Password").fill("correct horse battery")
    phone.get_by_role("button", name="Sign in").click()
    phone.wait_for_load_state()
    assert phone.get_by_text("Ann Okafor").is_visible()
    phone.screenshot(path=str(tmp_path / "signed-in.png"), full_page=True)
    assert axe_violations(phone) == []
    # No horizontal scrolling at phone width.
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390


def test_wrong_password_is_announced(live_server, phone, make_person):
    ann = make_person(Role.MEMBER)
    phone.goto(live_server.url + "/sign-in")
    phone.get_by_label("Email address or mobile number").fill(ann.email)
    phone.get_by_label("Password").fill("not the password")
    phone.get_by_role("button", name="Sign in").click()
    alert = phone.get_by_role("alert")
    assert "is not right" in alert.inner_text()
    assert axe_violations(phone) == []
