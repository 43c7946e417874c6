"""Tables of the public record (credits.open).

- ``publication_hold``: an officer held back a month's publication, with a reason (for
  example while a complaint is investigated), and perhaps released it later. A month is held
  while it has a row with ``released_at`` null; ``active`` is 1 on that row and NULL once it
  is released, and (month, active) is unique, so a month has at most one hold in force
  whatever the concurrency. Rows are never deleted: they are the history of every hold,
  beside the audit log's ``publication.hold`` and ``publication.release`` events.
- ``open_month_record``: a closed month's public figures (credits.open.figures), written by
  the month close in its transaction, from the statement it hashed. The true counts of
  people are kept here; the public documents suppress the small ones when they are written.
  One row per closed month, never changed: the month is closed, so its figures are final.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, Integer, String, Table, UniqueConstraint
from sqlmodel import Field, SQLModel

from credits.db import UTCDateTime
from credits.ledger.models import BigId


class PublicationHold(SQLModel, table=True):
    __tablename__ = "publication_hold"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    #: ``YYYY-MM``: the London month held back.
    month: str = Field(sa_column=Column(String(7), nullable=False))
    reason: str = Field(sa_column=Column(String(500), nullable=False))
    held_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    held_by: str = Field(sa_column=Column(String(200), nullable=False))
    released_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    released_by: str | None = Field(default=None, sa_column=Column(String(200)))
    #: 1 while the hold is in force, NULL once released (unique with the month).
    active: int | None = Field(default=None, sa_column=Column(Integer))

    __table_args__ = (
        CheckConstraint("active = 1", name="active"),
        CheckConstraint("(active IS NULL) = (released_at IS NOT NULL)", name="released"),
        UniqueConstraint("month", "active"),
    )


class OpenMonthRecord(SQLModel, table=True):
    __tablename__ = "open_month_record"

    month: str = Field(sa_column=Column(String(7), primary_key=True))
    #: :meth:`credits.open.figures.MonthFigures.as_stored`.
    figures: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


T_PUBLICATION_HOLD: Table = PublicationHold.__table__  # type: ignore[attr-defined]
T_OPEN_MONTH_RECORD: Table = OpenMonthRecord.__table__  # type: ignore[attr-defined]
