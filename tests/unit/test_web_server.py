"""credits/web_server.py: what the access log may show, and gunicorn's refusals as problems."""

from __future__ import annotations

import json

from credits.web_server import problem_response, redact_query, redact_url


def test_query_values_are_redacted_unless_known_to_be_safe():
    assert redact_url("/password/reset?token=abc") == "/password/reset?token=REDACTED"
    assert redact_url("/officer/people?q=ann%40x.example&page=2") == (
        "/officer/people?q=REDACTED&page=2"
    )
    assert redact_url("/api/v1/redemptions?since=2026-10-01T00:00:00+00:00&shop=3") == (
        "/api/v1/redemptions?since=2026-10-01T00:00:00+00:00&shop=3"
    )
    assert redact_url("https://x.example/invitation?token=t#frag") == (
        "https://x.example/invitation?token=REDACTED#frag"
    )
    assert redact_url("/officer") == "/officer"
    assert redact_query("") == ""
    assert redact_query("s3cret-without-a-name") == "REDACTED"


def test_a_refusal_is_a_complete_problem_json_response():
    raw = problem_response(414, "URI Too Long", "uri_too_long", "Too long.")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 414 URI Too Long\r\n")
    assert b"Content-Type: application/problem+json" in head
    assert f"Content-Length: {len(body)}".encode() in head
    assert json.loads(body)["code"] == "uri_too_long"
