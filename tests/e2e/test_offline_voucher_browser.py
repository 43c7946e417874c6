"""A voucher that shows with no signal, in real Chromium against the real server: once seen,
the voucher page and its QR open offline with "Offline — shown as last seen at …" and the
screenshot scans to exactly the code; back online, a voucher cancelled meanwhile shows as
cancelled; after signing out, offline, the voucher is not shown from any cache, and other
pages show the offline page, never a stale balance. The service worker is waited for by its
own promise (navigator.serviceWorker.ready), never by sleeping."""

from __future__ import annotations

import re

import pytest
import zxingcpp
from PIL import Image

from credits.accounts import Person, Role
from credits.accounts.sessions import start_session
from tests.conftest import axe_violations

pytestmark = pytest.mark.browser

#: The service worker's caches of voucher pages (one per session: credits/web/pwa.py).
VOUCHER_CACHES = "async () => (await caches.keys()).filter(n => n.startsWith('credits-vouchers-'))"


def sign_in(page, base, email):
    page.goto(base + "/sign-in")
    page.get_by_label("Email address or mobile number").fill(email)
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def worker_ready(page):
    """Wait until the service worker is active: its own promise, no sleeping."""
    page.evaluate("async () => { await navigator.serviceWorker.ready; }")


def session_of(db, someone):
    """A signed-in session's token for ``someone`` (as the sign-in form would make)."""

    def start(s):
        return start_session(s, s.get(Person, someone.id), role=Role.MEMBER)[1]

    return db.run(start)


def decode(path):
    return [r.text for r in zxingcpp.read_barcodes(Image.open(path))]


def test_a_seen_voucher_shows_offline_until_sign_out(
    live_server, phone, make_person, client, tmp_path
):
    base = live_server.url
    ann = make_person(Role.MEMBER, credits=60, name="Ann Okafor")
    sign_in(phone, base, ann.email)
    worker_ready(phone)  # registered by the first page (static/pwa.js)
    # Chromium reads the manifest without complaint: the pages install as an app.
    cdp = phone.context.new_cdp_session(phone)
    manifest = cdp.send("Page.getAppManifest")
    assert manifest["url"].endswith("/manifest.webmanifest")
    assert manifest["errors"] == []
    cdp.detach()

    # Make a voucher on the phone; the next pages load through the worker.
    phone.goto(base + "/vouchers/new")
    assert phone.evaluate("navigator.serviceWorker.controller !== null")
    phone.get_by_label("Or type an amount (credits)").fill("15")
    phone.get_by_role("button", name="Make voucher").click()
    phone.wait_for_load_state()
    voucher = client.get("/api/v1/vouchers", headers=ann.auth).get_json()["vouchers"][0]
    voucher_url = f"{base}/vouchers/{voucher['id']}"
    phone.goto(voucher_url)  # viewed: its copy is kept before the page shows
    assert phone.get_by_role("heading", name="15 credits").is_visible()
    assert not phone.locator("#offline-note").is_visible()  # online: the live page

    # No signal: the same page opens from the worker's copy, QR and all.
    phone.context.set_offline(True)
    phone.reload()
    note = phone.locator("#offline-note")
    assert note.is_visible()
    assert re.fullmatch(r"Offline — shown as last seen at \d\d:\d\d", note.inner_text())
    assert phone.get_by_text(voucher["reference"], exact=True).is_visible()
    assert axe_violations(phone) == []
    shot = tmp_path / "1-offline-voucher.png"
    phone.screenshot(path=str(shot), full_page=True)
    assert decode(shot) == [voucher["code"]]

    # Other pages are network-only: offline they say so, and show no balance.
    phone.goto(base + "/me")
    assert phone.get_by_role("heading", name="You are offline").is_visible()
    assert "60" not in phone.locator("main").inner_text()
    assert "Ann Okafor" not in phone.content()
    kept = phone.locator("#offline-vouchers")
    kept.get_by_role("link").first.wait_for()  # the vouchers that still open are listed
    assert voucher["reference"] in kept.inner_text()
    assert axe_violations(phone) == []
    phone.screenshot(path=str(tmp_path / "2-offline-page.png"), full_page=True)

    # Meanwhile the voucher is cancelled; back online, the page shows it as it is now.
    resp = client.post(f"/api/v1/vouchers/{voucher['id']}/cancel", headers=ann.auth)
    assert resp.status_code == 200, resp.get_json()
    phone.context.set_offline(False)
    phone.goto(voucher_url)
    assert phone.get_by_text("This voucher was cancelled on").is_visible()
    assert not phone.locator("#offline-note").is_visible()
    assert phone.locator("#voucher-qr").count() == 0
    phone.screenshot(path=str(tmp_path / "3-online-cancelled.png"), full_page=True)

    # A second voucher, seen online, then sign out: nothing of Ann's is kept.
    second = client.post(
        "/api/v1/vouchers", json={"amount": 5, "idempotency_key": "pwa-2"}, headers=ann.auth
    ).get_json()
    phone.goto(f"{base}/vouchers/{second['id']}")
    assert phone.locator("#voucher-qr").is_visible()
    assert len(phone.evaluate(VOUCHER_CACHES)) == 1
    phone.get_by_role("button", name="Sign out").click()
    phone.wait_for_load_state()
    assert phone.get_by_text("You have signed out.").is_visible()
    assert phone.evaluate(VOUCHER_CACHES) == []
    worker_ready(phone)  # the signed-out page registers the worker again

    phone.context.set_offline(True)
    try:
        phone.goto(f"{base}/vouchers/{second['id']}")
    except Exception as exc:  # no worker at all: the browser's own "no connection"
        assert "ERR_INTERNET_DISCONNECTED" in str(exc)
    else:
        assert phone.get_by_role("heading", name="You are offline").is_visible()
        assert phone.locator("#offline-vouchers").is_hidden()
    assert phone.locator("#voucher-qr").count() == 0
    assert second["reference"] not in phone.content()
    phone.screenshot(path=str(tmp_path / "4-signed-out-offline.png"), full_page=True)
    phone.context.set_offline(False)


def test_a_shared_phone_never_shows_the_previous_persons_voucher(
    live_server, phone, make_person, client, db
):
    """Ann does not sign out (her session just ends); Bob signs in on the same phone. Offline,
    Ann's voucher is not shown to him: the caches are the session's, and his pages drop hers."""
    base = live_server.url
    ann = make_person(Role.MEMBER, credits=20, name="Ann Okafor")
    bob = make_person(Role.MEMBER, credits=20, name="Bob Byrne")
    hers = client.post(
        "/api/v1/vouchers", json={"amount": 5, "idempotency_key": "ann"}, headers=ann.auth
    ).get_json()
    sign_in(phone, base, ann.email)
    worker_ready(phone)
    phone.goto(f"{base}/vouchers/{hers['id']}")
    assert phone.evaluate("navigator.serviceWorker.controller !== null")
    assert len(phone.evaluate(VOUCHER_CACHES)) == 1

    # Her session is gone without a sign-out, and Bob's session cookie arrives without the
    # sign-in page (whose script would clear the caches): the worker alone must drop hers.
    phone.context.clear_cookies()
    phone.context.add_cookies([{"name": "cc_session", "value": session_of(db, bob), "url": base}])
    phone.goto(base + "/vouchers")
    assert phone.get_by_role("heading", name="Your vouchers").is_visible()
    assert phone.evaluate(VOUCHER_CACHES) == []

    phone.context.set_offline(True)
    phone.goto(f"{base}/vouchers/{hers['id']}")
    assert phone.get_by_role("heading", name="You are offline").is_visible()
    assert hers["reference"] not in phone.content()
    assert phone.locator("#voucher-qr").count() == 0
    phone.context.set_offline(False)
