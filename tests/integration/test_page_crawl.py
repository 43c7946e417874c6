"""Every page of every role renders: a crawler over the app's URL map.

The scheme is the worked month of the statement tests (October 2026: earnings, vouchers spent
in full and in part, a cancelled and an expired voucher, an offline double spend, a reversal,
a lapse; September and October closed, October settled and half paid at the bank), plus what
the people pages show: a resident who registered and
confirmed their address (the page that crashed: two filters were both called ``london``), one
who has not confirmed yet, an invitation, a password reset, adjustments posted and waiting,
a claim waiting for approval, an admin.

For each role (and for someone not signed in) the crawler requests every GET rule of the URL
map outside /api/ — each path parameter filled with every value the scheme has for it — and
then follows every same-site link it finds on the pages it fetched. No answer may be a 5xx, and
no page may hold what the Content-Security-Policy refuses (inline script, style, handlers).
A rule whose parameter has no values here fails the test: a new page cannot escape it.
"""

from __future__ import annotations

import re
from collections import deque
from html import unescape
from typing import Any
from urllib.parse import urlsplit

import pytest
from freezegun import freeze_time
from sqlalchemy import text

from .page_world import (
    NEVER_200,
    NOW,
    ROLES,
    build_world,
    get_rules,
    paths_of_rule,
    signed_in_client,
    world_settings,
)
from .test_security_headers import INLINE

#: Pages fetched per role at most (the URL map's own rules come first, then links).
MAX_PAGES_PER_ROLE = 600
HREF = re.compile(r'href="([^"]+)"')


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    return world_settings(settings_overrides)


def _same_site_links(html: str) -> list[str]:
    found = []
    for raw in HREF.findall(html):
        href = unescape(raw).split("#", 1)[0]
        if not href.startswith("/") or href.startswith("//"):
            continue
        if href.startswith(("/api/", "/static/")):
            continue
        found.append(href)
    return found


def crawl(app: Any, db: Any, world: dict[str, Any]) -> dict[str, Any]:
    """Fetch every GET page for every role; return what each URL answered."""
    rules = get_rules(app)
    seen: dict[tuple[str, str], int] = {}
    inline: list[str] = []
    rule_statuses: dict[str, set[int]] = {r.rule: set() for r in rules}
    adapter = app.url_map.bind("localhost")
    for role in ROLES:
        person = world["people"].get(role) if role else None
        web = signed_in_client(app, db, role, person)
        queue: deque[str] = deque()
        for rule in rules:
            for path in paths_of_rule(rule, world["values"]):
                token = world["links"].get(path)
                queue.append(f"{path}?token={token}" if token else path)
        fetched: set[str] = set()
        while queue and len(fetched) < MAX_PAGES_PER_ROLE:
            url = queue.popleft()
            if url in fetched:
                continue
            fetched.add(url)
            resp = web.get(url, headers={"Accept": "text/html"})
            seen[(role.value if role else "anonymous", url)] = resp.status_code
            try:
                rule, _ = adapter.match(urlsplit(url).path, method="GET", return_rule=True)
                rule_statuses[rule.rule].add(resp.status_code)
            except Exception:  # a link to a path with no GET rule: 404/405, still checked
                pass
            if resp.status_code == 200 and resp.mimetype == "text/html":
                html = resp.get_data(as_text=True)
                queue.extend(_same_site_links(html))
                inline.extend(f"{url}: {m.group(0)}" for m in INLINE.finditer(html))
            elif 300 <= resp.status_code < 400:
                # Follow a redirect at once, as a browser does (an emailed link's page moves
                # its token into the session and redirects to itself without it).
                target = urlsplit(resp.headers.get("Location", ""))
                if target.netloc in ("", "localhost"):
                    queue.appendleft(target.path + (f"?{target.query}" if target.query else ""))
            resp.close()  # static files are streamed from an open file
    return {"seen": seen, "rules": rule_statuses, "inline": inline}


def test_every_page_of_every_role_renders(app, db, client, make_person, mailbox):
    world = build_world(db, client, make_person, mailbox)
    with freeze_time(NOW):
        result = crawl(app, db, world)
    errors = {key: status for key, status in result["seen"].items() if status >= 500}
    assert errors == {}
    # Nothing the Content-Security-Policy would block: no inline script, style or handler.
    assert result["inline"] == []
    # Every GET rule was requested, and every one renders for somebody.
    never = {rule for rule, statuses in result["rules"].items() if 200 not in statuses}
    assert never <= set(NEVER_200), {r: result["rules"][r] for r in never - set(NEVER_200)}
    assert len(result["seen"]) > 300
    # The page that crashed: an officer opens the person who registered and confirmed.
    with db.read() as s:
        rita = s.execute(text("SELECT id FROM person WHERE email = 'rita@test.example'")).scalar()
    assert result["seen"][("officer", f"/officer/people/{rita}")] == 200
