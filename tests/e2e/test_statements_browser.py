"""Statements in real Chromium at desktop size (1280×800) against the real server: the month
picker, the scheme and shop statements (the API's numbers), print media, and closing the
month. axe-core on every page: no serious or critical violations."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from credits.statements.models import CloseRun
from tests.conftest import axe_violations
from tests.integration.statements.worked_month import build_worked_month, close_months

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery"


@pytest.fixture
def settings_overrides(settings_overrides):
    return {**settings_overrides, "VOUCHER_EXPIRY_DAYS": 5}


FINISH = (
    "UPDATE close_run SET status = 'passed', active = NULL, finished_at = heartbeat_at, "
    "checks = :checks WHERE id = :id"
)
PASSED = json.dumps(
    [
        {
            "name": "entries_balanced",
            "description": "Every entry balances",
            "ok": True,
            "checked": 1,
            "problem_count": 0,
            "problems": [],
            "elapsed_s": 0.1,
        }
    ]
)


def going_run(db) -> int:
    """Record a run of the checks as going, one check done, with a fresh heartbeat."""
    now = datetime.now(UTC)
    run = CloseRun(
        month="2026-10",
        purpose="check",
        requested_by="person:1 as officer via session:1",
        requested_at=now,
        heartbeat_at=now,
        worker="another-host:1",
        status="running",
        active=1,
        progress={"total": 13, "done": ["entries_balanced"], "phase": "checks"},
    )

    def add(s):
        s.add(run)
        s.flush()
        return run.id

    return db.run(add)


def check(page, shots, name):
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    assert axe_violations(page) == [], name
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280, name


def test_an_officer_reads_prints_and_closes_october(
    live_server, browser, db, client, make_person, tmp_path
):
    month = build_worked_month(db, client, make_person)
    close_months(db, "2026-09")  # months close in order: the page closes October
    api = client.get("/api/v1/statements/2026-10", headers=month.officer.auth).get_json()
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    shots = tmp_path
    page = context.new_page()
    base = live_server.url
    try:
        page.goto(base + "/sign-in")
        page.get_by_label("Email address or mobile number").fill(month.officer.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()

        page.get_by_role("link", name="Statements").first.click()
        page.wait_for_load_state()
        check(page, shots, "1-months")
        page.get_by_label("Month").fill("2026-10")
        page.get_by_role("button", name="Show statement").click()
        page.wait_for_load_state()
        assert page.url.endswith("/officer/statements/2026-10")
        check(page, shots, "2-scheme")
        for key in ("issued", "redeemed", "expired", "outstanding"):
            shown = page.locator(f'[data-figure="{key}"]').inner_text()
            assert shown == str(api["totals"][key]), key
        assert page.locator('[data-figure="tb-total"]').inner_text() == "0"
        assert page.locator('[data-figure="owed-total"]').inner_text() == "£26.00"

        # Printed, it is a statement: no navigation, no forms, no download links.
        page.emulate_media(media="print")
        assert page.locator(".subnav").is_hidden()
        assert page.locator(".downloads").is_hidden()
        assert page.locator("#trial-balance").is_visible()
        page.screenshot(path=str(shots / "3-print.png"), full_page=True)
        page.emulate_media(media="screen")

        page.get_by_role("link", name="Market Grocer").click()
        page.wait_for_load_state()
        check(page, shots, "4-shop")
        assert page.locator('[data-figure="owed"]').inner_text() == "£11.50"
        assert page.locator("tr.exception").count() == 2  # the double spend and the reversal

        # A run of the checks going in another process: the page shows its progress and its
        # script follows it, reloading with the result when it ends.
        run_id = going_run(db)
        page.goto(base + "/officer/statements/2026-10/close")
        assert "1 of 13 checks done" in page.locator("#run-progress").inner_text()
        check(page, shots, "5-run-going")
        db.run(lambda s: s.execute(text(FINISH), {"id": run_id, "checks": PASSED}))
        page.locator("#run-result").wait_for(timeout=30_000)
        assert page.locator("#run-result").inner_text() == "Every check passed."
        check(page, shots, "6-checked")

        # The real close, in the background of the server that served the press.
        page.get_by_role("button", name="Close 2026-10").click()
        page.locator("#closed").wait_for(timeout=60_000)
        assert re.search("2026-10 is closed", page.locator("#closed").inner_text())
        check(page, shots, "7-closed")
    finally:
        context.close()
