"""The main flows with the keyboard alone, in real Chromium against the real server.

Tab and Shift+Tab to move, Enter and Space to press, typing to fill in: no mouse, no
``.click()``. Each step tabs to a control by its accessible name (:func:`tab_to`, a bounded
number of presses and a failure that lists where the focus went), checks that the focused
control shows a focus indicator (an outline or a box shadow), and each flow ends on its
result: a claim sent, a voucher made and cancelled, a session sheet recorded, a claim
approved, a month closed, a voucher taken at the counter.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from credits import earning, ledger
from credits.accounts import Person, Role
from credits.accounts.sessions import start_session
from tests.conftest import free_port
from tests.integration.earning.conftest import build_scheme
from tests.integration.statements.worked_month import build_worked_month, close_months

pytestmark = pytest.mark.browser

#: Tab presses allowed to reach one control: more than any page needs, fewer than a loop.
MAX_PRESSES = 60

#: The focused element, described for a failure message: its role-ish tag and its words.
DESCRIBE_FOCUS = """() => {
  const e = document.activeElement;
  if (!e || e === document.body) return '(nothing: the page)';
  const words = (e.getAttribute('aria-label') || e.innerText || e.value || e.id || '')
    .trim().replace(/\\s+/g, ' ').slice(0, 60);
  return `<${e.tagName.toLowerCase()}> ${words}`;
}"""

#: What a sighted keyboard user sees of the focus: an outline or a box shadow.
FOCUS_STYLE = """() => {
  const e = document.activeElement;
  const s = getComputedStyle(e);
  const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0;
  const shadow = s.boxShadow && s.boxShadow !== 'none';
  return {outline, shadow, matches: e.matches(':focus-visible')};
}"""


def tab_to(page: Any, role: str, name: str | re.Pattern[str], *, back: bool = False) -> Any:
    """Press Tab (Shift+Tab when ``back``) until the control with this role and accessible
    name has the focus; check its focus is visible; return its locator."""
    target = page.get_by_role(role, name=name).first
    target.wait_for(state="attached")
    passed: list[str] = []
    for _ in range(MAX_PRESSES):
        if target.evaluate("e => e === document.activeElement"):
            assert_focus_visible(page, f"{role} {name!r}")
            return target
        page.keyboard.press("Shift+Tab" if back else "Tab")
        passed.append(page.evaluate(DESCRIBE_FOCUS))
    pytest.fail(
        f"{role} {name!r} not reached in {MAX_PRESSES} presses of "
        f"{'Shift+Tab' if back else 'Tab'} on {page.url}; the focus went through: "
        + " | ".join(passed)
    )


def assert_focus_visible(page: Any, what: str) -> None:
    style = page.evaluate(FOCUS_STYLE)
    assert style["outline"] or style["shadow"], f"no visible focus on {what}: {style}"


def press_and_wait(page: Any, key: str = "Enter") -> None:
    """Press ``key`` on the focused control and wait for the page it leads to."""
    with page.expect_navigation():
        page.keyboard.press(key)


def signed_in(browser: Any, base: str, db: Any, who: Any, role: Role, **options: Any) -> Any:
    """A page in a new context, signed in as ``who`` acting in ``role`` (session cookie)."""

    def start(s: Any) -> str:
        return start_session(s, s.get(Person, who.id), role=role)[1]

    context = browser.new_context(viewport={"width": 1280, "height": 900}, **options)
    context.add_cookies([{"name": "cc_session", "value": db.run(start), "url": base}])
    return context.new_page()


@pytest.fixture
def settings_overrides(settings_overrides):
    return {**settings_overrides, "VOUCHER_EXPIRY_DAYS": 5}  # the worked month's vouchers


@pytest.fixture
def scheme(db, make_person):
    return build_scheme(db, make_person)


def test_a_volunteer_claims_a_session_by_keyboard(live_server, browser, db, scheme):
    base = live_server.url
    page = signed_in(browser, base, db, scheme.ann, Role.MEMBER)
    try:
        page.goto(base + "/me")
        tab_to(page, "link", "Claim a session")
        press_and_wait(page)
        tab_to(page, "combobox", "Activity")
        page.keyboard.type("Snow")
        tab_to(page, "textbox", "How much")
        page.keyboard.type("1.5")
        tab_to(page, "button", "Send claim")
        # Back to add a note before sending: Shift+Tab.
        tab_to(page, "textbox", re.compile("^What you did"), back=True)
        page.keyboard.type("Cleared the path to the school")
        tab_to(page, "button", "Send claim")
        press_and_wait(page)
        assert page.url.endswith("/me")
        assert "Claim sent" in page.get_by_role("status").inner_text()
    finally:
        page.context.close()
    claims = scheme.run(earning.member_claims, scheme.ann)
    assert [c.state for c in claims] == ["pending"]
    assert claims[0].note == "Cleared the path to the school"


def test_a_volunteer_makes_and_cancels_a_voucher_by_keyboard(live_server, browser, db, make_person):
    base = live_server.url
    ann = make_person(Role.MEMBER, credits=80, name="Ann Okafor")
    page = signed_in(browser, base, db, ann, Role.MEMBER)
    try:
        page.goto(base + "/vouchers")
        tab_to(page, "link", "Spend credits")
        press_and_wait(page)
        tab_to(page, "textbox", "Or type an amount (credits)")
        page.keyboard.type("25")
        tab_to(page, "button", "Make voucher")
        press_and_wait(page)
        assert page.get_by_role("heading", name="25 credits").is_visible()
        tab_to(page, "link", "Cancel this voucher")
        press_and_wait(page)
        tab_to(page, "button", "Yes, cancel it")
        press_and_wait(page, " ")  # Space presses a button too
        assert re.search("cancel", page.get_by_role("status").inner_text(), re.I)
    finally:
        page.context.close()
    with db.read() as s:
        assert ledger.balance(s, ann.account_id) == 80


def test_a_coordinator_records_a_session_sheet_and_approves_a_claim_by_keyboard(
    live_server, browser, db, scheme
):
    scheme.claim(quantity="2", note="Gritted the steps")  # Ann's claim, waiting for Cara
    base = live_server.url
    page = signed_in(browser, base, db, scheme.coord, Role.COORDINATOR)
    try:
        page.goto(base + f"/coordinator/groups/{scheme.snow_team}/sheet")
        tab_to(page, "combobox", "Activity")
        page.keyboard.type("Snow")
        tab_to(page, "textbox", "Bola Adeyemi")
        page.keyboard.type("2")
        tab_to(page, "button", "Record the session")
        press_and_wait(page)
        assert "Done: 20 credits for Bola Adeyemi" in page.get_by_role("status").inner_text()

        page.goto(base + "/coordinator/approvals")
        tab_to(page, "button", re.compile("^Approve 20 credits for Ann Okafor"))
        press_and_wait(page)
        assert "Approved: 20 credits for Ann Okafor" in page.get_by_role("status").inner_text()
    finally:
        page.context.close()
    assert scheme.balance(scheme.ann) == 20 and scheme.balance(scheme.bola) == 20


def test_an_officer_closes_a_month_by_keyboard(live_server, browser, db, client, make_person):
    # The worked month (October 2026, ended): September is closed, so October closes next.
    month = build_worked_month(db, client, make_person)
    close_months(db, "2026-09")
    base = live_server.url
    page = signed_in(browser, base, db, month.officer, Role.OFFICER)
    try:
        page.goto(base + "/officer/statements/2026-10")
        tab_to(page, "link", "Close 2026-10")
        press_and_wait(page)
        assert page.url.endswith("/officer/statements/2026-10/close")
        tab_to(page, "button", "Close 2026-10")
        press_and_wait(page)
        # The close runs in the background; the page follows it and shows the result.
        page.locator("#closed").wait_for(timeout=90_000)
        assert "2026-10 is closed" in page.locator("#closed").inner_text()
    finally:
        page.context.close()


def test_a_shop_takes_a_voucher_at_the_counter_by_keyboard(
    live_server, browser, db, make_person, tmp_path
):
    from tests.e2e.test_terminal_against_the_ledger import (
        add_terminal,
        balance,
        issue,
        make_terminal,
    )
    from tests.terminal.conftest import CounterServer

    ann = make_person(Role.MEMBER, credits=50)
    _, shop, token = add_terminal(db, "Brixton Bakery", "Till 1")
    voucher = issue(live_server.url, ann, 12, "keyboard-1")
    till = make_terminal(tmp_path, live_server.url, token, "till")
    counter = CounterServer(till, free_port())
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto(counter.url)
        # The code field has the focus on arrival (a scanner types into it); a person typing
        # the code tabs on to the button.
        tab_to(page, "textbox", "Scan the voucher, or type its code and press Enter")
        page.keyboard.type(voucher["code"])
        tab_to(page, "button", "Check & take")
        page.keyboard.press("Enter")
        page.locator('#result[data-tone="yes"]').wait_for(timeout=15_000)
        assert "12 credits" in page.locator("#result").inner_text()
        assert balance(db, shop) == 12
    finally:
        context.close()
        counter.stop()
        till.close()
