"""The audit log's one table: append-only (a PostgreSQL trigger refuses UPDATE and DELETE)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, String
from sqlmodel import Field, SQLModel

from credits.db import UTCDateTime
from credits.ledger.models import BigId


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    occurred_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    #: ``Principal.actor``: ``person:12 as officer via session:40``; ``anonymous`` or
    #: ``system:<what>`` for events with no signed-in caller.
    actor: str = Field(sa_column=Column(String(200), nullable=False))
    #: The person behind the actor, if any (for "everything this person did").
    actor_person_id: int | None = Field(default=None, sa_column=Column(BigId))
    #: How they authenticated: ``token:7``, ``session:40``, ``link:3``, or empty.
    via: str = Field(default="", sa_column=Column(String(60), nullable=False))
    #: What happened, ``noun.verb``: ``person.disable``, ``token.create``, ``auth.sign_in_failed``.
    action: str = Field(sa_column=Column(String(60), nullable=False))
    #: What it happened to: ``person:12``, ``token:7``, ``shop:3``... (None if nothing).
    target_ref: str | None = Field(default=None, sa_column=Column(String(120)))
    #: Anything else worth keeping (reason, role, before/after values, client address).
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))

    __table_args__ = (
        Index("ix_audit_event_occurred_at", "occurred_at"),
        Index("ix_audit_event_action", "action"),
        Index("ix_audit_event_target_ref", "target_ref"),
        Index("ix_audit_event_actor_person_id", "actor_person_id"),
    )
