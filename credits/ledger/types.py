"""Immutable value types of the ledger: what a caller asks to post, and what was posted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

#: The largest amount of one posting. Far above any real award or voucher, far below
#: anything that could overflow a BIGINT balance even summed over millions of postings.
MAX_POSTING_CREDITS = 1_000_000_000
#: The most postings one entry may carry (a snow day's 40 volunteers fits many times over).
MAX_POSTINGS_PER_ENTRY = 1_001
MAX_MEMO_CHARS = 500
MAX_ACTOR_CHARS = 200
MAX_IDEMPOTENCY_KEY_CHARS = 300


class AccountType(StrEnum):
    """What an account stands for. Member accounts have a floor of zero; the rest do not."""

    ISSUANCE = "issuance"  # the scheme's source of credits: goes negative as credits are earned
    MEMBER = "member"  # a volunteer's spendable credits
    VOUCHERS_OUTSTANDING = "vouchers_outstanding"  # credits held in unredeemed vouchers
    SHOP = "shop"  # credits a partner shop has taken and is owed for
    EXPIRED = "expired"  # breakage: credits that lapsed under the scheme's policy
    ADJUSTMENTS = "adjustments"  # officers' manual corrections
    SETTLED = "settled"  # credits the council has settled with shops (retired, paid for)


class EntryKind(StrEnum):
    """Why an entry was posted."""

    EARN = "earn"
    VOUCHER_ISSUE = "voucher_issue"
    REDEEM = "redeem"
    CANCEL = "cancel"
    EXPIRE = "expire"
    REVERSAL = "reversal"
    ADJUSTMENT = "adjustment"
    SETTLEMENT = "settlement"  # an approved settlement run moves a shop's credits to settled


@dataclass(frozen=True, slots=True)
class Leg:
    """One side of a requested entry: ``amount_credits`` added to ``account_id``'s balance.

    Positive adds credits to the account, negative takes them away. The legs of an entry sum
    to zero.
    """

    account_id: int
    amount_credits: int


@dataclass(frozen=True, slots=True)
class EntryRequest:
    """Everything needed to post one journal entry.

    ``idempotency_key`` is global to the ledger: a use case namespaces its caller's key
    (``"voucher:<member id>:<client key>"``) so two callers' keys never collide.
    ``occurred_at=None`` means "now"; it is then left out of the request fingerprint so that
    a retry a second later is still recognised as the same request.
    """

    kind: EntryKind
    legs: tuple[Leg, ...]
    memo: str
    actor: str
    idempotency_key: str
    occurred_at: datetime | None = None
    reverses_entry_id: int | None = None


@dataclass(frozen=True, slots=True)
class Posting:
    """A posted line of an entry."""

    account_id: int
    amount_credits: int


@dataclass(frozen=True, slots=True)
class PostedEntry:
    """A journal entry as recorded. ``replayed`` is True when an idempotent retry found it."""

    id: int
    kind: EntryKind
    memo: str
    actor: str
    occurred_at: datetime
    recorded_at: datetime
    idempotency_key: str
    reverses_entry_id: int | None
    postings: tuple[Posting, ...]
    hash: str
    replayed: bool = False

    def amount_for(self, account_id: int) -> int:
        """The net amount this entry posted to ``account_id`` (0 if it did not touch it)."""
        return sum(p.amount_credits for p in self.postings if p.account_id == account_id)
