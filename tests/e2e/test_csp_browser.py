"""The pages that used to need inline script or style work in real Chromium under the
Content-Security-Policy: the printable voucher (A4 and A6) and its print button, and the
officer's home page. (Every browser test fails on a CSP violation: tests/conftest.py.)"""

from __future__ import annotations

import pytest

from credits.accounts import Role
from tests.conftest import CSP_VIOLATIONS

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery"


def sign_in(page, base, email):
    page.goto(base + "/sign-in")
    page.get_by_label("Email address or mobile number").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def test_print_buttons_work_under_the_policy(live_server, desktop, make_person, client):
    ann = make_person(Role.MEMBER, credits=40)
    made = client.post(
        "/api/v1/vouchers", json={"amount": 5, "idempotency_key": "csp"}, headers=ann.auth
    ).get_json()
    sign_in(desktop, live_server.url, ann.email)
    for paper in ("a4", "a6"):
        desktop.goto(f"{live_server.url}/vouchers/{made['id']}/print?paper={paper}")
        desktop.evaluate("() => { window.printed = 0; window.print = () => window.printed++; }")
        desktop.get_by_role("button", name="Print").click()
        assert desktop.evaluate("window.printed") == 1
        sheet = f"print-{paper}.css"
        assert desktop.locator(f'link[href$="{sheet}"]').count() == 1

    officer = make_person(Role.OFFICER)
    desktop.context.clear_cookies()
    sign_in(desktop, live_server.url, officer.email)
    desktop.goto(live_server.url + "/officer")
    assert CSP_VIOLATIONS == []


def test_an_inline_script_is_reported_as_a_violation(live_server, desktop):
    """The harness itself: the policy is enforced, and a violation reaches the watcher."""
    desktop.goto(live_server.url + "/")
    with desktop.expect_console_message(lambda m: "Content Security Policy" in m.text):
        desktop.evaluate(
            "() => { const s = document.createElement('script');"
            " s.textContent = 'window.ran = true'; document.body.appendChild(s); }"
        )
    assert desktop.evaluate("window.ran === undefined")
    assert any("Content Security Policy" in v for v in CSP_VIOLATIONS)
    CSP_VIOLATIONS.clear()  # expected here; any other test would fail on it
