"""Tables of redemptions, offline exceptions and the terminals' own journals."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, Column, ForeignKey, Index, Integer, String
from sqlmodel import Field, SQLModel

from credits.db import UTCDateTime
from credits.ledger.models import BigId


class Redemption(SQLModel, table=True):
    """A voucher taken at a shop: one per voucher, ever (``voucher_id`` is unique)."""

    __tablename__ = "redemption"

    #: 128 random bits, lower-case hex.
    id: str = Field(sa_column=Column(String(32), primary_key=True))
    voucher_id: str = Field(
        sa_column=Column(String(32), ForeignKey("voucher.id"), nullable=False, unique=True)
    )
    shop_id: int = Field(sa_column=Column(BigId, ForeignKey("shop.id"), nullable=False))
    terminal_id: int = Field(sa_column=Column(BigId, ForeignKey("terminal.id"), nullable=False))
    face_value: int = Field(sa_column=Column(Integer, nullable=False))
    #: Credits the shop took (and is owed), and the change that went back to the member.
    amount: int = Field(sa_column=Column(Integer, nullable=False))
    change: int = Field(sa_column=Column(Integer, nullable=False))
    redeemed_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    #: When the shop accepted it while offline (None: redeemed online).
    offline_accepted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    #: The redeem entry (vouchers outstanding −face, shop +amount, member +change).
    entry_id: int = Field(
        sa_column=Column(BigId, ForeignKey("journal_entry.id"), nullable=False, unique=True)
    )
    #: ``redemption:<terminal id>:<client key>``: a terminal's retry finds its first answer.
    idempotency_key: str = Field(sa_column=Column(String(300), nullable=False, unique=True))
    request_hash: str = Field(sa_column=Column(String(64), nullable=False))
    actor: str = Field(sa_column=Column(String(200), nullable=False))
    #: Set when an officer reverses it (the shop gives back what it took; the member gets
    #: the voucher's value back): the mirror entry and the entry returning the value.
    reversed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    reversed_by: str | None = Field(default=None, sa_column=Column(String(200)))
    reversal_reason: str | None = Field(default=None, sa_column=Column(String(500)))
    reversal_entry_id: int | None = Field(
        default=None, sa_column=Column(BigId, ForeignKey("journal_entry.id"), unique=True)
    )
    return_entry_id: int | None = Field(
        default=None, sa_column=Column(BigId, ForeignKey("journal_entry.id"), unique=True)
    )

    __table_args__ = (
        CheckConstraint("amount >= 1 AND change >= 0", name="amounts_positive"),
        CheckConstraint("amount + change = face_value", name="amount_plus_change_is_face"),
        CheckConstraint(
            "(reversed_at IS NULL) = (reversal_entry_id IS NULL)", name="reversal_complete"
        ),
        Index("ix_redemption_shop_id_redeemed_at", "shop_id", "redeemed_at"),
        Index("ix_redemption_terminal_id_redeemed_at", "terminal_id", "redeemed_at"),
        # The officers' exceptions queue lists the latest reversals (migration 0014).
        Index("ix_redemption_reversed_at", "reversed_at"),
    )


class RedemptionException(SQLModel, table=True):
    """A voucher a shop accepted offline that turned out to be spent or cancelled already.

    The shop is paid what it accepted (within its offline limits) from the scheme's
    adjustments account; the member is flagged for officers to follow up.
    """

    __tablename__ = "redemption_exception"

    id: str = Field(sa_column=Column(String(32), primary_key=True))
    voucher_id: str = Field(
        sa_column=Column(String(32), ForeignKey("voucher.id"), nullable=False, index=True)
    )
    shop_id: int = Field(sa_column=Column(BigId, ForeignKey("shop.id"), nullable=False))
    terminal_id: int = Field(sa_column=Column(BigId, ForeignKey("terminal.id"), nullable=False))
    #: The member who held the voucher (flagged).
    person_id: int = Field(sa_column=Column(BigId, ForeignKey("person.id"), nullable=False))
    amount: int = Field(sa_column=Column(Integer, nullable=False))
    #: ``already_redeemed`` or ``voucher_cancelled``.
    reason: str = Field(sa_column=Column(String(30), nullable=False))
    detail: str = Field(sa_column=Column(String(500), nullable=False))
    offline_accepted_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    submitted_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    #: The entry paying the shop: adjustments −amount, shop +amount.
    entry_id: int = Field(
        sa_column=Column(BigId, ForeignKey("journal_entry.id"), nullable=False, unique=True)
    )
    idempotency_key: str = Field(sa_column=Column(String(300), nullable=False, unique=True))
    request_hash: str = Field(sa_column=Column(String(64), nullable=False))
    #: Officers' follow-up: open until resolved, with who, when and how.
    resolved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    resolved_by: str | None = Field(default=None, sa_column=Column(String(200)))
    resolution: str | None = Field(default=None, sa_column=Column(String(500)))

    __table_args__ = (
        CheckConstraint("amount >= 1", name="amount_positive"),
        CheckConstraint("reason IN ('already_redeemed', 'voucher_cancelled')", name="reason_known"),
        Index("ix_redemption_exception_person_id", "person_id"),
        # The officers' exceptions queue lists the latest first (migration 0014).
        Index("ix_redemption_exception_submitted_at", "submitted_at"),
    )


class TerminalJournalEntry(SQLModel, table=True):
    """What a terminal says it recorded for one scan (the latest report wins)."""

    __tablename__ = "terminal_journal_entry"

    terminal_id: int = Field(
        sa_column=Column(BigId, ForeignKey("terminal.id"), primary_key=True, autoincrement=False)
    )
    scan_id: str = Field(sa_column=Column(String(100), primary_key=True))
    shop_id: int = Field(sa_column=Column(BigId, ForeignKey("shop.id"), nullable=False))
    voucher_id: str = Field(sa_column=Column(String(32), nullable=False))
    amount: int = Field(sa_column=Column(Integer, nullable=False))
    outcome: str = Field(sa_column=Column(String(20), nullable=False))
    reason: str | None = Field(default=None, sa_column=Column(String(60)))
    redemption_id: str | None = Field(default=None, sa_column=Column(String(32)))
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    offline_accepted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    received_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    #: Anything else the terminal sent that this ledger does not know (kept, not read).
    extra: dict[str, object] | None = Field(default=None, sa_column=Column(JSON))

    __table_args__ = (
        CheckConstraint(
            "outcome IN ('redeemed', 'exception', 'refused', 'queued')", name="outcome_known"
        ),
        Index("ix_terminal_journal_entry_shop_id_at", "shop_id", "at"),
        Index("ix_terminal_journal_entry_redemption_id", "redemption_id"),
    )
