"""Tables of settlement: shops' payees, settlement runs and their lines, and the bank's
statements matched against them.

- ``payee``: a shop's bank details, one row per version. A row is written ``pending`` by an
  officer and becomes ``active`` only when a *different* officer approves it (the old active
  row becomes ``superseded`` in the same transaction), or ``rejected``. Rows are never
  edited otherwise, so the history of who set which account, and who approved it, stays.
  ``active_shop`` / ``pending_shop`` hold the shop's id while the row is active / pending
  and NULL otherwise; being unique, they allow one active and one pending version per shop.
- ``settlement_run``: paying the shops for a closed month. ``pending`` when an officer
  starts it (its lines computed), ``approved`` when an officer (a second one above the
  four-eyes threshold) approves it — the settlement entries are posted then — ``paid`` once
  the bank statement shows every payment, or ``cancelled`` before approval. ``live_month``
  (the month while the run is not cancelled) and ``pending_slot`` (1 while pending) are
  unique: one live run per month, one run waiting for approval at a time.
- ``settlement_line``: one shop in a run: the credits settled, the amount in pence and how it
  was worked out (``breakdown``: credits and rate per month the credits were taken in), the
  payee version it is paid to, its payment reference, and — once approved — its ledger entry;
  ``rolled_over`` lines (below the minimum payment) are recorded too, and carry no entry.
  ``paid_pence`` is what the bank has shown paid against the reference so far, and
  ``paid_on`` the booking day of the payment that completed it.
- ``bank_import``: a bank statement file imported (camt.053 or CSV): who, when, its SHA-256
  (a file is imported once), and the counts of each outcome.
- ``bank_line``: each transaction of an imported file, with its outcome: ``matched``,
  ``amount_differs``, ``unexpected``, ``ignored`` (money in that carries no settlement
  reference). ``fingerprint`` is unique: a transaction in two overlapping statements is
  counted once.
- ``bank_mismatch``: what an officer must look at (the exceptions queue): a payment
  ``missing`` at the bank, an ``unexpected`` one, or one whose ``amount_differs``; resolved
  with who, when and why.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from credits.db import UTCDateTime
from credits.ledger.models import BigId

# payee.status
PENDING, ACTIVE, SUPERSEDED, REJECTED = "pending", "active", "superseded", "rejected"
# settlement_run.state (PENDING too)
APPROVED, PAID, CANCELLED = "approved", "paid", "cancelled"
# settlement_line.status
PAYABLE, ROLLED_OVER = "payable", "rolled_over"
# bank_line.outcome
MATCHED, AMOUNT_DIFFERS, UNEXPECTED, IGNORED = "matched", "amount_differs", "unexpected", "ignored"
# bank_mismatch.kind (AMOUNT_DIFFERS and UNEXPECTED too)
MISSING = "missing"


class Payee(SQLModel, table=True):
    __tablename__ = "payee"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    shop_id: int = Field(sa_column=Column(BigId, ForeignKey("shop.id"), nullable=False))
    #: The account holder's legal name, as the bank knows it.
    legal_name: str = Field(sa_column=Column(String(140), nullable=False))
    #: UK sort code (6 digits) and account number (8 digits), or an IBAN.
    sort_code: str | None = Field(default=None, sa_column=Column(String(6)))
    account_number: str | None = Field(default=None, sa_column=Column(String(8)))
    iban: str | None = Field(default=None, sa_column=Column(String(34)))
    status: str = Field(sa_column=Column(String(10), nullable=False))
    active_shop: int | None = Field(default=None, sa_column=Column(BigInteger, unique=True))
    pending_shop: int | None = Field(default=None, sa_column=Column(BigInteger, unique=True))
    #: Why the details are being set or changed (the shop's letter, a new bank...).
    reason: str = Field(sa_column=Column(String(500), nullable=False))
    requested_by_person_id: int = Field(
        sa_column=Column(BigId, ForeignKey("person.id"), nullable=False)
    )
    requested_by: str = Field(sa_column=Column(String(200), nullable=False))
    requested_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    decided_by_person_id: int | None = Field(
        default=None, sa_column=Column(BigId, ForeignKey("person.id"))
    )
    decided_by: str | None = Field(default=None, sa_column=Column(String(200)))
    decided_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    decision_reason: str | None = Field(default=None, sa_column=Column(String(500)))

    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'active', 'superseded', 'rejected')", name="status_known"
        ),
        CheckConstraint(
            "(sort_code IS NOT NULL AND account_number IS NOT NULL AND iban IS NULL) OR "
            "(sort_code IS NULL AND account_number IS NULL AND iban IS NOT NULL)",
            name="one_kind_of_account",
        ),
        CheckConstraint(
            "decided_by_person_id IS NULL OR decided_by_person_id <> requested_by_person_id",
            name="four_eyes",
        ),
        CheckConstraint(
            "status IN ('pending', 'rejected') OR decided_by_person_id IS NOT NULL",
            name="approved_by_someone",
        ),
        CheckConstraint(
            "(active_shop IS NULL) = (status <> 'active') AND "
            "(pending_shop IS NULL) = (status <> 'pending')",
            name="slots_follow_status",
        ),
        Index("ix_payee_shop_id", "shop_id", "id"),
    )


class SettlementRun(SQLModel, table=True):
    __tablename__ = "settlement_run"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    #: The closed London month whose credits (and any rolled over before) it settles.
    month: str = Field(sa_column=Column(String(7), nullable=False))
    #: ``CCS-YYYY-MM-<id>``: the run's reference on the payments file.
    reference: str = Field(sa_column=Column(String(35), nullable=False, unique=True))
    state: str = Field(sa_column=Column(String(10), nullable=False))
    live_month: str | None = Field(default=None, sa_column=Column(String(7), unique=True))
    pending_slot: int | None = Field(default=None, sa_column=Column(Integer, unique=True))
    #: The policy in force when it was computed.
    minimum_pence: int = Field(sa_column=Column(BigInteger, nullable=False))
    four_eyes_pence: int = Field(sa_column=Column(BigInteger, nullable=False))
    needs_second_approver: bool = Field(sa_column=Column(Boolean, nullable=False))
    total_credits: int = Field(sa_column=Column(BigInteger, nullable=False))
    total_pence: int = Field(sa_column=Column(BigInteger, nullable=False))
    payments: int = Field(sa_column=Column(Integer, nullable=False))
    #: ``settlement:<officer's person id>:<client key>``.
    idempotency_key: str = Field(sa_column=Column(String(300), nullable=False, unique=True))
    created_by_person_id: int = Field(
        sa_column=Column(BigId, ForeignKey("person.id"), nullable=False)
    )
    created_by: str = Field(sa_column=Column(String(200), nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    approved_by_person_id: int | None = Field(
        default=None, sa_column=Column(BigId, ForeignKey("person.id"))
    )
    approved_by: str | None = Field(default=None, sa_column=Column(String(200)))
    approved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    #: When the settlement entries are dated (approval time, or the day the officer gave).
    settled_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    #: The day the bank is asked to pay (the payments file's requested execution date).
    execution_date: date | None = Field(default=None, sa_column=Column(Date))
    paid_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    cancelled_by: str | None = Field(default=None, sa_column=Column(String(200)))
    cancelled_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    cancel_reason: str | None = Field(default=None, sa_column=Column(String(500)))

    __table_args__ = (
        CheckConstraint(
            "state IN ('pending', 'approved', 'paid', 'cancelled')", name="state_known"
        ),
        CheckConstraint("(live_month IS NULL) = (state = 'cancelled')", name="live_month"),
        CheckConstraint(
            "(pending_slot IS NULL) = (state <> 'pending') AND "
            "(pending_slot IS NULL OR pending_slot = 1)",
            name="pending_slot",
        ),
        CheckConstraint(
            "state NOT IN ('approved', 'paid') OR "
            "(approved_by_person_id IS NOT NULL AND settled_at IS NOT NULL)",
            name="approved_by_someone",
        ),
        CheckConstraint(
            "NOT needs_second_approver OR approved_by_person_id IS NULL "
            "OR approved_by_person_id <> created_by_person_id",
            name="four_eyes",
        ),
        CheckConstraint("total_pence >= 0 AND total_credits >= 0", name="totals"),
        Index("ix_settlement_run_month", "month", "id"),
    )


class SettlementLine(SQLModel, table=True):
    __tablename__ = "settlement_line"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    run_id: int = Field(sa_column=Column(BigId, ForeignKey("settlement_run.id"), nullable=False))
    shop_id: int = Field(sa_column=Column(BigId, ForeignKey("shop.id"), nullable=False))
    status: str = Field(sa_column=Column(String(12), nullable=False))
    credits: int = Field(sa_column=Column(BigInteger, nullable=False))
    amount_pence: int = Field(sa_column=Column(BigInteger, nullable=False))
    #: ``[{"month": "2026-09", "credits": 12, "rate": 40, "pence": 480}, ...]``, oldest first.
    breakdown: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    payee_id: int | None = Field(default=None, sa_column=Column(BigId, ForeignKey("payee.id")))
    #: ``CC<YYYYMM>R<run>S<shop>``: what the bank shows against the payment.
    reference: str | None = Field(default=None, sa_column=Column(String(35), unique=True))
    entry_id: int | None = Field(
        default=None, sa_column=Column(BigId, ForeignKey("journal_entry.id"), unique=True)
    )
    paid_pence: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    #: The bank's booking date of the payment that completed it (None until paid in full).
    paid_on: date | None = Field(default=None, sa_column=Column(Date))

    __table_args__ = (
        UniqueConstraint("run_id", "shop_id"),
        CheckConstraint("status IN ('payable', 'rolled_over')", name="status_known"),
        CheckConstraint(
            "status <> 'payable' OR (credits > 0 AND amount_pence > 0 AND payee_id IS NOT NULL "
            "AND reference IS NOT NULL)",
            name="payable_complete",
        ),
        CheckConstraint(
            "status = 'payable' OR (entry_id IS NULL AND payee_id IS NULL "
            "AND reference IS NULL AND paid_pence = 0)",
            name="rolled_over_moves_nothing",
        ),
        CheckConstraint("paid_on IS NULL OR paid_pence = amount_pence", name="paid_in_full"),
        Index("ix_settlement_line_shop_id", "shop_id", "run_id"),
    )


class BankImport(SQLModel, table=True):
    __tablename__ = "bank_import"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    filename: str = Field(sa_column=Column(String(200), nullable=False))
    format: str = Field(sa_column=Column(String(10), nullable=False))
    sha256: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    imported_by: str = Field(sa_column=Column(String(200), nullable=False))
    imported_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    #: The last day the statement covers (its end, or its latest booking date).
    covers_to: date | None = Field(default=None, sa_column=Column(Date))
    lines: int = Field(sa_column=Column(Integer, nullable=False))
    #: ``{"matched": n, "amount_differs": n, "unexpected": n, "ignored": n, "duplicate": n,
    #: "missing": n, "runs_paid": [ids]}``
    summary: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))

    __table_args__ = (CheckConstraint("format IN ('camt053', 'csv')", name="format_known"),)


class BankLine(SQLModel, table=True):
    __tablename__ = "bank_line"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    import_id: int = Field(sa_column=Column(BigId, ForeignKey("bank_import.id"), nullable=False))
    line_no: int = Field(sa_column=Column(Integer, nullable=False))
    booked_on: date = Field(sa_column=Column(Date, nullable=False))
    #: Signed: money out of the council's account is negative.
    amount_pence: int = Field(sa_column=Column(BigInteger, nullable=False))
    #: The settlement reference found in it, if any, and the text it was found in.
    reference: str | None = Field(default=None, sa_column=Column(String(35)))
    text: str = Field(sa_column=Column(String(500), nullable=False))
    counterparty: str = Field(sa_column=Column(String(140), nullable=False))
    bank_ref: str | None = Field(default=None, sa_column=Column(String(70)))
    fingerprint: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    outcome: str = Field(sa_column=Column(String(16), nullable=False))
    settlement_line_id: int | None = Field(
        default=None, sa_column=Column(BigId, ForeignKey("settlement_line.id"))
    )
    #: The London month this payment counts as paid in (lines paying a settlement only): its
    #: booking month, or — when that month was already closed at import — the month it was
    #: imported in, so a closed month's statement never changes.
    counted_month: str | None = Field(default=None, sa_column=Column(String(7)))

    __table_args__ = (
        CheckConstraint(
            "(counted_month IS NULL) = (settlement_line_id IS NULL)", name="counted_month"
        ),
        CheckConstraint(
            "outcome IN ('matched', 'amount_differs', 'unexpected', 'ignored')",
            name="outcome_known",
        ),
        Index("ix_bank_line_import_id", "import_id", "line_no"),
        Index("ix_bank_line_settlement_line_id", "settlement_line_id"),
        Index("ix_bank_line_counted_month", "counted_month"),
    )


class BankMismatch(SQLModel, table=True):
    __tablename__ = "bank_mismatch"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    import_id: int = Field(sa_column=Column(BigId, ForeignKey("bank_import.id"), nullable=False))
    settlement_line_id: int | None = Field(
        default=None, sa_column=Column(BigId, ForeignKey("settlement_line.id"))
    )
    bank_line_id: int | None = Field(
        default=None, sa_column=Column(BigId, ForeignKey("bank_line.id"))
    )
    shop_id: int | None = Field(default=None, sa_column=Column(BigId, ForeignKey("shop.id")))
    #: Signed pence: what the run says / what the bank shows (whichever apply).
    expected_pence: int | None = Field(default=None, sa_column=Column(BigInteger))
    seen_pence: int | None = Field(default=None, sa_column=Column(BigInteger))
    detail: str = Field(sa_column=Column(String(500), nullable=False))
    found_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    resolved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    resolved_by: str | None = Field(default=None, sa_column=Column(String(200)))
    resolution: str | None = Field(default=None, sa_column=Column(String(500)))

    __table_args__ = (
        CheckConstraint("kind IN ('missing', 'unexpected', 'amount_differs')", name="kind_known"),
        CheckConstraint("(resolved_at IS NULL) = (resolution IS NULL)", name="resolved"),
        Index("ix_bank_mismatch_found_at", "found_at"),
        Index("ix_bank_mismatch_settlement_line_id", "settlement_line_id"),
    )


T_PAYEE: Table = Payee.__table__  # type: ignore[attr-defined]
T_RUN: Table = SettlementRun.__table__  # type: ignore[attr-defined]
T_LINE: Table = SettlementLine.__table__  # type: ignore[attr-defined]
T_IMPORT: Table = BankImport.__table__  # type: ignore[attr-defined]
T_BANK_LINE: Table = BankLine.__table__  # type: ignore[attr-defined]
T_MISMATCH: Table = BankMismatch.__table__  # type: ignore[attr-defined]
