"""The public pages themselves: no sign-in, charts with text alternatives, no inline script
or style (the site's Content-Security-Policy refuses them), the anonymous page served from the
cache, a signed-in visitor never served someone else's page."""

from __future__ import annotations

import re

from freezegun import freeze_time

from ..test_security_headers import INLINE
from ..web_helpers import sign_in
from .conftest import NOW


def _get(client, path, **kw):
    with freeze_time(NOW):
        return client.get(path, **kw)


def test_an_anonymous_visitor_reads_the_record(worked, client):
    for path in ("/open", "/open/2026-10", "/open/2026-09"):
        resp = _get(client, path)
        assert resp.status_code == 200, path
        assert resp.headers["Cache-Control"] == "public, max-age=60"
        assert "Cookie" in resp.headers["Vary"]
        html = resp.get_data(as_text=True)
        # Charts are server-side SVG named by a title and described by every number.
        charts = re.findall(r"<svg.*?</svg>", html, re.S)
        assert charts, path
        for svg in charts:
            assert 'role="img"' in svg and "<title" in svg and "<desc" in svg
        # Nothing a strict Content-Security-Policy would refuse.
        assert not INLINE.search(html), INLINE.search(html)
        assert not re.search(r"\sstyle=", html) and not re.search(r"\son[a-z]+=", html)
    index = _get(client, "/open").get_data(as_text=True)
    assert "Credits earned and spent each month" in index
    flows = re.search(r'<desc id="open-flows-desc">(.*?)</desc>', index).group(1)
    assert "earned 155 credits" in flows and "spent 57 credits" in flows
    month = _get(client, "/open/2026-10").get_data(as_text=True)
    shops = re.search(r'<desc id="open-shops-desc">(.*?)</desc>', month).group(1)
    assert "Brixton Bakery: credits spent 29 credits" in shops


def test_months_that_are_not_public_get_a_clear_page(worked, client):
    resp = _get(client, "/open/2026-11", headers={"Accept": "text/html"})
    assert resp.status_code == 404
    assert "not on the public record" in resp.get_data(as_text=True)
    assert _get(client, "/open/sometime", headers={"Accept": "text/html"}).status_code == 422


def test_a_signed_in_visitor_gets_a_page_of_their_own(worked, app, client):
    record = app.extensions["credits_open"]
    assert _get(client, "/open").status_code == 200  # cached for anonymous visitors
    web = app.test_client()
    with freeze_time(NOW):
        assert sign_in(web, worked.scheme.ann.email).status_code == 302
        resp = web.get("/open")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "Ann Okafor" in html, "their own header, not the anonymous page"
    assert "public" not in resp.headers.get("Cache-Control", "")
    anonymous = _get(client, "/open").get_data(as_text=True)
    assert "Ann Okafor" not in anonymous and "Sign in" in anonymous
    assert record.builds == 1


def test_the_front_page_and_the_guides_point_at_it(client):
    assert 'href="/open"' in client.get("/").get_data(as_text=True)


def test_each_language_is_cached_apart(worked, app):
    """The anonymous page is cached per negotiated language (cc_lang cookie, else
    Accept-Language): a Polish reader never gets the English page someone else warmed."""
    visitors = {
        "pl": {"headers": {"Accept-Language": "pl-PL,pl;q=0.9"}},
        "en": {"headers": {"Accept-Language": "en-GB,en;q=0.8"}},
        "fr": {"cookie": "fr", "headers": {"Accept-Language": "pl"}},  # the cookie wins
    }
    pages = {}
    for language, visitor in visitors.items():
        web = app.test_client()  # each visitor their own browser: no cookie carried over
        if "cookie" in visitor:
            web.set_cookie("cc_lang", visitor["cookie"])
        resp = _get(web, "/open", headers=visitor["headers"])
        assert resp.status_code == 200
        assert resp.headers["Cache-Control"] == "public, max-age=60", "the cached page"
        vary = {v.strip() for v in resp.headers["Vary"].split(",")}
        assert {"Cookie", "Accept-Language"} <= vary
        assert resp.headers["Content-Language"] == language
        html = resp.get_data(as_text=True)
        assert f'<html lang="{language}">' in html
        pages[language] = html
    assert len(set(pages.values())) == 3, "three languages, three pages"

    # Each language has its own entry in the cache, and a second visitor gets it from there.
    record = app.extensions["credits_open"]
    with app.app_context(), freeze_time(NOW):
        version = record.current()
        for language, html in pages.items():
            cached = version.cached(("page", "index", language), lambda _r: b"not cached")
            assert cached == html.encode("utf-8"), language
    again = _get(app.test_client(), "/open", headers={"Accept-Language": "pl"})
    assert again.get_data(as_text=True) == pages["pl"]
    assert record.builds == 1


def test_the_shared_copy_holds_nothing_of_its_first_visitor(worked, app):
    """The cached anonymous page carries no CSRF token and sets no cookie, and any later
    anonymous visitor can still switch its language from it; signed in, the switch needs a
    token (it changes the profile)."""
    first, later = app.test_client(), app.test_client()
    resp = _get(first, "/open")
    assert resp.headers["Cache-Control"].startswith("public")
    assert "Set-Cookie" not in resp.headers
    html = resp.get_data(as_text=True)
    assert 'name="csrf_token"' not in html and 'action="/language"' in html
    assert _get(later, "/open").get_data(as_text=True) == html  # served from the cache
    switched = later.post("/language", data={"language": "pl", "next": "/open"})
    assert switched.status_code == 303 and switched.headers["Location"].endswith("/open")
    assert "cc_lang=pl" in switched.headers["Set-Cookie"]
    assert 'lang="pl"' in _get(later, "/open").get_data(as_text=True)

    web = app.test_client()
    with freeze_time(NOW):
        assert sign_in(web, worked.scheme.ann.email).status_code == 302
        assert web.post("/language", data={"language": "pl"}).status_code == 403
