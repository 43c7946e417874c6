"""Helpers for page tests: pull the CSRF token out of a form, sign in."""

from __future__ import annotations

import re
from typing import Any

_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def csrf_from(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no csrf_token in the page"
    return match.group(1)


def sign_in(client: Any, email: str, password: str = "correct horse battery") -> Any:
    page = client.get("/sign-in")
    return client.post(
        "/sign-in",
        data={
            "login": email,
            "password": password,
            "csrf_token": csrf_from(page.get_data(as_text=True)),
        },
    )


def post_form(client: Any, path: str, data: dict[str, str], *, from_page: str | None = None) -> Any:
    """POST a form the way a browser would: with the CSRF token of the page it came from."""
    page = client.get(from_page or path)
    return client.post(path, data={**data, "csrf_token": csrf_from(page.get_data(as_text=True))})
