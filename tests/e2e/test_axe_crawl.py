"""Every page of every role passes axe-core in Chromium, at 320 px and at 1280 px.

A crawler over the app's URL map (the world of tests/integration/test_page_crawl.py: the
worked month, the people pages' cases, a person for each role): for each role, and for
someone not signed in, Chromium opens every GET rule outside /api/ with each of its concrete
paths, signed in by the session cookie, and runs axe-core on every HTML answer at both widths
(the page is loaded once at 1280 px, checked, narrowed to 320 px and checked again). It does
not follow links: the URL map already names every page, and a rule whose parameter has no
value in the world fails the test, so a new page cannot skip the check.

Pass: no violation of impact "serious" or "critical" (WCAG 2.2 AA and axe's best practices,
docs/accessibility.md). Every violation found is reported at once: page, role, width, rule id
and the elements it names. Answers that are not HTML (CSV, JSON, images, scripts) are
skipped; an error page (403, 404) is checked once per role and status, and a page a rule
redirects to once per role.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import pytest

from credits.accounts import Role
from tests.conftest import AXE_JS, PG_URL, need
from tests.integration.page_world import (
    NEVER_200,
    ROLES,
    build_world,
    get_rules,
    mail_token,
    paths_of_rule,
    session_token,
    world_settings,
)

pytestmark = [
    pytest.mark.browser,
    # The pages are the same templates on both databases, and the crawl takes minutes: it
    # runs in the SQLite leg. test_page_crawl.py (no browser) walks every page on both.
    pytest.mark.skipif(
        PG_URL is not None, reason="the axe crawl runs in the SQLite leg (same pages)"
    ),
]

WIDE = {"width": 1280, "height": 900}
NARROW = {"width": 320, "height": 640}
IMPACTS = ("serious", "critical")
RUN_AXE = "async () => await axe.run(document, {resultTypes: ['violations']})"


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    return world_settings(settings_overrides)


def fresh_links(client: Any, make_person: Any, mailbox: Any) -> dict[str, str]:
    """Emailed links made now: the world's were made in its frozen November and have expired
    by the live server's clock (the real one). Each is opened once, by someone not signed in
    (the links are counted per address: ratelimit.LINK_IP)."""
    officer = make_person(Role.OFFICER, name="Lin Links")
    sent = [
        client.post(
            "/api/v1/invitations",
            json={"name": "Iris Invited", "email": "iris@test.example", "roles": ["member"]},
            headers=officer.auth,
        ),
        client.post(
            "/api/v1/registrations",
            json={"name": "Vic Visitor", "email": "vic@x.test", "password": "a long password!"},
        ),
        client.post("/api/v1/password-resets", json={"email": officer.email}),
    ]
    assert [r.status_code for r in sent] == [201, 202, 202], [r.get_json() for r in sent]
    return {
        "/invitation": mail_token(mailbox, "iris@test.example", "invitation"),
        "/password/reset": mail_token(mailbox, officer.email, "password_reset"),
        "/register/confirm": mail_token(mailbox, "vic@x.test", "registration_confirm"),
    }


def _violations(page: Any, minor: Counter[str]) -> list[tuple[str, str, list[Any]]]:
    """The serious and critical violations on the page; the others are counted in ``minor``
    (printed, not failed: they show the crawl sees what axe reports)."""
    result = page.evaluate(RUN_AXE)
    minor.update(v["id"] for v in result["violations"] if v["impact"] not in IMPACTS)
    return [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:6])
        for v in result["violations"]
        if v["impact"] in IMPACTS
    ]


def test_every_page_of_every_role_passes_axe_at_320_and_1280(
    live_server, browser, app, db, client, make_person, mailbox
):
    need(AXE_JS.exists(), f"axe-core not installed at {AXE_JS} (./dev setup)")
    axe = AXE_JS.read_text(encoding="utf-8") + "\n;undefined"
    t0 = time.monotonic()
    world = build_world(db, client, make_person, mailbox)
    world["links"] = fresh_links(client, make_person, mailbox)
    built = time.monotonic() - t0
    base = live_server.url
    # Static files are never pages: not asked for.
    rules = [r for r in get_rules(app) if not r.endpoint.endswith("static")]
    rendered: set[str] = set()  # rules that answered 200 to somebody
    found: list[str] = []
    minor: Counter[str] = Counter()
    checked = 0
    opened = 0
    asking = 0.0
    started = time.monotonic()
    for role in ROLES:
        who = role.value if role else "anonymous"
        # Service workers off: the crawl checks what the server sends, not a cached copy.
        context = browser.new_context(viewport=WIDE, service_workers="block")
        if role is not None:
            token = session_token(db, role, world["people"][role])
            context.add_cookies([{"name": "cc_session", "value": token, "url": base}])
        page = context.new_page()
        done: set[str] = set()  # final paths, and "error <status>", already checked
        try:
            for rule in rules:
                if rule.rule in world["links"] and role is not None:
                    continue  # an emailed link is opened by its reader, not signed in
                for path in paths_of_rule(rule, world["values"]):
                    token = world["links"].get(path)
                    url = f"{path}?token={token}" if token else path
                    # Asked first without rendering (downloads, JSON, images are skipped).
                    t = time.monotonic()
                    answer = context.request.get(base + url)
                    asking += time.monotonic() - t
                    opened += 1
                    if answer.status == 200:
                        rendered.add(rule.rule)
                    if "text/html" not in answer.headers.get("content-type", ""):
                        continue
                    final = urlsplit(answer.url)
                    key = f"error {answer.status}" if answer.status >= 400 else final.path
                    if key in done or (answer.status < 400 and rule.rule in done):
                        continue
                    done.update((key, rule.rule) if answer.status < 400 else (key,))
                    page.goto(base + url)
                    page.evaluate(axe)
                    for size in (WIDE, NARROW):
                        page.set_viewport_size(size)
                        for rule_id, impact, targets in _violations(page, minor):
                            found.append(
                                f"{who} {url} ({answer.status}) at {size['width']}px: "
                                f"{rule_id} [{impact}] {targets}"
                            )
                    checked += 1
                    page.set_viewport_size(WIDE)
                    if answer.status < 400:
                        break  # the rule's page is checked for this role: its next path
        finally:
            context.close()
    elapsed = time.monotonic() - started
    print(
        f"\naxe crawl: {len(ROLES)} roles, {opened} URLs requested, "
        f"{checked} pages checked at 320 and 1280 px ({2 * checked} axe runs), "
        f"{elapsed:.0f} s (of which {asking:.0f} s asking; the world built in {built:.0f} s)"
    )
    print(f"moderate and minor (not failed): {dict(minor)}")
    # Signed in for real: every page rendered for somebody (as in test_page_crawl.py).
    never = {r.rule for r in rules} - rendered - set(NEVER_200)
    assert not never, f"rules no role saw with 200 (is the session cookie taken?): {never}"
    assert not found, f"{len(found)} serious or critical axe violations:\n" + "\n".join(found)
    assert checked > 50
