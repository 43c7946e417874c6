"""Ledger failures a caller can cause. Each maps to a problem+json ``code``."""

from __future__ import annotations

from credits.errors import (
    Conflict,
    IdempotencyConflict,
    InsufficientFunds,
    NotFound,
    PeriodClosed,
    ValidationFailed,
)
from credits.i18n import T

__all__ = [
    "AlreadyReversed",
    "EntryNotFound",
    "IdempotencyConflict",
    "InsufficientFunds",
    "InvalidEntry",
    "PeriodClosed",
    "UnknownAccount",
]


class InvalidEntry(ValidationFailed):
    """The entry itself is malformed: not balanced, a non-integer or out-of-range amount,
    too few or too many postings, an account twice, an over-long memo..."""


class UnknownAccount(ValidationFailed):
    code = "unknown_account"
    title = T("No such account")


class EntryNotFound(NotFound):
    title = T("No such journal entry")


class AlreadyReversed(Conflict):
    code = "already_reversed"
    title = T("That entry has already been reversed")
