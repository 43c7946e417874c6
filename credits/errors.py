"""The one exception tree for failures a user can cause.

Every error a caller can provoke is a :class:`CreditsError` subclass with a stable
machine-readable ``code`` (contract v1 lists them). An error says what went wrong, not how
to answer it: which HTTP status answers each class is decided at the edge, once
(``credits.api.problems.status_of``), which also turns any of them into RFC 9457
``application/problem+json``; the command line prints ``code: detail``. The classes below are
the categories that table maps. Nothing here imports Flask.

Raise an error *before* anything is written, or inside the unit of work so the transaction
rolls back: a refused request changes nothing.

Titles and details a person may read on a page are marked with ``credits.i18n.T``: they stay
English ``str`` for the API's problem+json, and pages show them in the reader's language.
"""

from __future__ import annotations

from typing import Any, ClassVar

from credits.i18n import T


class CreditsError(Exception):
    """Base of every user-caused failure."""

    code: ClassVar[str] = "error"
    title: ClassVar[str] = T("Request refused")

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        #: Extra members of the problem body (e.g. ``shop_id`` for already_redeemed).
        self.extra = extra


class ValidationFailed(CreditsError):
    code = "validation_error"
    title = T("The request is not valid")

    def __init__(self, detail: str, errors: dict[str, Any] | None = None, **extra: Any) -> None:
        super().__init__(detail, **extra)
        if errors:
            self.extra["errors"] = errors


class Unauthorized(CreditsError):
    code = "unauthorized"
    title = T("Sign-in required")


class Forbidden(CreditsError):
    code = "forbidden"
    title = T("Not allowed")


class NotFound(CreditsError):
    code = "not_found"
    title = T("Not found")


class Conflict(CreditsError):
    code = "conflict"
    title = T("Conflict")


class IdempotencyConflict(CreditsError):
    code = "idempotency_conflict"
    title = T("Idempotency key reused for a different request")


class InsufficientFunds(CreditsError):
    code = "insufficient_funds"
    title = T("Not enough credits")


class PeriodClosed(CreditsError):
    code = "period_closed"
    title = T("That month is closed")


class Unavailable(CreditsError):
    """The database (or another service the request needs) cannot be used right now.

    Answered 503 with ``Retry-After``: nothing the caller did is wrong, and the same request
    — with the same idempotency key — may simply be sent again a little later. Terminals
    treat it as being offline.

    The problem body says what became of the request: ``"outcome": "not_done"`` when the
    change it asked for was certainly not made (the database was out of reach before it was
    saved), ``"unknown"`` when the connection was lost while it was being saved. Only a
    request known not done may be treated as never sent; an unknown one is repeated with
    its idempotency key to find out.
    """

    code = "unavailable"
    title = T("Service unavailable")

    def __init__(
        self, detail: str, *, retry_after_s: int = 2, in_doubt: bool = False, **extra: Any
    ) -> None:
        super().__init__(detail, outcome="unknown" if in_doubt else "not_done", **extra)
        self.retry_after_s = retry_after_s
        self.in_doubt = in_doubt
        #: Response headers the error edge adds (credits/api/problems.py).
        self.headers = {"Retry-After": str(retry_after_s)}
