"""Tables of redemptions, offline claims (exceptions), online refusals and the terminals' own
journals."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, CheckConstraint, Column, ForeignKey, Index, Integer, String, text
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


class ClaimStatus(StrEnum):
    """What became of an offline claim on a voucher that was no longer open
    (docs/redemption.md, "The bounding rule")."""

    #: The scheme paid the shop (adjustments -> shop), automatically or by an officer.
    PAID = "paid"
    #: Above the terminal's monthly exception ceiling: recorded, nothing paid, an officer
    #: decides (pay or decline).
    HELD = "held"
    #: Refused (409): the shop could have known, or the voucher already has an exception.
    REFUSED = "refused"
    #: A held claim an officer declined, with a reason.
    DECLINED = "declined"
    #: Paid before migration 0018 for a voucher that already had a paid exception (the
    #: defect of issue 12): kept as it was posted, for officers to recover from the shop.
    OVERPAID = "overpaid"


#: Claim statuses that pay, or may yet pay: at most one per voucher (unique partial index).
PAYING_STATUSES = (ClaimStatus.PAID.value, ClaimStatus.HELD.value)
_PAYING_SQL = "status IN ('paid', 'held')"


class ClaimRule(StrEnum):
    """Which part of the bounding rule refused (or held) an offline claim."""

    #: This shop (any of its terminals) redeemed the voucher itself.
    SAME_SHOP = "same_shop"
    #: The voucher already has an exception that pays or may pay.
    ALREADY_CLAIMED = "already_claimed"
    #: The terminal's last spent-list fetch came after the voucher was closed.
    ON_SPENT_LIST = "on_spent_list"
    #: The terminal had no spent list fresh enough (24 h) when it accepted the voucher.
    NO_FRESH_LIST = "no_fresh_list"
    #: The ledger had told this shop, online, that the voucher was closed.
    TOLD_ONLINE = "told_online"
    #: Above the terminal's monthly exception ceiling (held, not refused).
    MONTHLY_CEILING = "monthly_ceiling"


class RedemptionException(SQLModel, table=True):
    """An offline claim on a voucher that was no longer open when the claim arrived: a shop
    accepted it while offline, and meanwhile it had been redeemed elsewhere or cancelled.

    Every such claim is recorded, whatever became of it (``status``): ``paid`` (the scheme
    paid the shop what it accepted, within its floor limit, from the adjustments account —
    an *exception*), ``held`` for an officer, ``refused`` (409; ``rule`` says why),
    ``declined`` by an officer. At most one claim per voucher pays or may pay (``paid`` or
    ``held``): the unique partial index ``uq_redemption_exception_voucher_id_paying`` enforces
    it in the database. A claim keeps its terminal's idempotency key: the same key and body
    replay its first answer. The member is named for officers to follow up.
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
    #: Credits the shop accepted (paid, if the claim is paid).
    amount: int = Field(sa_column=Column(Integer, nullable=False))
    #: What had happened to the voucher: ``already_redeemed`` or ``voucher_cancelled``.
    reason: str = Field(sa_column=Column(String(30), nullable=False))
    detail: str = Field(sa_column=Column(String(500), nullable=False))
    #: A :class:`ClaimStatus`.
    status: str = Field(sa_column=Column(String(10), nullable=False))
    #: A :class:`ClaimRule`: why it was refused or held (None when paid at once).
    rule: str | None = Field(default=None, sa_column=Column(String(30)))
    offline_accepted_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    submitted_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    #: The entry paying the shop (adjustments −amount, shop +amount) and when it was posted;
    #: both None until the claim is paid.
    entry_id: int | None = Field(
        default=None, sa_column=Column(BigId, ForeignKey("journal_entry.id"), unique=True)
    )
    paid_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    #: An officer's decision on a held claim (pay or decline), with who, when and why.
    decided_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    decided_by: str | None = Field(default=None, sa_column=Column(String(200)))
    decision_reason: str | None = Field(default=None, sa_column=Column(String(500)))
    idempotency_key: str = Field(sa_column=Column(String(300), nullable=False, unique=True))
    request_hash: str = Field(sa_column=Column(String(64), nullable=False))
    #: Officers' follow-up: open until resolved, with who, when and how.
    resolved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    resolved_by: str | None = Field(default=None, sa_column=Column(String(200)))
    resolution: str | None = Field(default=None, sa_column=Column(String(500)))

    __table_args__ = (
        CheckConstraint("amount >= 1", name="amount_positive"),
        CheckConstraint("reason IN ('already_redeemed', 'voucher_cancelled')", name="reason_known"),
        CheckConstraint(
            "status IN ('paid', 'held', 'refused', 'declined', 'overpaid')", name="status_known"
        ),
        CheckConstraint(
            "(status IN ('paid', 'overpaid')) = (entry_id IS NOT NULL)", name="paid_has_entry"
        ),
        CheckConstraint("(entry_id IS NULL) = (paid_at IS NULL)", name="paid_at_with_entry"),
        CheckConstraint("status <> 'refused' OR rule IS NOT NULL", name="refusal_has_rule"),
        CheckConstraint(
            "(status = 'declined') <= (decided_at IS NOT NULL)", name="declined_is_decided"
        ),
        Index("ix_redemption_exception_person_id", "person_id"),
        # The officers' exceptions queue lists the latest first (migration 0014).
        Index("ix_redemption_exception_submitted_at", "submitted_at"),
        # At most one claim per voucher pays or may pay (migration 0018).
        Index(
            "uq_redemption_exception_voucher_id_paying",
            "voucher_id",
            unique=True,
            sqlite_where=text(_PAYING_SQL),
            postgresql_where=text(_PAYING_SQL),
        ),
        # A terminal's exceptions paid this month (its monthly ceiling; migration 0018).
        Index("ix_redemption_exception_terminal_id_paid_at", "terminal_id", "paid_at"),
    )


class RedemptionRefusal(SQLModel, table=True):
    """The ledger told a shop, online, that a voucher was closed (redeemed elsewhere,
    cancelled, or expired and returned): the first such refusal per shop and voucher.

    Written by both redemption paths (the use case and ``redeem_voucher`` on PostgreSQL) in
    the transaction that answers the refusal. An offline claim of that voucher from that
    shop afterwards is refused: the shop had been told (docs/redemption.md, rule 4).
    """

    __tablename__ = "redemption_refusal"

    voucher_id: str = Field(
        sa_column=Column(String(32), ForeignKey("voucher.id"), primary_key=True)
    )
    shop_id: int = Field(
        sa_column=Column(BigId, ForeignKey("shop.id"), primary_key=True, autoincrement=False)
    )
    terminal_id: int = Field(sa_column=Column(BigId, ForeignKey("terminal.id"), nullable=False))
    code: str = Field(sa_column=Column(String(30), nullable=False))
    refused_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))

    __table_args__ = (
        CheckConstraint(
            "code IN ('already_redeemed', 'voucher_cancelled', 'expired')", name="code_known"
        ),
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
