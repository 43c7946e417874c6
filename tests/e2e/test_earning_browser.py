"""Earning in real Chromium against the real server: a volunteer claims on a phone, a
coordinator approves, the volunteer sees the new balance. axe-core on every page (no
serious or critical violations); every earning page at 320 px without sideways scrolling;
the whole flow with JavaScript switched off. Screenshots are saved in the test's tmp_path.
"""

import re
from datetime import timedelta

import pytest

from credits import earning
from credits.earning import dates
from tests.conftest import axe_violations
from tests.integration.earning.conftest import build_scheme

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery"


@pytest.fixture
def scheme(db, make_person):
    return build_scheme(db, make_person)


def sign_in(page, base, who):
    page.goto(base + "/sign-in")
    page.get_by_label("Email address or mobile number").fill(who.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def check(page, shots, name, width):
    """axe clean, no sideways scrolling, and a full-page screenshot."""
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    assert axe_violations(page) == [], name
    assert page.evaluate("document.documentElement.scrollWidth") <= width, name


def test_a_claim_on_a_phone_approved_by_the_coordinator(
    live_server,
    browser,
    phone,
    scheme,
    tmp_path,
):
    scheme.record(quantity="1.5")  # Ann already has 15 credits
    shots = tmp_path
    base = live_server.url

    sign_in(phone, base, scheme.ann)
    assert phone.url.endswith("/me")
    balance = phone.locator(".balance-number")
    assert balance.inner_text() == "15"
    assert phone.get_by_text("Snow clearing: 1.5 hours").is_visible()
    assert phone.get_by_text("Approved by Cara Coordinator").is_visible()
    check(phone, shots, "1-member-home", 390)

    phone.get_by_role("link", name="Claim a session").first.click()
    phone.wait_for_load_state()
    check(phone, shots, "2-claim-form", 390)
    # A mistake first: the error is announced and points at the field.
    phone.get_by_label("Activity").select_option("snow-clearing")
    phone.get_by_label("How much").fill("0.25")
    phone.get_by_role("button", name="Send claim").click()
    phone.wait_for_load_state()
    alert = phone.get_by_role("alert")
    assert "steps of 0.1" in alert.inner_text()
    assert phone.get_by_label("How much").get_attribute("aria-invalid") == "true"
    check(phone, shots, "3-claim-error", 390)
    phone.get_by_label("How much").fill("2")
    phone.get_by_label("What you did").fill("Cleared the path to the school")
    phone.get_by_role("button", name="Send claim").click()
    phone.wait_for_load_state()
    assert phone.url.endswith("/me")
    assert "Claim sent: 20 credits" in phone.get_by_role("status").inner_text()
    assert phone.get_by_text("Waiting for approval").is_visible()
    assert balance.inner_text() == "15"
    check(phone, shots, "4-claim-sent", 390)

    coordinator = browser.new_context(viewport={"width": 390, "height": 844})
    cara = coordinator.new_page()
    try:
        sign_in(cara, base, scheme.coord)
        assert cara.url.endswith("/coordinator")
        check(cara, shots, "5-coordinator-home", 390)
        cara.get_by_role("link", name=re.compile("claim waiting")).click()
        cara.wait_for_load_state()
        assert cara.get_by_text("Cleared the path to the school").is_visible()
        check(cara, shots, "6-approvals", 390)
        cara.get_by_role("button", name=re.compile("^Approve 20 credits for Ann Okafor")).click()
        cara.wait_for_load_state()
        assert "Approved: 20 credits for Ann Okafor" in cara.get_by_role("status").inner_text()
        check(cara, shots, "7-approved", 390)
    finally:
        coordinator.close()

    phone.reload()
    assert phone.locator(".balance-number").inner_text() == "35"
    assert phone.locator(".history-what", has_text="Snow clearing: 2 hours").is_visible()
    assert phone.locator(".badge-posted").first.is_visible()
    check(phone, shots, "8-member-new-balance", 390)


def test_every_earning_page_at_320px(live_server, browser, scheme, tmp_path):
    scheme.record(quantity="1.5")
    scheme.claim(quantity="2")
    scheme.record(member_email=scheme.bola.email, quantity="6")  # waits for an officer
    context = browser.new_context(viewport={"width": 320, "height": 640})
    page = context.new_page()
    base = live_server.url
    pages = {
        scheme.ann: ["/me", "/me/claim", "/me/claims", "/me/history"],
        scheme.coord: [
            "/coordinator",
            f"/coordinator/groups/{scheme.snow_team}",
            "/coordinator/record",
            f"/coordinator/groups/{scheme.snow_team}/sheet",
            "/coordinator/approvals",
        ],
        scheme.officer: [
            "/officer/earning",
            "/officer/earning/approvals",
            "/officer/earning/activities",
            "/officer/earning/activities/new",
            "/officer/earning/activities/snow-clearing",
            "/officer/earning/activities/snow-clearing/budgets",
            "/officer/earning/groups",
            "/officer/earning/groups/new",
            f"/officer/earning/groups/{scheme.snow_team}",
            "/officer/earning/settings",
        ],
    }
    try:
        for who, paths in pages.items():
            context.clear_cookies()
            sign_in(page, base, who)
            for path in paths:
                resp = page.goto(base + path)
                assert resp.status == 200, path
                name = "320" + path.replace("/", "-")
                check(page, tmp_path, name, 320)
        # A form with errors at 320 px: the session sheet with a bad line.
        context.clear_cookies()
        sign_in(page, base, scheme.coord)
        page.goto(base + f"/coordinator/groups/{scheme.snow_team}/sheet")
        page.get_by_label("Activity").select_option("snow-clearing")
        page.get_by_label("Ann Okafor").fill("0.25")
        page.get_by_label("Bola Adeyemi").fill("1")
        page.get_by_role("button", name="Record the session").click()
        page.wait_for_load_state()
        assert "1 line needs correcting" in page.get_by_role("alert").first.inner_text()
        check(page, tmp_path, "320-sheet-error", 320)
    finally:
        context.close()


def test_the_whole_flow_works_without_javascript(live_server, browser, scheme, tmp_path):
    context = browser.new_context(viewport={"width": 390, "height": 844}, java_script_enabled=False)
    page = context.new_page()
    base = live_server.url
    day = (dates.london_today() - timedelta(days=1)).isoformat()
    try:
        sign_in(page, base, scheme.ann)
        page.goto(base + "/me/claim")
        page.get_by_label("Activity").select_option("snow-clearing")
        page.get_by_label("How much").fill("1")
        page.get_by_label("Date").fill(day)
        page.get_by_role("button", name="Send claim").click()
        page.wait_for_load_state()
        page.screenshot(path=str(tmp_path / "nojs-claimed.png"), full_page=True)
        assert page.get_by_text("Waiting for approval").is_visible()
        context.clear_cookies()
        sign_in(page, base, scheme.coord)
        # Recording a whole session, too.
        page.goto(base + f"/coordinator/groups/{scheme.snow_team}/sheet")
        page.get_by_label("Activity").select_option("snow-clearing")
        page.get_by_label("Bola Adeyemi").fill("2")
        page.get_by_role("button", name="Record the session").click()
        page.wait_for_load_state()
        page.goto(base + "/coordinator/approvals")
        page.get_by_role("button", name=re.compile("^Approve 10 credits")).click()
        page.wait_for_load_state()
        # Rejecting uses a disclosure that works without JavaScript (<details>).
        page.screenshot(path=str(tmp_path / "nojs-approvals.png"), full_page=True)
    finally:
        context.close()
    assert scheme.balance(scheme.ann) == 10 and scheme.balance(scheme.bola) == 20
    assert [c.state for c in scheme.run(earning.member_claims, scheme.ann)] == ["posted"]
