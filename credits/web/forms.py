"""What the pages' forms share: reading a posted form through a marshmallow schema (webargs),
running the use case and keeping the refusal to show on the form (:func:`submit`), one-use
form keys, the decimal comma and the earning pages' error context. Template filters live with
every other filter in credits/web/filters.py. Pages stay thin: parse the form, call a use
case, render or redirect.

A page form's fields are :class:`Cut` text: what was typed, cut to a length, ``""`` when
absent. The use case decides what the text means and refuses it with per-field errors, so
the page shows the same message as the API; the schema only says which fields a form has.
The CSRF token is read once, by credits.web.auth.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from flask import request
from marshmallow import EXCLUDE, Schema, fields, missing
from marshmallow import ValidationError as SchemaError
from webargs.flaskparser import FlaskParser

from credits.earning.request_checks import FieldProblems
from credits.errors import CreditsError, ValidationFailed
from credits.i18n import T, translate

_DECIMAL_COMMA = re.compile(r"^\s*[0-9]{1,9},[0-9]{1,9}\s*$")


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


class Cut(fields.String):
    """Text typed into a form, cut to at most ``limit`` characters (None: as sent); ``""``
    when absent."""

    def __init__(self, limit: int | None, **kwargs: Any) -> None:
        kwargs.setdefault("load_default", "")
        super().__init__(**kwargs)
        self.limit = limit

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        return str(super()._deserialize(value, attr, data, **kwargs))[: self.limit]


class Kept(Cut):
    """Text typed into a form, as sent; absent from the values when the form lacks it (a
    page that shows ``form.get(name, current)`` then shows the current value)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("load_default", missing)
        super().__init__(None, **kwargs)


class Choices(fields.List):
    """A field sent once per ticked box (``getlist``), each cut to ``limit`` characters, at
    most ``count`` of them."""

    def __init__(self, limit: int | None, count: int | None, **kwargs: Any) -> None:
        kwargs.setdefault("load_default", list)
        super().__init__(Cut(limit), **kwargs)
        self.count = count

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        return list(super()._deserialize(value, attr, data, **kwargs))[: self.count]


class PageForm(Schema):
    """A page form's fields; anything else posted (the CSRF token, buttons) is ignored."""

    class Meta:
        unknown = EXCLUDE


class _PageParser(FlaskParser):
    """webargs for pages: a form that does not fit its schema is refused like any other
    request (ValidationFailed, field by field), so the page re-renders with the errors
    instead of webargs' default 422 abort."""

    def handle_error(
        self,
        error: SchemaError,
        req: Any,
        schema: Schema,
        *,
        error_status_code: int | None,
        error_headers: Any,
    ) -> NoReturn:
        messages = error.messages if isinstance(error.messages, dict) else {}
        raise ValidationFailed(T("The request is not valid"), errors=messages.get("form", messages))


page_parser = _PageParser()


def read_form(schema: Schema | type[Schema], location: str = "form") -> dict[str, Any]:
    """The posted form's fields as ``schema`` reads them (defaults on a GET); ``location``
    "query" reads a link's prefilled values instead."""
    form_schema = schema() if isinstance(schema, type) else schema
    return dict(page_parser.parse(form_schema, request, location=location))


@dataclass(slots=True)
class Submission:
    """A posted form: the values kept to show again, and the use case's result or refusal."""

    values: dict[str, Any]
    result: Any = None
    refusal: CreditsError | None = None


def submit(schema: Schema | type[Schema], use_case: Callable[[dict[str, Any]], Any]) -> Submission:
    """POST → use case → refusal shown on the form: read the form with ``schema``, run
    ``use_case`` on its values, and keep a refusal (the use case's, or the form's own)
    with the values, for the page to render the form again with the same status as the
    API's."""
    try:
        values = read_form(schema)
    except CreditsError as exc:
        return Submission(values={}, refusal=exc)
    try:
        return Submission(values=values, result=use_case(values))
    except CreditsError as exc:
        return Submission(values=values, refusal=exc)
