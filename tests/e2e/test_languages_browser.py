"""A volunteer's main pages in each language, in real Chromium at 320 px: the browser asks
for the language (its locale sets Accept-Language), the page says so in ``<html lang>``, and
nothing is wider than the screen (longer words must still wrap). axe checks the home page
of each language (the language switcher's buttons, contrast, lang attributes)."""

from __future__ import annotations

from typing import Any

import pytest

from credits.accounts import Role
from tests.conftest import axe_violations

pytestmark = pytest.mark.browser

LOCALES = {"en": "en-GB", "pt": "pt-PT", "es": "es-ES", "pl": "pl-PL", "fr": "fr-FR"}
#: What each page must show in the language (proof it is not English with a lang attribute).
HOME_WORDS = {
    "en": "Your balance",
    "pt": "O seu saldo",
    "es": "Su saldo",
    "pl": "Twoje saldo",
    "fr": "Votre solde",
}

OVERFLOW_JS = """
() => {
  const width = document.documentElement.clientWidth;
  const wide = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    // Cut by the screen's edge: partly on screen and sticking out (a skip link parked off
    // screen until focused is not).
    const cut = (r.right > width + 1 && r.left < width) || (r.left < -1 && r.right > 0);
    if (r.width > 0 && cut && !el.classList.contains('visually-hidden')) {
      if (!el.closest('.table-wrap, .recent__scroll')) wide.push(el.tagName + '.' + el.className);
    }
  }
  return {scroll: document.documentElement.scrollWidth, width, wide: wide.slice(0, 5)};
}
"""


def overflow(page: Any) -> dict[str, Any]:
    found: dict[str, Any] = page.evaluate(OVERFLOW_JS)
    return found


def test_a_volunteers_pages_in_each_language_fit_320_px(
    browser: Any, live_server: Any, make_person: Any, client: Any
) -> None:
    # One server for every language (each is a browser of its own, asking for it). A
    # volunteer of their own for each: signing in keeps the first language a person used.
    for language in LOCALES:
        ann = make_person(Role.MEMBER, credits=1250, name="Ann Okafor-Wiśniewska")
        voucher = client.post(
            "/api/v1/vouchers", json={"amount": 125, "idempotency_key": "v1"}, headers=ann.auth
        ).get_json()
        check_language(browser, live_server.url, ann, voucher, language)


def check_language(
    browser: Any, base: str, ann: Any, voucher: dict[str, Any], language: str
) -> None:
    """Sign in with a browser asking for ``language`` and walk the volunteer's pages."""
    context = browser.new_context(
        viewport={"width": 320, "height": 640}, locale=LOCALES[language], device_scale_factor=2
    )
    page = context.new_page()
    try:
        page.goto(base + "/")
        assert page.get_attribute("html", "lang") == language
        page.goto(base + "/sign-in")
        page.fill("#login", ann.email)
        page.fill("#password", "correct horse battery")
        page.locator("main form button[type=submit]").click()
        page.wait_for_load_state()
        assert HOME_WORDS[language] in page.inner_text("main")
        assert axe_violations(page) == []
        paths = [
            "/",
            "/sign-in",
            "/me",
            "/vouchers",
            "/vouchers/new",
            f"/vouchers/{voucher['id']}",
            f"/vouchers/{voucher['id']}/cancel",
            f"/vouchers/{voucher['id']}/print",
            "/me/claim",
            "/me/claims",
            "/me/history",
            "/account",
            "/account/tokens",
        ]
        for path in paths:
            page.goto(base + path)
            assert page.get_attribute("html", "lang") == language, (language, path)
            found = overflow(page)
            assert found["scroll"] <= found["width"] and found["wide"] == [], (
                language,
                path,
                found,
            )
    finally:
        context.close()
