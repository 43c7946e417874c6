"""One check for every problem+json answer (RFC 9457) the tests expect."""

from __future__ import annotations

from typing import Any

from credits.api.problems import PROBLEM_JSON


def assert_problem(resp: Any, status: int, code: str) -> dict[str, Any]:
    """``resp`` (a Flask/werkzeug response) is problem+json with ``status`` and ``code``, a
    title and a type; returns its body."""
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == PROBLEM_JSON, resp.mimetype
    body: dict[str, Any] = resp.get_json(force=True)
    assert body["status"] == status and body["code"] == code, body
    assert body["title"] and body["type"], body
    return body
