"""Helpers shared by the earning pages (member, coordinator, officer): the signed-in
principal, form errors and one-use form keys (their template filters live with every other
filter in credits/web/filters.py). Pages stay thin: parse the form, call a use case, render or
redirect."""

from __future__ import annotations

import re
import secrets
from typing import Any

from credits.accounts import Principal
from credits.earning.request_checks import FieldProblems
from credits.errors import CreditsError
from credits.i18n import translate
from credits.web.auth import current_principal

_DECIMAL_COMMA = re.compile(r"^\s*[0-9]{1,9},[0-9]{1,9}\s*$")


def me() -> Principal:
    """The signed-in principal of a page guarded by ``page_requires``."""
    who = current_principal()
    assert who is not None and who.person_id is not None
    return who


def new_key() -> str:
    """A fresh idempotency key for a form: submitting it twice posts once."""
    return secrets.token_urlsafe(16)


def form_key(form: Any) -> str:
    """The form's idempotency key, or a fresh one if it has none (it is then not retried)."""
    key = form.get("idempotency_key", "")
    return key if isinstance(key, str) and 0 < len(key) <= 200 else new_key()


def decimal_input(text: str) -> str:
    """A quantity typed with a decimal comma (``1,5``, as in most of Europe) read as ``1.5``;
    anything else unchanged (the use case decides whether it is a quantity)."""
    if _DECIMAL_COMMA.match(text or ""):
        return text.strip().replace(",", ".")
    return text


def problem_context(exc: CreditsError) -> dict[str, Any]:
    """What a form page shows for a refused request: the message and per-field errors."""
    errors = exc.extra.get("errors") if isinstance(exc.extra.get("errors"), dict) else {}
    # Shown in the page's language: each message is translated before they are joined.
    field_errors = {
        k: "; ".join(str(translate(m)) for m in (v if isinstance(v, list) else [v]))
        for k, v in (errors or {}).items()
    }
    # A list of field problems speaks for itself; a refusal with a reason of its own leads
    # with it (unless it only repeats the one field's message).
    detail = translate(exc.detail)
    repeats = detail in field_errors.values()
    lead = "" if isinstance(exc, FieldProblems) or repeats else detail
    return {"error": lead, "field_errors": field_errors, "failed": True}
