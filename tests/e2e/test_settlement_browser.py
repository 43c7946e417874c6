"""Settling the worked month in real Chromium against the real server: an officer starts and
approves the run at desktop size; the shop reads its remittance on a phone, and prints it.
axe-core on every page: no serious or critical violations; nothing wider than the screen."""

from __future__ import annotations

import pytest
from freezegun import freeze_time

from credits.accounts import Role
from tests.conftest import axe_violations
from tests.integration.settlement.helpers import SETTLE_AT, set_payees, shop_staff
from tests.integration.statements.worked_month import build_worked_month, close_months

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery"


@pytest.fixture
def settings_overrides(settings_overrides):
    return {**settings_overrides, "VOUCHER_EXPIRY_DAYS": 5}


def check(page, shots, name, width):
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    assert axe_violations(page) == [], name
    assert page.evaluate("document.documentElement.scrollWidth") <= width, name


def sign_in(page, base, email):
    page.goto(base + "/sign-in")
    page.get_by_label("Email address or mobile number").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def test_the_month_settled_and_the_shop_reads_its_remittance(
    live_server, browser, db, client, make_person, tmp_path
):
    month = build_worked_month(db, client, make_person)
    second = make_person(Role.OFFICER, name="Second Officer")
    with freeze_time(SETTLE_AT):
        set_payees(client, month, second)
    close_months(db, "2026-09", "2026-10")
    staff = shop_staff(db, make_person, month.shop_b["shop_id"])
    base = live_server.url

    desk = browser.new_context(viewport={"width": 1280, "height": 800})
    page = desk.new_page()
    try:
        sign_in(page, base, month.officer.email)
        page.get_by_role("link", name="Settlements").first.click()
        page.wait_for_load_state()
        check(page, tmp_path, "1-settlements", 1280)
        page.get_by_label("Closed month to settle").select_option("2026-10")
        page.get_by_role("button", name="Work out the run").click()
        page.wait_for_load_state()
        check(page, tmp_path, "2-run", 1280)
        assert "£14.50" in page.content() and "£11.50" in page.content()
        page.get_by_role("button", name="Approve: settle £26.00").click()
        page.wait_for_load_state()
        assert page.get_by_text("Payments file for finance").is_visible()
        check(page, tmp_path, "3-approved", 1280)
        page.get_by_role("link", name="Market Grocer").click()
        page.wait_for_load_state()
        check(page, tmp_path, "4-remittance", 1280)
    finally:
        desk.close()

    phone = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page = phone.new_page()
    try:
        sign_in(page, base, staff.email)
        assert page.url.endswith("/shop/remittances")
        check(page, tmp_path, "5-shop-list", 390)
        page.get_by_role("link", name="CC202610").first.click()
        page.wait_for_load_state()
        check(page, tmp_path, "6-shop-remittance", 390)
        assert "£11.50" in page.content() and "9386" not in page.content()
        page.emulate_media(media="print")
        assert page.locator(".site-header").first.is_hidden()
        page.screenshot(path=str(tmp_path / "7-print.png"), full_page=True)
    finally:
        phone.close()
