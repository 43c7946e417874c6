"""Every error response, in one place: RFC 9457 ``application/problem+json`` with a ``code``.

Domain errors (credits.errors.CreditsError) carry their own code and say what went wrong;
which HTTP status answers each is decided here, once (:func:`status_of`): pages and the API
both ask it. HTTP errors raised by Flask, Werkzeug or the argument parser (404, 405, 413,
415, 422...) are mapped here too. Anything unexpected is logged and answered 500
``internal_error`` without details. Browsers asking for a page (not under /api/) get the
same information as a small HTML page.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from flask import Flask, Response, g, json, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

from credits.accounts.links import LinkExpired, LinkInvalid, LinkUsed
from credits.db import RETRY_AFTER_S, is_unavailable
from credits.erasure import ErasureRefused
from credits.errors import (
    Conflict,
    CreditsError,
    Forbidden,
    IdempotencyConflict,
    InsufficientFunds,
    NotFound,
    PeriodClosed,
    Unauthorized,
    Unavailable,
    ValidationFailed,
)
from credits.i18n import T
from credits.ratelimit import RateLimited
from credits.vouchers.errors import CodeRefused, KeyringError, VoucherExpired

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

#: HTTP status -> (code, title) for errors that do not come from our own exception tree.
HTTP_CODES: dict[int, tuple[str, str]] = {
    400: ("validation_error", T("The request could not be understood")),
    401: ("unauthorized", T("Sign-in required")),
    403: ("forbidden", T("Not allowed")),
    404: ("not_found", T("Not found")),
    405: ("method_not_allowed", T("Method not allowed")),
    406: ("not_acceptable", T("Not acceptable")),
    409: ("conflict", T("Conflict")),
    413: ("payload_too_large", T("Request body too large")),
    414: ("uri_too_long", T("Address too long")),
    415: ("unsupported_media_type", T("Send JSON (Content-Type: application/json)")),
    422: ("validation_error", T("The request is not valid")),
    428: ("precondition_required", T("Precondition required")),
    429: ("rate_limited", T("Too many requests")),
    431: ("header_fields_too_large", T("Request headers too large")),
    500: ("internal_error", T("Internal error")),
    503: ("unavailable", T("Service unavailable")),
}


#: Category of domain error -> HTTP status. An error is answered with the status of the first
#: class of its method resolution order listed here (CreditsError itself: 400).
STATUS_BY_CATEGORY: dict[type[CreditsError], int] = {
    ValidationFailed: 422,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    IdempotencyConflict: 409,
    InsufficientFunds: 409,
    PeriodClosed: 409,
    Unavailable: 503,
    CreditsError: 400,
}

#: Error classes answered with another status than their category's (contract v1 lists
#: each code with its status). Looked up along the error's method resolution order, before
#: the categories, so a subclass inherits its parent's entry.
STATUS_BY_CLASS: dict[type[CreditsError], int] = {
    ErasureRefused: 409,  # a record the law says must be kept
    LinkInvalid: 404,  # an emailed link nobody made
    LinkExpired: 410,
    LinkUsed: 410,
    RateLimited: 429,
    CodeRefused: 422,  # a voucher code that is not a genuine one (and its kinds)
    VoucherExpired: 409,  # genuine but past its expiry: the voucher's state refuses it
    KeyringError: 409,  # a signing-key operation the keyring's state refuses
}

#: Codes answered with one status whatever their class: a page's field error that names
#: nothing that exists (a member looked up by email) says ``not_found`` and is answered 404.
STATUS_BY_CODE: dict[str, int] = {"not_found": 404}


def status_of(error: CreditsError | type[CreditsError]) -> int:
    """The HTTP status that answers a domain error (an instance or its class)."""
    cls = error if isinstance(error, type) else type(error)
    if cls.code in STATUS_BY_CODE:
        return STATUS_BY_CODE[cls.code]
    for table in (STATUS_BY_CLASS, STATUS_BY_CATEGORY):
        for klass in cls.__mro__:
            if klass in table:
                return table[klass]
    return STATUS_BY_CATEGORY[CreditsError]


#: What an error page says for an HTTP error that came with no words of its own.
PAGE_DETAILS: dict[int, str] = {
    400: T("The page could not understand that request."),
    403: T("You are not allowed to see or do this."),
    404: T("There is nothing at this address. Check the link, or start again from the home page."),
    405: T("This page does not take that kind of request."),
    413: T("What you sent is too large."),
    429: T("Too many tries in a short time. Wait a little, then try again."),
}


def problem(
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    """Build a problem+json response (RFC 9457) with our extra ``code`` member, and the
    request's ``request_id`` (also in the X-Request-ID header and on its log line)."""
    body: dict[str, Any] = {
        "type": f"https://cooperative-credits.example/problems/{code}",
        "title": title,
        "status": status,
        "code": code,
    }
    if detail:
        body["detail"] = detail
    body["instance"] = request.path if request else None
    body.update(extra)
    if request:
        body["request_id"] = g.get("request_id")
        # What the request log and metrics count a refusal as (redemptions by code).
        g.problem_code = code
    if _wants_html():
        page = render_template("error.html", problem=body)
        resp = Response(page, status=status, mimetype="text/html")
    else:
        resp = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp


def _wants_html() -> bool:
    """A browser navigating to a page (never the API) gets HTML."""
    if not request or request.path.startswith("/api/"):
        return False
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html"


class _OutageLog:
    """One log line per stretch of database trouble, not a traceback per request.

    While the database is unavailable every request would otherwise log the same failure;
    this logs the first at once and then at most one summary line every ``every_s`` seconds
    with how many requests were answered 503 meanwhile.
    """

    def __init__(self, every_s: float = 10.0) -> None:
        self.every_s = every_s
        self._lock = threading.Lock()
        self._last = float("-inf")
        self._suppressed = 0

    def note(self, exc: BaseException) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last < self.every_s:
                self._suppressed += 1
                return
            suppressed, self._suppressed, self._last = self._suppressed, 0, now
        cause = exc.__cause__ or exc
        first_line = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        more = f" ({suppressed} more answered 503 since the last note)" if suppressed else ""
        log.warning(
            "database unavailable, answering 503 on %s %s: %s: %s%s",
            request.method,
            request.path,
            type(cause).__name__,
            first_line[:300],
            more,
        )


_outages = _OutageLog()


def _unavailable(exc: BaseException) -> Response:
    _outages.note(exc)
    if isinstance(exc, Unavailable):
        return _from_credits_error(exc)
    # A raw database error here came from a read; whether an earlier step of the request
    # wrote something is not known at this point, so say so.
    return _from_credits_error(
        Unavailable(
            "the database cannot be reached at the moment",
            retry_after_s=RETRY_AFTER_S,
            in_doubt=request.method not in ("GET", "HEAD", "OPTIONS"),
        )
    )


def _from_credits_error(exc: CreditsError) -> Response:
    # An error may carry response headers of its own (Retry-After on rate_limited).
    headers = getattr(exc, "headers", None)
    return problem(status_of(exc), exc.code, exc.title, exc.detail, headers=headers, **exc.extra)


def _from_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    if isinstance(exc, InternalServerError) and exc.original_exception is not None:
        return _from_unexpected(exc.original_exception)
    code, title = HTTP_CODES.get(status, ("error", exc.name))
    detail = exc.description
    if _wants_html() and detail == type(exc).description and status in PAGE_DETAILS:
        # Werkzeug's own English sentence: a page says it in the reader's language.
        detail = PAGE_DETAILS[status]
    extra: dict[str, Any] = {}
    headers: dict[str, str] = {}
    data = getattr(exc, "data", None) or {}
    if "messages" in data or "errors" in data:
        # The argument parser's field errors: {"json": {"amount": ["Not a valid integer."]}}
        extra["errors"] = _flatten_locations(data.get("errors") or data.get("messages"))
        detail = T("Some fields are missing or not valid: see errors.")
    if "message" in data:
        detail = str(data["message"])
    for name, value in (data.get("headers") or {}).items():
        headers[name] = value
    if status == 405:
        allowed = exc.get_headers()
        for name, value in allowed:
            if name.lower() == "allow":
                headers["Allow"] = value
    return problem(status, code, title, detail, headers=headers, **extra)


def _flatten_locations(messages: Any) -> Any:
    """webargs nests errors under the location ("json", "query"); callers care about fields."""
    if isinstance(messages, dict) and set(messages) <= {
        "json",
        "query",
        "form",
        "files",
        "headers",
        "view_args",
        "path",
    }:
        merged: dict[str, Any] = {}
        for value in messages.values():
            if isinstance(value, dict):
                merged.update(value)
            else:
                merged.setdefault("_body", value)
        return merged
    return messages


def _from_unexpected(exc: BaseException) -> Response:
    if is_unavailable(exc):
        # A read that met a dead connection or an unreachable database (writes come as
        # Unavailable from the unit of work): 503 with Retry-After, never 500.
        return _unavailable(exc)
    log.exception("unexpected error on %s %s", request.method, request.path, exc_info=exc)
    return problem(
        500,
        "internal_error",
        T("Internal error"),
        T("Something went wrong on our side; nothing was changed."),
    )


def register_error_handlers(app: Flask) -> None:
    """Route every error to problem+json. Call after flask-smorest's Api is initialised, so
    these replace its own JSON error handler."""
    app.register_error_handler(Unavailable, _unavailable)
    app.register_error_handler(CreditsError, _from_credits_error)
    app.register_error_handler(HTTPException, _from_http_exception)
    app.register_error_handler(Exception, _from_unexpected)
