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
- ``close_run``: a close (or a run of the checks alone) an officer started from the pages,
  which runs in the background (credits.statements.close_runs): who asked and when, how far
  it got, and how it ended. ``active`` is 1 while a run is going and NULL afterwards; being
  unique, it lets one run go at a time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)
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


class CloseRun(SQLModel, table=True):
    __tablename__ = "close_run"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    month: str = Field(sa_column=Column(String(7), nullable=False))
    #: ``check`` (run the checks and report) or ``close`` (the checks, then the close).
    purpose: str = Field(sa_column=Column(String(5), nullable=False))
    requested_by: str = Field(sa_column=Column(String(200), nullable=False))
    requested_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    #: Written every few seconds while the run is alive; a run whose heartbeat stops (its
    #: process ended) is marked ``abandoned`` when the next run starts or the page is read.
    heartbeat_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    #: ``host:pid`` of the process running it: on its own host a run is alive while that
    #: process is (a SQLite close holds the write lock, so its heartbeat cannot be written).
    worker: str = Field(sa_column=Column(String(120), nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    #: running, then passed/failed (check) or closed/refused/error (close), or abandoned.
    status: str = Field(sa_column=Column(String(10), nullable=False))
    #: 1 while running, NULL afterwards (unique: one run at a time).
    active: int | None = Field(default=None, sa_column=Column(Integer, unique=True))
    #: ``{"total": N, "done": [check names], "phase": "checks" | "closing"}``.
    progress: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    #: Every check's result (as :meth:`credits.ledger.CheckResult.as_dict`), once known.
    checks: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON))
    #: Why a close ended without closing and without failed checks: the problem's code...
    error_code: str | None = Field(default=None, sa_column=Column(String(40)))
    #: ...and what the officer is told.
    error: str | None = Field(default=None, sa_column=Column(Text))

    __table_args__ = (
        CheckConstraint("purpose IN ('check', 'close')", name="purpose"),
        CheckConstraint(
            "status IN ('running', 'passed', 'failed', 'closed', 'refused', 'error', 'abandoned')",
            name="status",
        ),
        CheckConstraint("active = 1", name="active"),
        Index("ix_close_run_month", "month", "id"),
    )


T_RATE: Table = ReimbursementRate.__table__  # type: ignore[attr-defined]
T_MONTH_CLOSE: Table = MonthClose.__table__  # type: ignore[attr-defined]
T_MONTH_BALANCE: Table = MonthBalance.__table__  # type: ignore[attr-defined]
T_CLOSE_RUN: Table = CloseRun.__table__  # type: ignore[attr-defined]
