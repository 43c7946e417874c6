"""The voucher pages in real Chromium against the real server: a phone screenshot of the QR
decodes to exactly the code; axe finds nothing serious; the pages fit 390 and 320 px."""

from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from credits.accounts import Role
from tests.conftest import axe_violations

pytestmark = pytest.mark.browser


def sign_in(page, base, email):
    page.goto(base + "/sign-in")
    page.get_by_label("Email address or mobile number").fill(email)
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def decode(path):
    return [r.text for r in zxingcpp.read_barcodes(Image.open(path))]


def fits(page, width):
    return page.evaluate("document.documentElement.scrollWidth") <= width


def test_spend_credits_on_a_phone_and_scan_the_screen(
    live_server, phone, make_person, client, tmp_path, cli_env
):
    ann = make_person(Role.MEMBER, credits=80, name="Ann Okafor")
    sign_in(phone, live_server.url, ann.email)
    phone.goto(live_server.url + "/vouchers")
    assert axe_violations(phone) == []
    phone.screenshot(path=str(tmp_path / "1-vouchers-empty.png"), full_page=True)

    phone.get_by_role("link", name="Spend credits").click()
    phone.wait_for_load_state()
    assert phone.get_by_role("heading", name="Spend credits").is_visible()
    assert axe_violations(phone) == []
    phone.screenshot(path=str(tmp_path / "2-spend.png"), full_page=True)
    phone.get_by_label("Or type an amount (credits)").fill("25")
    phone.get_by_role("button", name="Make voucher").click()
    phone.wait_for_load_state()

    # The full-screen QR: amount, reference and expiry; the screenshot scans.
    voucher = client.get("/api/v1/vouchers", headers=ann.auth).get_json()["vouchers"][0]
    assert phone.get_by_role("heading", name="25 credits").is_visible()
    assert phone.get_by_text(voucher["reference"], exact=True).is_visible()
    assert phone.get_by_text("Valid until").is_visible()
    assert axe_violations(phone) == []
    assert fits(phone, 390)
    shot = tmp_path / "3-voucher-390.png"
    phone.screenshot(path=str(shot))  # what the screen shows, as the shop's camera sees it
    assert decode(shot) == [voucher["code"]]
    box = phone.locator("#voucher-qr").bounding_box()
    assert box["width"] >= 300 and box["y"] + box["height"] <= 844  # big, and on screen

    phone.set_viewport_size({"width": 320, "height": 640})
    assert fits(phone, 320)
    narrow = tmp_path / "4-voucher-320.png"
    phone.screenshot(path=str(narrow), full_page=True)
    assert decode(narrow) == [voucher["code"]]

    # The list, the print page, and cancelling (with its confirmation).
    phone.set_viewport_size({"width": 390, "height": 844})
    phone.goto(live_server.url + "/vouchers")
    assert axe_violations(phone) == []
    phone.screenshot(path=str(tmp_path / "5-vouchers.png"), full_page=True)
    phone.goto(live_server.url + f"/vouchers/{voucher['id']}/print")
    assert axe_violations(phone) == []
    phone.emulate_media(media="print")
    printed = tmp_path / "6-print.png"
    phone.screenshot(path=str(printed), full_page=True)
    assert decode(printed) == [voucher["code"]]
    phone.emulate_media(media="screen")

    # Every page fits a 320 px screen without sideways scrolling.
    phone.set_viewport_size({"width": 320, "height": 640})
    for path in (
        "/vouchers",
        "/vouchers/new",
        f"/vouchers/{voucher['id']}",
        f"/vouchers/{voucher['id']}/cancel",
        f"/vouchers/{voucher['id']}/print",
    ):
        phone.goto(live_server.url + path)
        assert fits(phone, 320), path
    phone.screenshot(path=str(tmp_path / "6b-print-320.png"), full_page=True)
    phone.set_viewport_size({"width": 390, "height": 844})

    phone.goto(live_server.url + f"/vouchers/{voucher['id']}")
    phone.get_by_role("link", name="Cancel this voucher").click()
    phone.wait_for_load_state()
    assert axe_violations(phone) == []
    phone.screenshot(path=str(tmp_path / "7-cancel.png"), full_page=True)
    phone.get_by_role("button", name="Yes, cancel it").click()
    phone.wait_for_load_state()
    assert phone.get_by_text("credits are back in your balance").is_visible()
    assert client.get("/api/v1/me/balance", headers=ann.auth).get_json() == {
        "balance": 80,
        "in_vouchers": 0,
    }
    phone.screenshot(path=str(tmp_path / "8-after-cancel.png"), full_page=True)
    assert axe_violations(phone) == []

    # The server's log never shows a private key.
    from credits.vouchers.keys import KeyRing

    from .key_secrets import secret_forms

    log = live_server.log_path.read_text()
    ring = KeyRing(Path(cli_env["CREDITS_INSTANCE_PATH"]))
    assert "POST /vouchers/new" in log
    assert not [f for f in secret_forms(ring) if f in log]


def test_refusals_are_shown_on_the_page(live_server, phone, make_person, tmp_path):
    ann = make_person(Role.MEMBER, credits=10)
    sign_in(phone, live_server.url, ann.email)
    phone.goto(live_server.url + "/vouchers/new")
    phone.get_by_label("Or type an amount (credits)").fill("11")
    phone.get_by_role("button", name="Make voucher").click()
    alert = phone.get_by_role("alert")
    assert "not have enough credits" in alert.inner_text()
    assert axe_violations(phone) == []
    phone.screenshot(path=str(tmp_path / "refused.png"), full_page=True)


def test_an_officer_issues_and_prints(live_server, desktop, make_person, tmp_path, client):
    member = make_person(Role.MEMBER, credits=40, name="Dot Without-Phone")
    officer = make_person(Role.OFFICER, name="Olu Officer")
    sign_in(desktop, live_server.url, officer.email)
    desktop.goto(live_server.url + "/officer/vouchers/new")
    assert axe_violations(desktop) == []
    desktop.get_by_label("Member's email address").fill(member.email)
    desktop.get_by_label("Credits").fill("15")
    desktop.get_by_role("button", name="Issue and print").click()
    desktop.wait_for_load_state()
    assert desktop.get_by_text("Dot Without-Phone").is_visible()
    assert axe_violations(desktop) == []
    desktop.emulate_media(media="print")
    shot = tmp_path / "officer-print.png"
    desktop.screenshot(path=str(shot), full_page=True)
    code = client.get("/api/v1/vouchers", headers=member.auth).get_json()["vouchers"][0]["code"]
    assert decode(shot) == [code]
