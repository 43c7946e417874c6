"""The public record of the worked month (October 2026) equals its statement, figure by
figure — in the JSON, the CSV and on the page — and adds what volunteers did, with the
counts of people suppressed."""

from __future__ import annotations

import csv
import io
import re

from freezegun import freeze_time

from ..statements.worked_month import EXPECTED
from .conftest import NOW


def _get(client, path, **kw):
    with freeze_time(NOW):
        resp = client.get(path, **kw)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    return resp


def test_the_json_equals_the_statement(worked, client):
    statement = _get(client, "/api/v1/statements/2026-10", headers=worked.officer.auth).get_json()
    doc = _get(client, "/api/v1/open/2026-10").get_json()

    assert doc["month"] == "2026-10"
    assert (doc["first_day"], doc["last_day"]) == ("2026-10-01", "2026-10-31")
    assert doc["closed_on"] == "2026-11-25"
    assert doc["reimbursement_rate_pence_per_credit"] == statement["rate_pence_per_credit"] == 50
    totals = statement["totals"]
    assert doc["volunteering"]["credits_earned"] == totals["issued"] == EXPECTED["issued"]
    assert doc["spending"]["credits_spent"] == totals["redeemed"] == EXPECTED["redeemed"]
    assert doc["spending"]["owed_pence"] == totals["owed_pence"] == EXPECTED["owed_pence"]
    assert doc["spending"]["owed_gbp"] == totals["owed_gbp"] == "26.00"
    assert doc["vouchers"] == {
        "expired": statement["vouchers"]["expired_count"],
        "expired_credits": statement["vouchers"]["expired"],
    }
    assert doc["vouchers"] == {"expired": 1, "expired_credits": 15}
    out = doc["outstanding"]
    assert out["at_start"] == statement["opening_outstanding"]["total"] == 10
    assert out["at_end"] == statement["closing_outstanding"]["total"] == 116
    assert out["at_end_in_balances"] == statement["closing_outstanding"]["members"]
    assert out["at_end_in_vouchers"] == statement["closing_outstanding"]["vouchers"]
    assert out["credits_lapsed"] == totals["expired"] == EXPECTED["expired"]
    assert out["reversals"] == totals["reversals"] == EXPECTED["reversals"]
    assert out["adjustments"] == totals["adjustments"] == 0
    # The month's end balance adds up from the published figures alone.
    assert (
        out["at_start"]
        + out["credits_earned"]
        - out["credits_spent"]
        - out["credits_lapsed"]
        + out["reversals"]
        + out["adjustments"]
        == out["at_end"]
    )

    by_slug = {a["slug"]: a for a in statement["per_activity"]}
    assert {a["activity"]: a["credits_earned"] for a in doc["activities"]} == {
        slug: a["credits"] for slug, a in by_slug.items()
    }
    assert {a["activity"]: a["credits_earned"] for a in doc["activities"]} == (
        EXPECTED["by_activity"]
    )
    # What was volunteered, in each activity's unit: Ann 3 h + Bola 2 h of snow; Ann 2 +
    # Bola 1 speed-watch sessions; Zed 2 + 1 Good Gym runs.
    assert {a["activity"]: a["volunteered"] for a in doc["activities"]} == {
        "snow-clearing": [{"unit": "hour", "quantity": "5"}],
        "speed-watch": [{"unit": "session", "quantity": "3"}],
        "good-gym-run": [{"unit": "run", "quantity": "3"}],
    }
    assert doc["volunteering"]["volunteered"] == [
        {"unit": "hour", "quantity": "5"},
        {"unit": "session", "quantity": "3"},
        {"unit": "run", "quantity": "3"},
    ]
    # Three people in all (Ann, Bola, Zed), two or one per activity: all fewer than 5.
    assert doc["volunteering"]["active_volunteers"] == "<5"
    assert {a["volunteers"] for a in doc["activities"]} == {"<5"}

    per_shop = {s["shop_id"]: s for s in statement["per_shop"]}
    assert len(doc["shops"]) == len(per_shop) == 2
    for shop in doc["shops"]:
        want = per_shop[shop["shop_id"]]
        assert shop["name"] == want["name"]
        assert shop["redemptions"] == want["redemptions"]
        assert shop["credits_spent"] == want["redeemed"]
        assert shop["net_credits"] == want["net"]
        assert shop["owed_pence"] == want["owed_pence"]
        assert shop["owed_gbp"] == want["owed_gbp"]
    a, b = worked.shop_a["shop_id"], worked.shop_b["shop_id"]
    shops = {s["shop_id"]: s for s in doc["shops"]}
    assert (shops[a]["credits_spent"], shops[a]["owed_pence"]) == (29, 1450)
    assert (shops[b]["credits_spent"], shops[b]["net_credits"], shops[b]["owed_pence"]) == (
        28,
        23,
        1150,
    )
    assert doc["statement_sha256"] == _close_hash(worked)


def _close_hash(worked) -> str:
    from credits.ledger import Month
    from credits.statements.close import month_close

    with worked.scheme.db.read() as s:
        return month_close(s, Month(2026, 10)).statement_sha256


def test_the_csv_says_the_same_as_the_json(worked, client):
    doc = _get(client, "/api/v1/open/2026-10").get_json()
    resp = _get(client, "/api/v1/open/2026-10", query_string={"format": "csv"})
    assert resp.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    assert b"\r\n" in resp.data
    cells = {(r["scope"], r["ref"], r["measure"], r["unit"]): r["value"] for r in rows}
    assert {r["month"] for r in rows} == {"2026-10"}
    assert cells[("scheme", "", "credits_earned", "credits")] == "155"
    assert cells[("scheme", "", "credits_spent", "credits")] == "57"
    assert cells[("scheme", "", "owed", "pence")] == "2600"
    assert cells[("scheme", "", "outstanding_at_end", "credits")] == "116"
    assert cells[("scheme", "", "active_volunteers", "people")] == "<5"
    assert cells[("scheme", "", "volunteered", "hours")] == "5"
    for a in doc["activities"]:
        assert cells[("activity", a["activity"], "credits_earned", "credits")] == str(
            a["credits_earned"]
        )
        assert cells[("activity", a["activity"], "volunteers", "people")] == a["volunteers"]
    for s in doc["shops"]:
        ref = str(s["shop_id"])
        assert cells[("shop", ref, "credits_spent", "credits")] == str(s["credits_spent"])
        assert cells[("shop", ref, "owed", "pence")] == str(s["owed_pence"])


def test_the_pages_show_the_statement_s_numbers(worked, client):
    doc = _get(client, "/api/v1/open/2026-10").get_json()
    page = _get(client, "/open/2026-10").get_data(as_text=True)

    def figure(name: str) -> str:
        m = re.search(rf'data-figure="{name}">(.*?)</', page, re.S)
        assert m, name
        return re.sub(r"<[^>]+>", "", m.group(1)).strip()

    assert figure("earned") == "155"
    assert figure("spent") == "57"
    assert figure("owed") == "£26.00"
    assert figure("outstanding") == "116"
    assert figure("volunteers") == "fewer than 5"
    assert figure("at-start") == "10"
    assert figure("lapsed") == "2"
    assert figure("reversals") == "10"
    assert figure("vouchers-expired") == "1"
    for shop in doc["shops"]:
        row = re.search(rf'<tr data-shop="{shop["shop_id"]}">(.*?)</tr>', page, re.S).group(1)
        assert f'data-figure="spent">{shop["credits_spent"]}<' in row
        assert f'data-figure="owed">£{shop["owed_gbp"]}<' in row
    for a in doc["activities"]:
        row = re.search(rf'<tr data-activity="{a["activity"]}">(.*?)</tr>', page, re.S).group(1)
        assert f'data-figure="credits">{a["credits_earned"]}<' in row
        assert "fewer than 5" in row

    index = _get(client, "/open").get_data(as_text=True)
    row = re.search(r'<tr data-month="2026-10">(.*?)</tr>', index, re.S).group(1)
    assert 'data-figure="earned">155<' in row and 'data-figure="owed">£26.00<' in row
    # September (Ann's hour of snow, her voucher) is published too, and the year adds up.
    months = _get(client, "/api/v1/open/months").get_json()
    assert [(m["month"], m["status"]) for m in months["months"]] == [
        ("2026-10", "published"),
        ("2026-09", "published"),
    ]
    year = months["year_so_far"]
    assert year["months"] == ["2026-09", "2026-10"]
    assert year["credits_earned"] == 10 + 155
    assert year["credits_spent"] == 57
    assert year["outstanding_at_end"] == 116
    assert year["active_volunteers"] == "<5"
    assert 'data-figure="year-earned">165<' in index
