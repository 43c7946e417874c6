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

import itertools
import re
from collections import deque
from datetime import date
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from freezegun import freeze_time
from sqlalchemy import text

from credits.accounts import Person, Role, onboarding
from credits.accounts.sessions import start_session
from credits.bench.bankfiles import Tx, camt053

from .settlement.helpers import reference, settle_october, shop_staff
from .statements.worked_month import build_worked_month, london
from .test_security_headers import INLINE

#: When the crawl runs: October 2026 has ended (closed and settled), November is open.
NOW = london(2026, 11, 25, 12)
ROLES = (None, Role.MEMBER, Role.COORDINATOR, Role.SHOP_STAFF, Role.OFFICER, Role.ADMIN)
#: Pages fetched per role at most (the URL map's own rules come first, then links).
MAX_PAGES_PER_ROLE = 600
STATIC = Path(__file__).resolve().parents[2] / "credits" / "web" / "static"
HREF = re.compile(r'href="([^"]+)"')

#: GET rules that no role is expected to see with 200, and why. Everything else must render
#: (200) for at least one role: a page that only ever answers 4xx here is not being tested.
NEVER_200: dict[str, str] = {
    "/officer/statements/<month>/close/run": "JSON for close_run.js; 404 when no run exists",
    "/signed-in": "a redirect to the signed-in role's home page",
    "/metrics": "for Prometheus, by its token or address only (test_monitoring.py)",
}


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    # The worked month needs vouchers that expire within it; settling it needs the council's
    # own bank account (the payments file's payer).
    return {
        **settings_overrides,
        "VOUCHER_EXPIRY_DAYS": 5,
        "COUNCIL_NAME": "Test Borough Council",
        "SETTLEMENT_PAYER_ACCOUNT": "86-09-00 06774744",
    }


def _mail_token(mailbox: Any, to: str, kind: str) -> str:
    link = mailbox.last(to=to, kind=kind).link()
    return parse_qs(urlsplit(link).query)["token"][0]


def build_world(db: Any, client: Any, make_person: Any, mailbox: Any) -> dict[str, Any]:
    """The worked month plus the people pages' cases; returns the values of path and query
    parameters the crawler fills in, and a person for each role."""
    month = build_worked_month(db, client, make_person)
    sch = month.scheme
    with freeze_time(NOW):
        admin = make_person(Role.ADMIN, name="Ada Admin")
        officer = month.officer.auth
        sch.claim(sch.bola, occurred_on="2026-11-20", key="crawl-claim")
        for amount, key in ((5, "crawl-small"), (60, "crawl-big")):
            resp = client.post(
                "/api/v1/adjustments",
                json={
                    "person_id": sch.ann.id,
                    "direction": "credit",
                    "amount": amount,
                    "reason": "Litter pick the app missed",
                    "idempotency_key": key,
                },
                headers=officer,
            )
            assert resp.status_code in (201, 202), resp.get_json()
        for name, email in (("Rita Resident", "rita@test.example"), ("Uma Unsure", "uma@x.test")):
            resp = client.post(
                "/api/v1/registrations",
                json={"name": name, "email": email, "password": "a long enough password"},
            )
            assert resp.status_code == 202, resp.get_json()
        rita = _mail_token(mailbox, "rita@test.example", "registration_confirm")
        db.run(lambda s: onboarding.confirm_email(s, rita, "127.0.0.1"))
        resp = client.post(
            "/api/v1/invitations",
            json={"name": "Ivy Invited", "email": "ivy@test.example", "roles": ["member"]},
            headers=officer,
        )
        assert resp.status_code == 201, resp.get_json()
        resp = client.post("/api/v1/password-resets", json={"email": sch.zed.email})
        assert resp.status_code == 202, resp.get_json()
    # October settled (the settlement pages): bank details, the run approved, a bank statement
    # that pays shop A and misses shop B (a mismatch for the exceptions queue).
    run = settle_october(client, db, month, make_person(Role.OFFICER, name="Sam Second"))
    with freeze_time(london(2026, 11, 28, 10)):
        statement = camt053(
            [Tx(date(2026, 11, 27), -1450, reference(run, month.shop_a["shop_id"]), "Bakery")],
            statement_id="CRAWL-1",
        )
        resp = client.post(
            "/api/v1/settlements/bank-statements?filename=crawl.xml",
            data=statement,
            content_type="application/xml",
            headers=officer,
        )
        assert resp.status_code == 201, resp.get_json()

    # Shop staff of shop A (their remittances), as a shop's own people are scoped.
    staff = shop_staff(db, make_person, month.shop_a["shop_id"])

    def column(sql: str) -> list[Any]:
        with db.read() as s:
            return [row[0] for row in s.execute(text(sql))]

    values = {
        "person_id": column("SELECT id FROM person ORDER BY id"),
        "group_id": column("SELECT id FROM volunteer_group ORDER BY id"),
        "slug": column("SELECT slug FROM activity ORDER BY slug"),
        "shop_id": column("SELECT id FROM shop ORDER BY id"),
        "voucher_id": column("SELECT id FROM voucher ORDER BY issued_at"),
        "redemption_id": column("SELECT id FROM redemption ORDER BY redeemed_at"),
        "month": ["2026-09", "2026-10", "2026-11"],
        "fmt": ["json", "csv", "hledger", "beancount"],
        "filename": sorted(p.name for p in STATIC.iterdir() if p.is_file()),
        "run_id": column("SELECT id FROM settlement_run ORDER BY id"),
        "import_id": column("SELECT id FROM bank_import ORDER BY id"),
        "mismatch_id": column("SELECT id FROM bank_mismatch ORDER BY id"),
    }
    # Query strings the emailed links carry (GET shows the form; it never spends the link).
    links = {
        "/invitation": _mail_token(mailbox, "ivy@test.example", "invitation"),
        "/password/reset": _mail_token(mailbox, sch.zed.email, "password_reset"),
        "/register/confirm": _mail_token(mailbox, "uma@x.test", "registration_confirm"),
    }
    people = {
        Role.MEMBER: sch.ann.id,
        Role.COORDINATOR: sch.coord.id,
        Role.SHOP_STAFF: staff.id,
        Role.OFFICER: month.officer.id,
        Role.ADMIN: admin.id,
    }
    return {"values": values, "links": links, "people": people}


def _paths_of_rule(rule: Any, values: dict[str, list[Any]]) -> list[str]:
    names = sorted(rule.arguments)
    missing = [n for n in names if n not in values]
    assert not missing, (
        f"{rule.rule}: the crawler has no values for {missing}; add them to build_world()"
    )
    out = []
    for combo in itertools.product(*(values[n] for n in names)):
        path = rule.rule
        for name, value in zip(names, combo, strict=True):
            path = re.sub(rf"<(?:[^:<>]+:)?{name}>", str(value), path)
        out.append(path)
    return out


def _signed_in_client(app: Any, db: Any, role: Role | None, person_id: int | None) -> Any:
    web = app.test_client()
    if role is None:
        return web

    def open_session(s: Any) -> str:
        person = s.get(Person, person_id)
        _, token = start_session(s, person, role=role)
        return token

    web.set_cookie("cc_session", db.run(open_session))
    return web


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
    rules = [
        r for r in app.url_map.iter_rules() if "GET" in r.methods and not r.rule.startswith("/api/")
    ]
    seen: dict[tuple[str, str], int] = {}
    inline: list[str] = []
    rule_statuses: dict[str, set[int]] = {r.rule: set() for r in rules}
    adapter = app.url_map.bind("localhost")
    for role in ROLES:
        person = world["people"].get(role) if role else None
        web = _signed_in_client(app, db, role, person)
        queue: deque[str] = deque()
        for rule in rules:
            for path in _paths_of_rule(rule, world["values"]):
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
