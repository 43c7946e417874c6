"""The installable app (credits/web/pwa.py): the manifest, the service worker's headers, the
offline page, whose session a page is (the worker's cache key), and Clear-Site-Data on
sign-out. In Chromium: tests/e2e/test_offline_voucher_browser.py."""

from __future__ import annotations

import re
from pathlib import Path

from PIL import Image

from credits.accounts import Role
from credits.web.auth import PAGE_CSP
from credits.web.pwa import OFFLINE_KEY_HEADER

from .web_helpers import csrf_from, sign_in

STATIC = Path(__file__).resolve().parents[2] / "credits" / "web" / "static"


def test_the_manifest_makes_the_pages_installable(client):
    resp = client.get("/manifest.webmanifest")
    assert resp.status_code == 200
    assert resp.mimetype == "application/manifest+json"
    manifest = resp.get_json(force=True)
    assert manifest["name"] == "Cooperative Credits"
    assert manifest["short_name"] == "Credits"
    assert manifest["start_url"] == "/me"
    assert manifest["scope"] == "/"
    assert manifest["display"] == "standalone"
    assert re.fullmatch(r"#[0-9a-f]{6}", manifest["theme_color"])
    assert {i["sizes"] for i in manifest["icons"]} == {"192x192", "512x512"}
    for icon in manifest["icons"]:
        assert icon["type"] == "image/png"
        size = int(icon["sizes"].split("x")[0])
        image = client.get(icon["src"])
        assert image.status_code == 200 and image.mimetype == "image/png"
        image.close()
        with Image.open(STATIC / Path(icon["src"]).name) as png:
            assert png.size == (size, size)
    # Every page links it, and the script that registers the worker (a file: no inline script).
    page = client.get("/").get_data(as_text=True)
    assert '<link rel="manifest" href="/manifest.webmanifest">' in page
    assert re.search(r'<script src="/static/pwa.js" data-service-worker="/service-worker.js"', page)


def test_the_service_worker_is_served_from_the_root_and_never_cached(client):
    resp = client.get("/service-worker.js")
    assert resp.status_code == 200
    assert resp.mimetype == "text/javascript"
    assert resp.headers["Cache-Control"] == "no-cache"
    assert resp.headers["Service-Worker-Allowed"] == "/"
    assert resp.headers["Content-Security-Policy"] == PAGE_CSP
    assert "X-Credits-Offline-Key" in resp.get_data(as_text=True)
    resp.close()


def test_the_offline_page_says_so_and_holds_nothing_personal(client, make_person):
    ann = make_person(Role.MEMBER, credits=30, name="Ann Okafor")
    sign_in(client, ann.email)
    resp = client.get("/offline")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "You are offline" in html
    assert "Ann Okafor" not in html and "30" not in html
    assert "csrf_token" not in html  # no form: nothing bound to a session


def test_pages_say_whose_they_are_and_sign_out_clears_the_site(client, make_person):
    ann = make_person(Role.MEMBER, credits=30)
    made = client.post(
        "/api/v1/vouchers", json={"amount": 5, "idempotency_key": "pwa-1"}, headers=ann.auth
    ).get_json()
    assert OFFLINE_KEY_HEADER not in client.get("/").headers  # nobody's
    sign_in(client, ann.email)
    page = client.get(f"/vouchers/{made['id']}")
    key = page.headers[OFFLINE_KEY_HEADER]
    assert re.fullmatch(r"[0-9a-f]{32}", key)
    html = page.get_data(as_text=True)
    assert 'data-offline-copy="no"' in html
    assert re.search(r'data-offline-line="Offline — shown as last seen at \d\d:\d\d"', html)
    assert 'data-signed-in="yes"' in html
    # The same session, the same key; no token in it.
    assert client.get("/me").headers[OFFLINE_KEY_HEADER] == key
    assert client.get_cookie("cc_session").value not in key

    out = client.post("/sign-out", data={"csrf_token": csrf_from(html)})
    assert out.status_code == 302
    assert out.headers["Clear-Site-Data"] == '"cache", "storage"'
    after = client.get("/")
    assert OFFLINE_KEY_HEADER not in after.headers
    assert 'data-signed-in="no"' in after.get_data(as_text=True)

    # Signing in again is another session: another key (the worker drops the old copies).
    sign_in(client, ann.email)
    assert client.get("/me").headers[OFFLINE_KEY_HEADER] != key
