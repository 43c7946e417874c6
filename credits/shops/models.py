"""Tables for partner shops and their terminals."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from credits.db import UTCDateTime
from credits.ledger.models import BigId


class Shop(SQLModel, table=True):
    __tablename__ = "shop"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    name: str = Field(sa_column=Column(String(120), nullable=False, unique=True))
    address: str = Field(default="", sa_column=Column(String(300), nullable=False))
    contact_email: str | None = Field(default=None, sa_column=Column(String(254)))
    active: bool = Field(default=True, sa_column=Column(Boolean, nullable=False))
    #: Set in the same transaction that creates the shop (the account is named after its id).
    ledger_account_id: int | None = Field(
        default=None, sa_column=Column(BigId, ForeignKey("account.id"), unique=True)
    )
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    created_by: str = Field(sa_column=Column(String(200), nullable=False))


class Terminal(SQLModel, table=True):
    __tablename__ = "terminal"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    shop_id: int = Field(sa_column=Column(BigId, ForeignKey("shop.id"), nullable=False))
    name: str = Field(sa_column=Column(String(80), nullable=False))
    #: Largest single redemption (credits) it may accept while offline.
    floor_limit: int = Field(sa_column=Column(Integer, nullable=False))
    #: How many offline redemptions, and how many credits in all, it may hold unsynced.
    max_offline_count: int = Field(sa_column=Column(Integer, nullable=False))
    max_offline_total: int = Field(sa_column=Column(Integer, nullable=False))
    #: Its monthly exception ceiling (Europe/London months): how many offline claims of
    #: vouchers spent elsewhere the scheme pays automatically, and how many credits in all;
    #: a claim above either is held for an officer (docs/redemption.md, rule 5).
    exceptions_per_month: int = Field(
        default=3, sa_column=Column(Integer, nullable=False, server_default="3")
    )
    exception_credits_per_month: int = Field(
        default=60, sa_column=Column(Integer, nullable=False, server_default="60")
    )
    #: The ``as_of`` of the last spent list the ledger gave it (``GET
    #: /terminal/spent-vouchers``): every voucher closed before then was on its list. Set by
    #: the ledger, never by the terminal (docs/redemption.md, rule 3).
    spent_list_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    active: bool = Field(default=True, sa_column=Column(Boolean, nullable=False))
    last_seen_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    created_by: str = Field(sa_column=Column(String(200), nullable=False))

    __table_args__ = (
        UniqueConstraint("shop_id", "name"),
        CheckConstraint("floor_limit BETWEEN 0 AND 1000000", name="floor_limit_range"),
        CheckConstraint("max_offline_count BETWEEN 0 AND 10000", name="max_count_range"),
        CheckConstraint("max_offline_total BETWEEN 0 AND 100000000", name="max_total_range"),
        CheckConstraint(
            "exceptions_per_month BETWEEN 0 AND 10000", name="exceptions_per_month_range"
        ),
        CheckConstraint(
            "exception_credits_per_month BETWEEN 0 AND 100000000",
            name="exception_credits_per_month_range",
        ),
    )
