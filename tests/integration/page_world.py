"""The world the page crawlers walk: the worked month of the statement tests plus the people
pages' cases, a person for each role, and the values every URL rule's parameters take.

Shared by tests/integration/test_page_crawl.py (every page renders, every link followed) and
tests/e2e/test_axe_crawl.py (every page passes axe-core in Chromium): a rule of the URL map
whose parameter has no value here fails both, so a new page cannot escape either.
"""

from __future__ import annotations

import itertools
import re
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from freezegun import freeze_time
from sqlalchemy import text

from credits.accounts import Person, Role, onboarding
from credits.accounts.sessions import start_session
from credits.bench.bankfiles import Tx, camt053

from .settlement.helpers import reference, settle_october, shop_staff
from .statements.worked_month import build_worked_month, london

#: When the crawl runs: October 2026 has ended (closed and settled), November is open.
NOW = london(2026, 11, 25, 12)
ROLES = (None, Role.MEMBER, Role.COORDINATOR, Role.SHOP_STAFF, Role.OFFICER, Role.ADMIN)
STATIC = Path(__file__).resolve().parents[2] / "credits" / "web" / "static"

#: GET rules that no role is expected to see with 200, and why. Everything else must render
#: (200) for at least one role: a page that only ever answers 4xx here is not being tested.
NEVER_200: dict[str, str] = {
    "/officer/statements/<month>/close/run": "JSON for close_run.js; 404 when no run exists",
    "/signed-in": "a redirect to the signed-in role's home page",
    "/metrics": "for Prometheus, by its token or address only (test_monitoring.py)",
}


def world_settings(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    """The test settings the world needs (use in a ``settings_overrides`` fixture)."""
    # The worked month needs vouchers that expire within it; settling it needs the council's
    # own bank account (the payments file's payer).
    return {
        **settings_overrides,
        "VOUCHER_EXPIRY_DAYS": 5,
        "COUNCIL_NAME": "Test Borough Council",
        "SETTLEMENT_PAYER_ACCOUNT": "86-09-00 06774744",
    }


def mail_token(mailbox: Any, to: str, kind: str) -> str:
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
        rita = mail_token(mailbox, "rita@test.example", "registration_confirm")
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
        "/invitation": mail_token(mailbox, "ivy@test.example", "invitation"),
        "/password/reset": mail_token(mailbox, sch.zed.email, "password_reset"),
        "/register/confirm": mail_token(mailbox, "uma@x.test", "registration_confirm"),
    }
    people = {
        Role.MEMBER: sch.ann.id,
        Role.COORDINATOR: sch.coord.id,
        Role.SHOP_STAFF: staff.id,
        Role.OFFICER: month.officer.id,
        Role.ADMIN: admin.id,
    }
    return {"values": values, "links": links, "people": people}


def paths_of_rule(rule: Any, values: dict[str, list[Any]]) -> list[str]:
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


def signed_in_client(app: Any, db: Any, role: Role | None, person_id: int | None) -> Any:
    web = app.test_client()
    if role is None:
        return web
    assert person_id is not None
    web.set_cookie("cc_session", session_token(db, role, person_id))
    return web


def session_token(db: Any, role: Role, person_id: int) -> str:
    """A new session (the ``cc_session`` cookie's value) for the person acting in ``role``."""

    def open_session(s: Any) -> str:
        person = s.get(Person, person_id)
        _, token = start_session(s, person, role=role)
        return token

    return str(db.run(open_session))


def get_rules(app: Any) -> list[Any]:
    """The URL map's GET rules outside /api/ (the pages a person can open)."""
    return [
        r for r in app.url_map.iter_rules() if "GET" in r.methods and not r.rule.startswith("/api/")
    ]
