"""Helpers shared by the earning pages (member, coordinator, officer): the signed-in
principal, form errors, one-use form keys, and template filters for London dates and
signed amounts. Pages stay thin: parse the form, call a use case, render or redirect."""

from __future__ import annotations

import secrets
from datetime import date, datetime
from typing import Any

from flask import Flask

from credits.accounts import Principal
from credits.earning.common import FieldProblems
from credits.earning.quantities import describe
from credits.errors import CreditsError
from credits.ledger import LONDON
from credits.web.auth import current_principal

STATE_LABELS = {
    "pending": "Waiting for approval",
    "awaiting_officer": "Waiting for a council officer",
    "posted": "Approved",
    "rejected": "Not approved",
}
KIND_LABELS = {"record": "Recorded", "session": "Session sheet", "claim": "Claim"}


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


def problem_context(exc: CreditsError) -> dict[str, Any]:
    """What a form page shows for a refused request: the message and per-field errors."""
    errors = exc.extra.get("errors") if isinstance(exc.extra.get("errors"), dict) else {}
    field_errors = {
        k: "; ".join(str(m) for m in (v if isinstance(v, list) else [v]))
        for k, v in (errors or {}).items()
    }
    # A list of field problems speaks for itself; a refusal with a reason of its own leads
    # with it (unless it only repeats the one field's message).
    repeats = exc.detail in field_errors.values()
    lead = "" if isinstance(exc, FieldProblems) or repeats else exc.detail
    return {"error": lead, "field_errors": field_errors, "failed": True}


def capfirst(text: str) -> str:
    """``at 10 credits...`` → ``At 10 credits...`` (messages start lower-case)."""
    return text[:1].upper() + text[1:] if text else text


def london_date(value: date | datetime | None, fmt: str = "%a %-d %b %Y") -> str:
    """A date, or an instant shown as its London date: ``Tue 24 Nov 2026``."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(LONDON)
    return value.strftime(fmt)


def london_time(value: datetime | None) -> str:
    """An instant in London time: ``24 Nov 2026, 14:05``."""
    if value is None:
        return ""
    return value.astimezone(LONDON).strftime("%-d %b %Y, %H:%M")


def signed(amount: int) -> str:
    """``+15`` or ``−5`` (a real minus sign)."""
    return f"+{amount}" if amount > 0 else f"\u2212{-amount}" if amount < 0 else "0"


def register_filters(app: Flask) -> None:
    """Template filters used by the earning pages."""
    app.add_template_filter(london_date, "london_date")
    app.add_template_filter(london_time, "london_time")
    app.add_template_filter(signed, "signed")
    app.add_template_filter(lambda s: STATE_LABELS.get(s, s), "state_label")
    app.add_template_filter(lambda s: KIND_LABELS.get(s, s), "kind_label")
    app.add_template_filter(describe, "describe_quantity")
    app.add_template_filter(capfirst, "capfirst")
