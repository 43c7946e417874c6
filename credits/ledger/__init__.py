"""The double-entry ledger: the only place credits move. Imports no web framework.

Rules this package keeps (PRODUCT.md, "Ledger rules"), each enforced twice — in Python here
and in the database (constraints everywhere; triggers and a posting function on PostgreSQL):

1. Every entry's postings are non-zero integers summing to zero (posting.validate_request;
   the deferred ``*_balanced`` triggers).
2. Entries and postings are never updated or deleted; a correction is a reversal
   (:func:`reverse`; the ``*_append_only`` triggers).
3. A member's balance never goes below zero under any concurrency (conditional UPDATE on the
   member's single balance row; the ``ck_account_balance_floor`` CHECK).
4. An idempotency key posts at most once (unique ``journal_entry.idempotency_key``).
5. Stored balances equal the sums of postings, and the hash chain is unbroken
   (:func:`run_checks`, `credits verify`).
6. Nothing is dated in a closed Europe/London month (periods.py; the ``open_period`` trigger).

Use it from inside a unit of work (``db.run(lambda s: post_entry(s, ...))``): functions here
write in the caller's transaction and never commit.
"""

from credits.ledger.accounts import (
    ADJUSTMENTS,
    CHAIN_LANES,
    EXPIRED,
    ISSUANCE,
    SETTLED,
    VOUCHERS_OUTSTANDING,
    AccountInfo,
    account_by_code,
    balance,
    balances,
    bootstrap,
    open_account,
    scheme_account,
)
from credits.ledger.errors import (
    AlreadyReversed,
    EntryNotFound,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidEntry,
    PeriodClosed,
    UnknownAccount,
)
from credits.ledger.periods import LONDON, Month, close_month, closed_months, ensure_open
from credits.ledger.posting import (
    find_entry_by_key,
    get_entry,
    post_entry,
    post_standalone,
    reverse,
)
from credits.ledger.types import (
    MAX_POSTING_CREDITS,
    AccountType,
    EntryKind,
    EntryRequest,
    Leg,
    PostedEntry,
    Posting,
)
from credits.ledger.verify import LEDGER_CHECKS, CheckResult, run_checks

__all__ = [
    "ADJUSTMENTS",
    "CHAIN_LANES",
    "EXPIRED",
    "ISSUANCE",
    "LEDGER_CHECKS",
    "LONDON",
    "MAX_POSTING_CREDITS",
    "SETTLED",
    "VOUCHERS_OUTSTANDING",
    "AccountInfo",
    "AccountType",
    "AlreadyReversed",
    "CheckResult",
    "EntryKind",
    "EntryNotFound",
    "EntryRequest",
    "IdempotencyConflict",
    "InsufficientFunds",
    "InvalidEntry",
    "Leg",
    "Month",
    "PeriodClosed",
    "PostedEntry",
    "Posting",
    "UnknownAccount",
    "account_by_code",
    "balance",
    "balances",
    "bootstrap",
    "close_month",
    "closed_months",
    "ensure_open",
    "find_entry_by_key",
    "get_entry",
    "open_account",
    "post_entry",
    "post_standalone",
    "reverse",
    "run_checks",
    "scheme_account",
]
