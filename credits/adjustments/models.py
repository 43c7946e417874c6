"""The one table of manual adjustments: an officer's request to credit or debit a member.

A row is written when an officer asks for an adjustment. At or below the four-eyes threshold
it is posted at once (state ``posted``, no second officer); above it, it waits
(``pending``) until another officer approves (``posted``) or rejects (``rejected``) it. The
database repeats the rules that matter: the amount is positive and bounded, a posted row
names its ledger entry and a row without one is not posted, and the officer who decides is
never the officer who asked.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
)
from sqlmodel import Field, SQLModel

from credits.db import UTCDateTime
from credits.ledger.models import BigId

CREDIT, DEBIT = "credit", "debit"
PENDING, POSTED, REJECTED = "pending", "posted", "rejected"


class Adjustment(SQLModel, table=True):
    __tablename__ = "adjustment"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    #: The member whose account changes, and that account.
    person_id: int = Field(sa_column=Column(BigId, ForeignKey("person.id"), nullable=False))
    account_id: int = Field(sa_column=Column(BigId, ForeignKey("account.id"), nullable=False))
    #: ``credit`` (credits to the member) or ``debit`` (credits taken back).
    direction: str = Field(sa_column=Column(String(10), nullable=False))
    amount: int = Field(sa_column=Column(Integer, nullable=False))
    #: Why: shown to the member in their history and to officers everywhere.
    reason: str = Field(sa_column=Column(String(500), nullable=False))
    #: The London date the adjustment is dated on (None: when it is posted).
    occurred_on: date | None = Field(default=None, sa_column=Column(Date))
    state: str = Field(sa_column=Column(String(10), nullable=False))
    #: Above the threshold when asked: a second officer must approve.
    needs_approval: bool = Field(sa_column=Column(Boolean, nullable=False))
    #: ``adjustment:<requesting officer's person id>:<client key>``.
    idempotency_key: str = Field(sa_column=Column(String(300), nullable=False, unique=True))
    request_hash: str = Field(sa_column=Column(String(64), nullable=False))
    requested_by_person_id: int = Field(
        sa_column=Column(BigId, ForeignKey("person.id"), nullable=False)
    )
    requested_by: str = Field(sa_column=Column(String(200), nullable=False))
    requested_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    #: The second officer's decision (approve or reject), with why for a rejection.
    decided_by_person_id: int | None = Field(
        default=None, sa_column=Column(BigId, ForeignKey("person.id"))
    )
    decided_by: str | None = Field(default=None, sa_column=Column(String(200)))
    decided_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    decision_reason: str | None = Field(default=None, sa_column=Column(String(500)))
    entry_id: int | None = Field(
        default=None, sa_column=Column(BigId, ForeignKey("journal_entry.id"), unique=True)
    )
    posted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))

    __table_args__ = (
        CheckConstraint("amount BETWEEN 1 AND 10000", name="amount_range"),
        CheckConstraint("direction IN ('credit', 'debit')", name="direction_known"),
        CheckConstraint("state IN ('pending', 'posted', 'rejected')", name="state_known"),
        CheckConstraint("(state = 'posted') = (entry_id IS NOT NULL)", name="posted_has_entry"),
        CheckConstraint(
            "decided_by_person_id IS NULL OR decided_by_person_id <> requested_by_person_id",
            name="four_eyes",
        ),
        CheckConstraint(
            "NOT needs_approval OR state <> 'posted' OR decided_by_person_id IS NOT NULL",
            name="posted_four_eyes",
        ),
        Index("ix_adjustment_state_requested_at", "state", "requested_at"),
        Index("ix_adjustment_person_id", "person_id"),
        Index("ix_adjustment_requested_at", "requested_at"),
    )


T_ADJUSTMENT: Table = Adjustment.__table__  # type: ignore[attr-defined]
