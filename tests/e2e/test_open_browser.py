"""The public record in real Chromium against the real server (gunicorn), as an anonymous
resident on a phone (390 px) and on a desktop: the figures are the statement's, the page
fits the screen, axe-core finds no serious or critical violation."""

from __future__ import annotations

import pytest

from tests.conftest import axe_violations
from tests.integration.statements.worked_month import build_worked_month, close_months

pytestmark = pytest.mark.browser


@pytest.fixture
def settings_overrides(settings_overrides):
    return {**settings_overrides, "VOUCHER_EXPIRY_DAYS": 5}


def check(page, shots, name, width):
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    assert axe_violations(page) == [], name
    assert page.evaluate("document.documentElement.scrollWidth") <= width, name


@pytest.mark.parametrize("width", [390, 1280])
def test_a_resident_reads_the_scheme_in_numbers(
    live_server, browser, db, client, make_person, tmp_path, width
):
    month = build_worked_month(db, client, make_person)
    close_months(db, "2026-09", "2026-10")
    api = client.get("/api/v1/statements/2026-10", headers=month.officer.auth).get_json()
    context = browser.new_context(viewport={"width": width, "height": 844})
    page = context.new_page()
    try:
        page.goto(live_server.url + "/")
        page.get_by_role("link", name="The scheme in numbers").first.click()
        page.wait_for_load_state()
        assert page.url.endswith("/open")
        check(page, tmp_path, f"open-{width}", width)
        row = page.locator('tr[data-month="2026-10"]')
        assert row.locator('[data-figure="earned"]').inner_text() == str(api["totals"]["issued"])
        assert row.locator('[data-figure="owed"]').inner_text() == f"£{api['totals']['owed_gbp']}"
        assert page.get_by_role("img", name="Credits earned and spent each month").is_visible()

        row.get_by_role("link", name="October 2026").click()
        page.wait_for_load_state()
        check(page, tmp_path, f"open-2026-10-{width}", width)
        assert page.locator('[data-figure="spent"]').first.inner_text() == str(
            api["totals"]["redeemed"]
        )
        assert page.locator('[data-figure="volunteers"]').first.inner_text() == "fewer than 5"
        assert page.locator('[data-figure="owed-total"]').inner_text() == "£26.00"
    finally:
        context.close()
