"""Tables of the statements capability.

- ``reimbursement_rate``: what the council pays a shop per credit (integer pence), from a
  month onwards. A month's rate is the row with the latest ``effective_from`` not after it,
  so setting a new rate from a later month never changes an earlier month's statement.
- ``month_close``: the record of each month close: who, when, every check's result and the
  SHA-256 of the scheme statement's JSON bytes at the moment of closing, and the month's
  scheme figures the dashboard reads instead of the month's postings (``issued``,
  ``redeemed``, ``liability`` at the month's end; null for closes recorded before snapshots
  existed, which therefore have no snapshot).
- ``month_balance``: each account's balance at the end of a closed month (the snapshot
  taken by the close). Rows are written once, in the closing transaction; on PostgreSQL a
  trigger refuses UPDATE, DELETE and TRUNCATE, and `credits verify` checks every snapshot
  against the postings. Accounts whose balance is 0 at the month's end have no row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Column, ForeignKey, Integer, String, Table
from sqlmodel import Field, SQLModel

from credits.db import UTCDateTime
from credits.ledger.models import BigId


class ReimbursementRate(SQLModel, table=True):
    __tablename__ = "reimbursement_rate"

    #: ``YYYY-MM``: the first London month this rate applies to.
    effective_from: str = Field(sa_column=Column(String(7), primary_key=True))
    pence_per_credit: int = Field(sa_column=Column(Integer, nullable=False))
    set_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    set_by: str = Field(sa_column=Column(String(200), nullable=False))

    __table_args__ = (CheckConstraint("pence_per_credit BETWEEN 0 AND 100000", name="pence"),)


class MonthClose(SQLModel, table=True):
    __tablename__ = "month_close"

    month: str = Field(sa_column=Column(String(7), primary_key=True))
    closed_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    closed_by: str = Field(sa_column=Column(String(200), nullable=False))
    #: ``[{"name", "ok", "checked", "problem_count", "problems"}...]`` as run before closing.
    checks: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    #: SHA-256 (hex) of the scheme statement's canonical JSON bytes for the month.
    statement_sha256: str = Field(sa_column=Column(String(64), nullable=False))
    #: Credits issued (earn entries) in the month; null: closed before snapshots existed.
    issued: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    #: Credits paid into shop accounts by redeem entries in the month.
    redeemed: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    #: Members' balances plus vouchers outstanding at the month's end.
    liability: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class MonthBalance(SQLModel, table=True):
    __tablename__ = "month_balance"

    month: str = Field(sa_column=Column(String(7), primary_key=True))
    account_id: int = Field(
        sa_column=Column(BigId, ForeignKey("account.id"), primary_key=True, autoincrement=False)
    )
    balance: int = Field(sa_column=Column(BigInteger, nullable=False))


T_RATE: Table = ReimbursementRate.__table__  # type: ignore[attr-defined]
T_MONTH_CLOSE: Table = MonthClose.__table__  # type: ignore[attr-defined]
T_MONTH_BALANCE: Table = MonthBalance.__table__  # type: ignore[attr-defined]
