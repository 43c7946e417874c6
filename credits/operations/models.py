"""The record of maintenance runs: `credits verify` and `credits backup` (and restores).

``maintenance_run`` holds one row per finished run — what ran, when it started and ended,
whether it succeeded, and a short JSON summary (the failed checks; the backup's size). The
app reads the latest of each kind for ``GET /metrics`` (the verify result and age, the age of
the last good backup), so an alert fires when the nightly jobs fail or stop running, on
whichever machine they run. Rows are small and few (a few a day); nothing deletes them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, Column, Index, String
from sqlmodel import Field, SQLModel

from credits.db import UTCDateTime
from credits.ledger.models import BigId

#: What a maintenance run can be.
KINDS = ("verify", "backup", "restore")


class MaintenanceRun(SQLModel, table=True):
    __tablename__ = "maintenance_run"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    kind: str = Field(sa_column=Column(String(20), nullable=False))
    started_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    finished_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    ok: bool = Field(sa_column=Column(Boolean, nullable=False))
    #: Where it ran (host name) and as what (``credits verify``, a timer...).
    source: str = Field(sa_column=Column(String(200), nullable=False))
    #: What it found or made: failed check names, a backup's bytes and files.
    summary: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))

    __table_args__ = (
        CheckConstraint("kind IN ('verify', 'backup', 'restore')", name="kind"),
        Index("ix_maintenance_run_kind_finished_at", "kind", "finished_at"),
    )
