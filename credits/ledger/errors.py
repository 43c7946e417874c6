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
    title = "No such account"


class EntryNotFound(NotFound):
    title = "No such journal entry"


class AlreadyReversed(Conflict):
    code = "already_reversed"
    title = "That entry has already been reversed"
