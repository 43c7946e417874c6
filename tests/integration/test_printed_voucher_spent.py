"""No smartphone, end to end: an officer issues and prints a voucher for a member, the QR is
taken from the printed page itself (its SVG drawn to pixels and decoded with zxing-cpp), a
shop's terminal redeems that code over the API, and the member's balance and the shop's
statement move; a coordinator's reprint then says the voucher was spent."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import zxingcpp
from freezegun import freeze_time
from PIL import Image, ImageDraw

from credits import earning
from credits.accounts import Role

from .earning.conftest import build_scheme
from .statements.worked_month import make_terminal
from .test_voucher_pages import form_fields
from .web_helpers import sign_in

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
#: Pixels per QR module when the printed SVG is drawn.
SCALE = 8
_PATH = re.compile(r"M(\d+) (\d+)h(\d+)v1h-?\d+z")


def qr_from_printed_page(html: str) -> str:
    """The text of the QR code on a printed voucher page: its inline SVG (one path of
    one-module-high runs, credits.vouchers.qr.svg) drawn to pixels and decoded."""
    found = re.search(r'<svg[^>]*viewBox="0 0 (\d+) \1"[^>]*>.*?<path[^>]*d="([^"]+)"', html, re.S)
    assert found, "no QR code on the printed page"
    size, path = int(found.group(1)), found.group(2)
    quiet = 4
    image = Image.new("L", ((size + 2 * quiet) * SCALE,) * 2, 255)
    draw = ImageDraw.Draw(image)
    runs = _PATH.findall(path)
    assert len(runs) == path.count("M"), "the QR path is not made of one-module runs"
    for x, y, w in runs:
        left, top = (int(x) + quiet) * SCALE, (int(y) + quiet) * SCALE
        draw.rectangle([left, top, left + int(w) * SCALE - 1, top + SCALE - 1], fill=0)
    results = zxingcpp.read_barcodes(image)
    assert len(results) == 1, "the printed QR code does not scan"
    return str(results[0].text)


def page_client(app: Any, who: Any) -> Any:
    client = app.test_client()
    assert sign_in(client, who.email).status_code == 302
    return client


def test_a_printed_voucher_is_spent_at_a_shop(app, db, make_person):
    scheme = build_scheme(db, make_person)
    member = make_person(Role.MEMBER, credits=50, name="Dot Without-Phone")
    scheme.run(earning.add_member, scheme.officer, scheme.snow_team, member.email)
    till = make_terminal(db, "Brixton Bakery", "Till 1")
    api = app.test_client()
    with freeze_time(NOW):
        officer = page_client(app, scheme.officer)
        form = officer.get("/officer/vouchers/new").get_data(as_text=True)
        issued = officer.post(
            "/officer/vouchers/new",
            data={**form_fields(form), "email": member.email, "amount": "25"},
        )
        assert issued.status_code == 303 and issued.headers["Location"].endswith("/print")
        print_path = issued.headers["Location"]
        printed = officer.get(print_path).get_data(as_text=True)
        assert "Dot Without-Phone" in printed and "25 credits" in printed
        code = qr_from_printed_page(printed)
        assert code.startswith("CC1:")
        before = api.get("/api/v1/me/balance", headers=member.auth).get_json()
        statement_before = api.get("/api/v1/statements/2026-11", headers=till["auth"]).get_json()
        spent = api.post(
            "/api/v1/redemptions",
            json={"code": code, "amount": 15, "idempotency_key": "printed-1"},
            headers=till["auth"],
        )
        assert spent.status_code == 201, spent.get_json()
        assert spent.get_json()["amount"] == 15 and spent.get_json()["change"] == 10
        after = api.get("/api/v1/me/balance", headers=member.auth).get_json()
        statement_after = api.get("/api/v1/statements/2026-11", headers=till["auth"]).get_json()
        reprint = page_client(app, scheme.coord).get(print_path).get_data(as_text=True)
    assert before == {"balance": 25, "in_vouchers": 25}
    # The voucher is closed; its change came back to the member.
    assert after == {"balance": 35, "in_vouchers": 0}
    # The shop's statement of the month shows the redemption: 15 taken, 10 change.
    assert statement_before["totals"]["redeemed"] == 0 and statement_before["lines"] == []
    assert statement_after["totals"]["redeemed"] == 15
    assert statement_after["totals"]["change"] == 10
    assert statement_after["closing_balance"] == 15
    [line] = statement_after["lines"]
    assert (line["kind"], line["face_value"], line["amount"]) == ("redemption", 25, 15)
    assert line["voucher"] in printed  # the reference printed on the voucher
    # Printed again, by the member's coordinator: spent, and no code left to scan.
    assert "has been spent: there is nothing to print" in reprint
    assert "QR code of voucher" not in reprint
