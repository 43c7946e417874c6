"""The officer's statement pages: the same numbers as the API, downloads, the close form."""

from __future__ import annotations

import re

from freezegun import freeze_time
from sqlalchemy import text

from credits.accounts import Role
from credits.statements import signing

from ..web_helpers import sign_in
from .conftest import NOW


def figure(html: str, name: str) -> str:
    m = re.search(rf'data-figure="{name}">([^<]*)<', html)
    assert m, name
    return m.group(1)


def test_the_scheme_page_shows_the_api_figures(officer_client, client, month):
    with freeze_time(NOW):
        page = officer_client.get("/officer/statements/2026-10")
        api = client.get("/api/v1/statements/2026-10", headers=month.officer.auth).get_json()
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    t = api["totals"]
    assert figure(html, "opening") == str(api["opening_outstanding"]["total"])
    for key in ("issued", "redeemed", "expired", "reversals", "adjustments", "outstanding"):
        assert figure(html, key) == str(t[key]), key
    assert figure(html, "owed-total") == f"£{t['owed_gbp']}"
    assert figure(html, "tb-total") == "0"
    for line in api["trial_balance"]["lines"]:
        assert f'data-closing="{line["account_type"]}">{line["closing"]}<' in html
    for a in api["per_activity"]:
        assert f'data-activity="{a["slug"]}">{a["credits"]}<' in html


def test_the_shop_page_and_downloads_match_the_api(officer_client, client, month):
    b = month.shop_b["shop_id"]
    with freeze_time(NOW):
        page = officer_client.get(f"/officer/statements/2026-10/shops/{b}")
        api = client.get(f"/api/v1/statements/2026-10?shop={b}", headers=month.officer.auth)
        csv_api = client.get(
            f"/api/v1/statements/2026-10?shop={b}&format=csv", headers=month.officer.auth
        )
        json_dl = officer_client.get(f"/officer/statements/2026-10/download/json?shop={b}")
        csv_dl = officer_client.get(f"/officer/statements/2026-10/download/csv?shop={b}")
        sig = officer_client.get(f"/officer/statements/2026-10/signature/json?shop={b}")
        journal = officer_client.get("/officer/statements/2026-10/download/hledger")
        trust = client.get("/api/v1/trust-list").get_json()
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    body = api.get_json()
    assert figure(html, "net") == str(body["totals"]["net"]) == "23"
    assert figure(html, "owed") == "£11.50"
    assert html.count("data-amount>") == len(body["lines"]) == 4
    assert "tag-exception" in html and "offline" in html
    assert json_dl.get_data() == api.get_data() and csv_dl.get_data() == csv_api.get_data()
    assert "attachment" in json_dl.headers["Content-Disposition"]
    assert signing.verify(json_dl.get_data(), sig.get_data(as_text=True), trust)
    assert journal.get_data(as_text=True).startswith("; Cooperative Credits statement 2026-10")


def test_the_print_stylesheet(officer_client):
    with officer_client.get("/static/statements.css") as resp:
        assert resp.status_code == 200
        css = resp.get_data(as_text=True)
    print_rules = css[css.index("@media print") :]
    assert ".subnav" in print_rules and ".no-print" in print_rules


def test_the_month_picker(officer_client):
    with freeze_time(NOW):
        page = officer_client.get("/officer/statements")
        assert page.status_code == 200 and 'type="month"' in page.get_data(as_text=True)
        go = officer_client.get("/officer/statements?month=2026-10")
        assert go.status_code == 302 and go.headers["Location"].endswith(
            "/officer/statements/2026-10"
        )
        bad = officer_client.get("/officer/statements?month=2027-01")
        assert bad.status_code == 422 and "has not started" in bad.get_data(as_text=True)
        assert officer_client.get("/officer/statements/2026-13").status_code == 404


def test_without_csrf_nothing_closes(officer_client, db, month):
    with freeze_time(NOW):
        resp = officer_client.post("/officer/statements/2026-10/close", data={})
    assert resp.status_code in (400, 403)
    with db.read() as s:
        assert s.execute(text("SELECT count(*) FROM closed_period")).scalar_one() == 0


def test_only_officers(app, make_person):
    for role in (Role.MEMBER, Role.COORDINATOR, Role.SHOP_STAFF):
        who = make_person(role)
        web = app.test_client()
        sign_in(web, who.email)
        assert web.get("/officer/statements/2026-10").status_code == 403
