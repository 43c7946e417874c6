"""The ledger's tables.

- ``account``: what can hold credits. ``allow_negative`` is False for members (their floor is
  zero) and True for the scheme's own accounts. ``slots`` is how many balance rows it has.
- ``account_balance``: the stored balance, one row per (account, slot). An account's balance
  is the sum of its slot rows. Floored accounts have exactly one slot, so their floor is
  checked on one row with a conditional UPDATE; accounts without a floor (issuance, shops,
  vouchers outstanding) are the hot rows under load and have several slots, so concurrent
  entries rarely wait for the same row lock. The CHECK repeats the floor in the database.
- ``journal_entry`` and ``posting``: append-only. Each entry's postings sum to zero.
  ``idempotency_key`` is unique; ``reverses_entry_id`` is unique (an entry is reversed at
  most once). ``lane``/``lane_seq``/``prev_hash``/``hash`` place the entry on a hash chain.
- ``chain_lane``: the head of each hash-chain lane. Entries are spread over a few lanes for
  the same reason balances have slots: one global chain head would serialise every writer.
- ``closed_period``: Europe/London months that are closed to new entries.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from credits.db import UTCDateTime

# SQLite only makes INTEGER PRIMARY KEY an alias of the rowid (autoincrementing); PostgreSQL
# wants BIGINT for a journal that grows by a million rows a month.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Account(SQLModel, table=True):
    __tablename__ = "account"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    code: str = Field(sa_column=Column(String(120), nullable=False, unique=True))
    type: str = Field(sa_column=Column(String(30), nullable=False, index=True))
    owner_ref: str | None = Field(default=None, sa_column=Column(String(120), index=True))
    name: str = Field(sa_column=Column(String(200), nullable=False))
    allow_negative: bool = Field(sa_column=Column(Boolean, nullable=False))
    slots: int = Field(sa_column=Column(SmallInteger, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))

    __table_args__ = (
        CheckConstraint("slots BETWEEN 1 AND 64", name="slots_range"),
        CheckConstraint("allow_negative OR slots = 1", name="floored_single_slot"),
    )


class AccountBalance(SQLModel, table=True):
    __tablename__ = "account_balance"

    account_id: int = Field(
        sa_column=Column(BigId, ForeignKey("account.id"), primary_key=True, autoincrement=False)
    )
    slot: int = Field(sa_column=Column(SmallInteger, primary_key=True, autoincrement=False))
    balance: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    allow_negative: bool = Field(sa_column=Column(Boolean, nullable=False))

    __table_args__ = (CheckConstraint("allow_negative OR balance >= 0", name="floor"),)


class JournalEntry(SQLModel, table=True):
    __tablename__ = "journal_entry"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    kind: str = Field(sa_column=Column(String(20), nullable=False))
    memo: str = Field(sa_column=Column(String(500), nullable=False))
    actor: str = Field(sa_column=Column(String(200), nullable=False))
    occurred_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    idempotency_key: str = Field(sa_column=Column(String(300), nullable=False, unique=True))
    request_hash: str = Field(sa_column=Column(String(64), nullable=False))
    reverses_entry_id: int | None = Field(
        default=None,
        sa_column=Column(BigId, ForeignKey("journal_entry.id"), unique=True),
    )
    lane: int = Field(sa_column=Column(SmallInteger, nullable=False))
    lane_seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    content_hash: str = Field(sa_column=Column(String(64), nullable=False))
    prev_hash: str = Field(sa_column=Column(String(64), nullable=False))
    hash: str = Field(sa_column=Column(String(64), nullable=False))

    __table_args__ = (
        UniqueConstraint("lane", "lane_seq"),
        Index("ix_journal_entry_occurred_at", "occurred_at"),
    )


class PostingRow(SQLModel, table=True):
    __tablename__ = "posting"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    entry_id: int = Field(sa_column=Column(BigId, ForeignKey("journal_entry.id"), nullable=False))
    account_id: int = Field(sa_column=Column(BigId, ForeignKey("account.id"), nullable=False))
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))

    __table_args__ = (
        CheckConstraint("amount <> 0", name="nonzero"),
        # One posting per account per entry; also the index for "this entry's postings".
        UniqueConstraint("entry_id", "account_id"),
        Index("ix_posting_account_id_entry_id", "account_id", "entry_id"),
    )


class ChainLane(SQLModel, table=True):
    __tablename__ = "chain_lane"

    lane: int = Field(sa_column=Column(SmallInteger, primary_key=True, autoincrement=False))
    seq: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    head_hash: str = Field(sa_column=Column(String(64), nullable=False))


class ClosedPeriod(SQLModel, table=True):
    __tablename__ = "closed_period"

    month: str = Field(sa_column=Column(String(7), primary_key=True))
    starts_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    ends_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    closed_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    closed_by: str = Field(sa_column=Column(String(200), nullable=False))


# Typed Core handles for queries in the ledger (``T_ACCOUNT.c.code == code``): SQLModel's
# class attributes look like plain str/int to a type checker.
T_ACCOUNT: Table = Account.__table__  # type: ignore[attr-defined]
T_BALANCE: Table = AccountBalance.__table__  # type: ignore[attr-defined]
T_ENTRY: Table = JournalEntry.__table__  # type: ignore[attr-defined]
T_POSTING: Table = PostingRow.__table__  # type: ignore[attr-defined]
T_LANE: Table = ChainLane.__table__  # type: ignore[attr-defined]
T_CLOSED: Table = ClosedPeriod.__table__  # type: ignore[attr-defined]
