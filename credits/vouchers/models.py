"""The voucher table (and the inactivity notices of the lapse policy).

A voucher's life is one row whose ``state`` moves once, from ``open`` to one final state::

    open ──cancel──▶ cancelled      value back to the member (entry kind ``cancel``)
      ├───expire───▶ expired        value back to the member (entry kind ``expire``)
      └───redeem───▶ redeemed       value to a shop, change to the member (``redeem``)

Every move out of ``open`` is a conditional ``UPDATE voucher SET state = … WHERE id = … AND
state = 'open'`` in the same transaction as its ledger entry: of two racing moves exactly one
changes the row (the other sees 0 rows and rolls back its entry), so a voucher is closed, and
its value leaves the vouchers-outstanding account, exactly once. The CHECK constraints repeat
the shape of a row in the database.

The code itself is not stored: it is derived from the row and the signing key named by
``kid`` (Ed25519 is deterministic), so a copy of the database holds no spendable voucher.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Integer, String, text
from sqlmodel import Field, SQLModel

from credits.db import UTCDateTime
from credits.ledger.models import BigId


class VoucherState(StrEnum):
    OPEN = "open"
    REDEEMED = "redeemed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class Voucher(SQLModel, table=True):
    __tablename__ = "voucher"

    #: The 128-bit voucher id of the code, as 32 lower-case hex characters.
    id: str = Field(sa_column=Column(String(32), primary_key=True))
    #: The member who holds it, and the ledger account its value came from and returns to.
    person_id: int = Field(sa_column=Column(BigId, ForeignKey("person.id"), nullable=False))
    account_id: int = Field(sa_column=Column(BigId, ForeignKey("account.id"), nullable=False))
    face_value: int = Field(sa_column=Column(Integer, nullable=False))
    scheme_id: int = Field(sa_column=Column(Integer, nullable=False))
    #: The key that signed its code (hex key id); changes only when that key is revoked.
    kid: str = Field(sa_column=Column(String(16), nullable=False))
    #: Crockford Base32 of the id's first 5 bytes, without the hyphen (for reading out).
    reference: str = Field(sa_column=Column(String(8), nullable=False))
    state: str = Field(sa_column=Column(String(12), nullable=False))
    issued_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    #: Whole seconds (the code carries seconds); valid while now < expires_at.
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    #: Who issued it: the member themself, or an officer on their behalf (Principal.actor).
    issued_by: str = Field(sa_column=Column(String(200), nullable=False))
    issue_entry_id: int = Field(
        sa_column=Column(BigId, ForeignKey("journal_entry.id"), nullable=False, unique=True)
    )
    #: When, by whom and by which entry it left ``open`` (all NULL while open).
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    closed_by: str | None = Field(default=None, sa_column=Column(String(200)))
    closed_entry_id: int | None = Field(
        default=None,
        sa_column=Column(
            BigId,
            # Deferred (migration 0012): on PostgreSQL redeem_voucher records the closing
            # entry on the voucher before the entry row is written, in one statement.
            ForeignKey("journal_entry.id", deferrable=True, initially="DEFERRED"),
            unique=True,
        ),
    )

    __table_args__ = (
        CheckConstraint(
            "state IN ('open', 'redeemed', 'cancelled', 'expired')", name="state_known"
        ),
        CheckConstraint("face_value BETWEEN 1 AND 1000000", name="face_value_range"),
        CheckConstraint("scheme_id BETWEEN 0 AND 65535", name="scheme_id_range"),
        CheckConstraint(
            "(state = 'open') = (closed_at IS NULL AND closed_by IS NULL)", name="closed_iff_final"
        ),
        CheckConstraint("state <> 'open' OR closed_entry_id IS NULL", name="open_has_no_close"),
        CheckConstraint("expires_at > issued_at", name="expires_after_issue"),
        # The member's list, newest first; the expiry sweep; the keys' validity; read-outs.
        Index("ix_voucher_person_id_issued_at", "person_id", "issued_at"),
        Index("ix_voucher_state_expires_at", "state", "expires_at"),
        Index("ix_voucher_kid_expires_at", "kid", "expires_at"),
        Index("ix_voucher_reference", "reference"),
        # The terminals' spent list, incrementally: vouchers closed since a time, in
        # (closed_at, id) order (migration 0018; docs/api-terminal.md).
        Index(
            "ix_voucher_spent_closed_at",
            "closed_at",
            "id",
            sqlite_where=text("state IN ('redeemed', 'cancelled')"),
            postgresql_where=text("state IN ('redeemed', 'cancelled')"),
        ),
    )


class InactivityNotice(SQLModel, table=True):
    """A member told (on their pages) that their balance will lapse for inactivity.

    Written by the daily lapse run when a member enters the warning window; the lapse
    happens only on or after ``lapse_at``, which is never less than 30 days after
    ``noticed_at`` — so switching the policy on never lapses anyone without warning. Any
    activity after ``last_activity_at`` voids it (credits.vouchers.inactivity defines
    activity).
    """

    __tablename__ = "inactivity_notice"

    person_id: int = Field(
        sa_column=Column(BigId, ForeignKey("person.id"), primary_key=True, autoincrement=False)
    )
    last_activity_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    noticed_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    lapse_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
