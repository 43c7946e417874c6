"""The officers' settlement pages and the shop's remittance pages: the same use cases and
numbers as the API, forms with CSRF, refusals shown on the page, officers only."""

from __future__ import annotations

import io
import re
from datetime import date

from freezegun import freeze_time

from credits.accounts import Role
from credits.bench.bankfiles import Tx, camt053
from credits.statements import signing

from ..statements.worked_month import london
from ..web_helpers import csrf_from, post_form, sign_in
from .helpers import (
    SETTLE_AT,
    close_october,
    get,
    reference,
    set_payees,
    settle_october,
    shop_staff,
)


def _officer(app, who):
    web = app.test_client()
    assert sign_in(web, who.email).status_code == 302
    return web


def test_an_officer_settles_the_month_from_the_pages(app, client, db, month, make_person, services):
    second = make_person(Role.OFFICER, name="Second Officer")
    with freeze_time(SETTLE_AT):
        set_payees(client, month, second)
    close_october(db)
    with freeze_time(SETTLE_AT):
        web = _officer(app, month.officer)
        page = web.get("/officer/settlements")
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert '<option value="2026-10"' in html and "£10.00" in html
        key = html.split('name="idempotency_key" value="')[1].split('"')[0]
        resp = post_form(web, "/officer/settlements", {"month": "2026-10", "idempotency_key": key})
        assert resp.status_code == 302
        run_path = resp.headers["Location"]
        # A double click (the same form, the same key) starts one run.
        again = post_form(web, "/officer/settlements", {"month": "2026-10", "idempotency_key": key})
        assert again.headers["Location"] == run_path
        html = web.get(run_path).get_data(as_text=True)
        assert "£14.50" in html and "£11.50" in html and "£26.00" in html
        run_id = int(run_path.rstrip("/").split("/")[-1])

        # Back-dating into October is refused on the page, and nothing changes.
        resp = post_form(
            web, f"{run_path}/approve", {"settled_on": "2026-10-31"}, from_page=run_path
        )
        assert resp.status_code == 409
        assert "2026-10 is closed" in resp.get_data(as_text=True)
        resp = post_form(web, f"{run_path}/approve", {"settled_on": ""}, from_page=run_path)
        assert resp.status_code == 302
        html = web.get(run_path).get_data(as_text=True)
        assert "Approved" in html and "Payments file for finance" in html

        # The page's downloads are the API's bytes, signed.
        for fmt in ("csv", "pain.001"):
            dl = web.get(f"/officer/settlements/{run_id}/files/{fmt}")
            api = get(client, month.officer, f"/api/v1/settlements/{run_id}/files/{fmt}")
            assert dl.status_code == 200 and dl.data == api.data
            sig = web.get(f"/officer/settlements/{run_id}/files/{fmt}.sig").get_data(as_text=True)
            trust = {"statement_keys": signing.trust_list_entries(services.settings.instance_path)}
            signing.verify(dl.data, sig.strip(), trust)

        # The shop's remittance, as the officer sees it, and its PDF.
        b = month.shop_b["shop_id"]
        page = web.get(f"/officer/settlements/{run_id}/remittances/{b}")
        assert page.status_code == 200 and "Remittance advice" in page.get_data(as_text=True)
        pdf = web.get(f"/officer/settlements/{run_id}/remittances/{b}.pdf")
        assert pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")

        # The month's statement pages show what was settled.
        html = web.get("/officer/statements/2026-11").get_data(as_text=True)
        assert 'data-figure="settled">52 credits, £26.00<' in html


def test_bank_details_need_a_second_officer_on_the_pages_too(app, client, db, month, make_person):
    second = make_person(Role.OFFICER, name="Second Officer")
    a = month.shop_a["shop_id"]
    with freeze_time(SETTLE_AT):
        web = _officer(app, month.officer)
        path = f"/officer/settlements/payees/{a}"
        resp = post_form(
            web,
            path,
            {
                "legal_name": "Brixton Bakery Ltd",
                "sort_code": "08-99-99",
                "account_number": "66374959",
                "iban": "",
                "reason": "their letter",
            },
        )
        assert resp.status_code == 422
        assert "modulus check" in resp.get_data(as_text=True)
        resp = post_form(
            web,
            path,
            {
                "legal_name": "Brixton Bakery Ltd",
                "sort_code": "08-99-99",
                "account_number": "66374958",
                "iban": "",
                "reason": "their letter",
            },
        )
        assert resp.status_code == 302
        html = web.get(path).get_data(as_text=True)
        assert "You entered these details: another officer must approve them." in html
        assert "Approve these details" not in html
        other = _officer(app, second)
        html = other.get(path).get_data(as_text=True)
        approve = re.search(r'action="([^"]*/payee-changes/\d+/approve)"', html).group(1)
        resp = other.post(approve, data={"csrf_token": csrf_from(html)})
        assert resp.status_code == 302
        html = other.get("/officer/settlements/payees").get_data(as_text=True)
        assert "08-99-99 66374958" in html


def test_the_shop_reads_its_remittances(app, client, db, month, make_person):
    second = make_person(Role.OFFICER)
    run = settle_october(client, db, month, second)
    b = month.shop_b["shop_id"]
    staff = shop_staff(db, make_person, b)
    with freeze_time(SETTLE_AT):
        web = app.test_client()
        assert sign_in(web, staff.email).status_code == 302
        assert web.get("/signed-in").headers["Location"].endswith("/shop/remittances")
        html = web.get("/shop/remittances").get_data(as_text=True)
        assert reference(run, b) in html and "£11.50" in html
        page = web.get(f"/shop/remittances/{run['id']}")
        html = page.get_data(as_text=True)
        assert page.status_code == 200 and "£11.50" in html
        assert "GB** **** **** **** **60 39" in html and "9386" not in html
        assert html.count("<tr") >= 6  # the month's four movements, the breakdown, the total
        assert web.get(f"/shop/remittances/{run['id']}.pdf").mimetype == "application/pdf"
        # The officer pages are not theirs.
        assert web.get("/officer/settlements").status_code == 403


def test_admins_cannot_open_the_settlement_pages(app, make_person):
    admin = make_person(Role.ADMIN)
    web = app.test_client()
    sign_in(web, admin.email)
    for path in (
        "/officer/settlements",
        "/officer/settlements/payees",
        "/officer/settlements/bank",
    ):
        assert web.get(path).status_code == 403, path


def test_importing_a_bank_statement_from_the_page(app, client, db, month, make_person):
    second = make_person(Role.OFFICER)
    run = settle_october(client, db, month, second)
    a = month.shop_a["shop_id"]
    filler = [Tx(date(2026, 11, 27), 100, f"FUNDING {n}", "Council") for n in range(800)]
    statement = camt053([*filler, Tx(date(2026, 11, 27), -1450, reference(run, a), "A")])
    assert len(statement) > 64 * 1024  # more than the app accepts elsewhere
    with freeze_time(london(2026, 11, 28, 9)):
        web = _officer(app, month.officer)
        page = web.get("/officer/settlements/bank").get_data(as_text=True)
        resp = web.post(
            "/officer/settlements/bank",
            data={"csrf_token": csrf_from(page), "statement": (io.BytesIO(statement), "nov.xml")},
            content_type="multipart/form-data",
        )
        assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
        html = web.get(resp.headers["Location"]).get_data(as_text=True)
        assert "Missing (approved, not at the bank)" in html
        mismatch = html.split("/officer/settlements/mismatches/")[1].split('"')[0]
        path = f"/officer/settlements/mismatches/{mismatch}"
        resp = post_form(web, f"{path}/resolve", {"resolution": ""}, from_page=path)
        assert resp.status_code == 422
        resp = post_form(web, f"{path}/resolve", {"resolution": "paid by cheque"}, from_page=path)
        assert resp.status_code == 302
        html = web.get(path).get_data(as_text=True)
        assert "Resolved" in html and "paid by cheque" in html
        queue = web.get("/officer/exceptions?kind=bank_mismatch").get_data(as_text=True)
        assert "Bank reconciliation" in queue and "£0.00" in queue
        # Without a file: the page says so.
        resp = web.post(
            "/officer/settlements/bank",
            data={"csrf_token": csrf_from(page)},
            content_type="multipart/form-data",
        )
        assert resp.status_code == 422
