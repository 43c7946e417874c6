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
