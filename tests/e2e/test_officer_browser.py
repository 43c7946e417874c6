"""The officer's pages in real Chromium at desktop size (1280×800) against the real server:
the dashboard, the exceptions queue, and an adjustment asked for by one officer and approved
by another, after which the member's balance and history show it. axe-core on every page (no
serious or critical violations); screenshots are saved in the test's tmp_path.
"""

from __future__ import annotations

from typing import Any

import pytest

from credits import ledger
from credits.accounts import Role
from credits.db import utcnow
from tests.conftest import axe_violations
from tests.integration.test_redemption import fetch_spent_list, issue, make_terminal, redeem

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery"
WIDTH, HEIGHT = 1280, 800


@pytest.fixture
def desk(browser: Any) -> Any:
    """A fresh desktop-sized browser context (its own cookies): one per officer."""
    contexts = []

    def make() -> Any:
        context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def sign_in(page: Any, base: str, who: Any) -> None:
    page.goto(base + "/sign-in")
    page.get_by_label("Email address or mobile number").fill(who.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def check(page: Any, shots: Any, name: str) -> None:
    """axe clean, no sideways scrolling at 1280 px, and a full-page screenshot."""
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    assert axe_violations(page) == [], name
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH, name


@pytest.fixture
def trading(client: Any, db: Any, make_person: Any) -> dict[str, Any]:
    """Two officers, a member who has spent vouchers, and an offline double spend."""
    first = make_person(Role.OFFICER, name="Olu Officer")
    second = make_person(Role.OFFICER, name="Pat Officer")
    ann = make_person(Role.MEMBER, credits=100, name="Ann Okafor")
    till = make_terminal(db)
    hardware = make_terminal(db, name="Acre Lane Hardware", till="Counter")
    fetch_spent_list(client, hardware)  # it keeps the offline rules: its claim is paid
    v = issue(client, ann, 30)
    redeem(client, till, v["code"], key="v", amount=25)
    w = issue(client, ann, 15)
    at = utcnow().isoformat()
    redeem(client, till, w["code"], key="w1", offline_accepted_at=at)
    redeem(client, hardware, w["code"], key="w2", offline_accepted_at=at)
    return {"first": first, "second": second, "ann": ann}


def test_dashboard_exceptions_and_an_adjustment_approved_by_a_second_officer(
    live_server, desk, trading, db, tmp_path
):
    base = live_server.url
    first, second, ann = trading["first"], trading["second"], trading["ann"]

    page = desk()
    sign_in(page, base, first)
    assert page.url.endswith("/officer")
    charts = page.locator("svg.chart")
    assert charts.count() == 2 and charts.first.is_visible()
    assert page.get_by_role("img", name="Credits issued and redeemed per month").is_visible()
    assert page.locator(".figure").first.is_visible()
    assert page.locator("tr.queue-double_spend").count() == 1
    check(page, tmp_path, "1-dashboard")

    page.get_by_role("link", name="The whole queue, with filters").click()
    page.wait_for_load_state()
    assert page.locator("tr.queue-double_spend").count() == 1
    page.get_by_label("Kind").select_option("reversal")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_load_state()
    assert page.get_by_text("Nothing matches.").is_visible()
    check(page, tmp_path, "2-exceptions")

    # Officer 1 asks for 80 credits for Ann (above the 50-credit threshold).
    page.goto(f"{base}/officer/people/{ann.id}")
    page.get_by_role("link", name="Credit or debit Ann Okafor's account").click()
    page.wait_for_load_state()
    check(page, tmp_path, "3-adjust-form")
    page.get_by_label("Credits", exact=True).fill("80")
    page.get_by_role("button", name="Adjust").click()
    page.wait_for_load_state()
    assert page.get_by_role("alert").is_visible()  # no reason given: refused, nothing asked
    check(page, tmp_path, "4-adjust-error")
    page.get_by_label("Reason", exact=True).fill("Snow day sheet lost: 8 hours not recorded")
    page.get_by_role("button", name="Adjust").click()
    page.wait_for_load_state()
    assert page.url.endswith("/officer/adjustments")
    assert "another officer must approve it" in page.get_by_role("status").inner_text()
    assert page.get_by_text("You asked for this").is_visible()
    assert page.get_by_role("button", name="Approve 80 credits for Ann Okafor").count() == 0
    check(page, tmp_path, "5-pending-for-the-requester")
    with db.read() as s:
        assert ledger.balance(s, ann.account_id) == 100 - 30 - 15 + 5

    # Officer 2 approves it.
    other = desk()
    sign_in(other, base, second)
    other.goto(base + "/officer/adjustments")
    check(other, tmp_path, "6-pending-for-the-approver")
    other.get_by_role("button", name="Approve 80 credits for Ann Okafor").click()
    other.wait_for_load_state()
    assert "Approved" in other.get_by_role("status").inner_text()
    assert other.get_by_text("Nothing is waiting.").is_visible()
    with db.read() as s:
        assert ledger.balance(s, ann.account_id) == 60 + 80

    # The member sees the new balance and the officer's reason.
    member = desk()
    sign_in(member, base, ann)
    assert member.locator(".balance-number").inner_text() == "140"
    member.goto(base + "/me/history")
    assert member.get_by_text(
        "Adjustment by the council: Snow day sheet lost: 8 hours not recorded"
    ).is_visible()
    check(member, tmp_path, "7-member-history")


def test_the_dashboard_on_a_phone(live_server, browser, trading, tmp_path):
    """320 px wide: no sideways scrolling, still axe clean (the charts scale down)."""
    context = browser.new_context(viewport={"width": 320, "height": 720})
    try:
        page = context.new_page()
        sign_in(page, live_server.url, trading["first"])
        assert page.locator("svg.chart").first.is_visible()
        page.screenshot(path=str(tmp_path / "dashboard-320.png"), full_page=True)
        assert axe_violations(page) == []
        assert page.evaluate("document.documentElement.scrollWidth") <= 320
    finally:
        context.close()
