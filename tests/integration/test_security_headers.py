"""Security headers: a strict Content-Security-Policy on every answer, HSTS over HTTPS, and no
page that needs inline script or style (what the policy would block)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from credits import create_app
from credits.accounts import Role
from credits.services import Services
from credits.web.auth import API_CSP, HSTS, PAGE_CSP

from .web_helpers import sign_in

TEMPLATES = Path(__file__).resolve().parents[2] / "credits" / "web" / "templates"
#: What a strict policy refuses in a page: inline scripts, <style>, style="", onclick=...
INLINE = re.compile(
    r"<script(?![^>]*\bsrc=)[^>]*>|<style[\s>]|\sstyle\s*=|\son[a-z]+\s*=", re.IGNORECASE
)


def test_every_answer_has_a_strict_content_security_policy(client, make_person):
    ann = make_person(Role.MEMBER, credits=10)
    for path in ("/", "/sign-in", "/nope"):
        resp = client.get(path, headers={"Accept": "text/html"})
        assert resp.headers["Content-Security-Policy"] == PAGE_CSP, path
    sign_in(client, ann.email)
    assert client.get("/me").headers["Content-Security-Policy"] == PAGE_CSP
    for path in ("/api/v1/me", "/api/v1/openapi.json", "/api/v1/nope"):
        resp = client.get(path, headers=ann.auth)
        assert resp.headers["Content-Security-Policy"] == API_CSP, path
    policy = dict(d.strip().split(" ", 1) for d in PAGE_CSP.split(";"))
    assert policy["script-src"] == policy["style-src"] == "'self'"
    assert "unsafe" not in PAGE_CSP and policy["frame-ancestors"] == "'none'"
    assert "Strict-Transport-Security" not in client.get("/").headers


@pytest.mark.parametrize("path", ["/", "/sign-in", "/api/v1/me"])
def test_hsts_when_served_over_https(settings_overrides, test_database, path):
    svc = Services.build({**settings_overrides, "SECURE_COOKIES": "true"})
    try:
        resp = create_app(services=svc).test_client().get(path)
        assert resp.headers["Strict-Transport-Security"] == HSTS
        assert "max-age=63072000" in HSTS
    finally:
        svc.close()


def test_no_template_has_inline_script_or_style():
    """The rendered pages are checked too (test_page_crawl.py); this names the template."""
    found = [
        f"{path.relative_to(TEMPLATES)}: {match.group(0)}"
        for path in TEMPLATES.rglob("*.html")
        for match in INLINE.finditer(path.read_text(encoding="utf-8"))
    ]
    assert found == []
