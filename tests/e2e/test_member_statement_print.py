"""The member's balance statement prints on one A4 page in Chromium, with every list at its
longest (credits.statements.member: the latest lines in and out, the open vouchers)."""

from __future__ import annotations

import re

import pytest

from credits.accounts import Role
from credits.statements.member import OPEN_VOUCHER_LINES, RECENT_LINES

pytestmark = pytest.mark.browser


def sign_in(page, base, email):
    page.goto(base + "/sign-in")
    page.get_by_label("Email address or mobile number").fill(email)
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def test_the_longest_statement_prints_on_one_page(live_server, desktop, make_person, client):
    member = make_person(Role.MEMBER, credits=500, name="Dot Without-Phone")
    officer = make_person(Role.OFFICER, name="Olu Officer")
    made = []
    for n in range(OPEN_VOUCHER_LINES + RECENT_LINES):
        resp = client.post(
            "/api/v1/vouchers",
            json={"amount": 5 + n, "idempotency_key": f"v{n}"},
            headers=member.auth,
        )
        assert resp.status_code == 201, resp.get_json()
        made.append(resp.get_json()["id"])
    for voucher_id in made[:RECENT_LINES]:  # credits back in: the "in" list fills up too
        resp = client.post(f"/api/v1/vouchers/{voucher_id}/cancel", headers=member.auth)
        assert resp.status_code == 200, resp.get_json()
    sign_in(desktop, live_server.url, officer.email)
    desktop.goto(f"{live_server.url}/people/{member.id}/statement")
    assert desktop.locator(".ms-table tbody tr").count() == OPEN_VOUCHER_LINES + 2 * RECENT_LINES
    desktop.emulate_media(media="print")
    pdf = desktop.pdf(format="A4", prefer_css_page_size=True)
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1
