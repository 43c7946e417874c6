"""Tables for people, their roles and their API tokens."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, ForeignKey, Index, String
from sqlmodel import Field, SQLModel

from credits.db import UTCDateTime
from credits.ledger.models import BigId


class Role(StrEnum):
    """What a person (or a shop's terminal) may do."""

    MEMBER = "member"  # a volunteer: earns and spends credits
    COORDINATOR = "coordinator"  # runs a group or activity: records attendance, approves claims
    SHOP_STAFF = "shop_staff"  # works at one partner shop
    OFFICER = "officer"  # council officer: people, activities, shops, statements, month close
    ADMIN = "admin"  # system administrator
    TERMINAL = "terminal"  # a shop's terminal (tokens only; see credits.shops)


class PersonStatus(StrEnum):
    INVITED = "invited"  # created by an officer, has not set a password yet
    PENDING = "pending"  # registered themselves; waits for an officer to approve
    ACTIVE = "active"
    DISABLED = "disabled"  # by an officer: cannot sign in, sessions and tokens ended
    DECLINED = "declined"  # an officer declined their registration (they may register again)
    ERASED = "erased"  # left the scheme; personal data erased (credits/erasure.py)


class Person(SQLModel, table=True):
    __tablename__ = "person"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    name: str = Field(sa_column=Column(String(200), nullable=False))
    #: Lower-cased; the sign-in name.
    email: str = Field(sa_column=Column(String(254), nullable=False, unique=True))
    phone: str | None = Field(default=None, sa_column=Column(String(32), unique=True))
    password_hash: str | None = Field(default=None, sa_column=Column(String(200)))
    status: str = Field(
        default=PersonStatus.ACTIVE.value, sa_column=Column(String(20), nullable=False)
    )
    #: The member's ledger account, once they hold the member role.
    ledger_account_id: int | None = Field(
        default=None, sa_column=Column(BigId, ForeignKey("account.id"), unique=True)
    )
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    #: Attribution: who created the record (``Principal.actor``, ``self-registration``...).
    created_by: str | None = Field(default=None, sa_column=Column(String(200)))
    updated_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    updated_by: str | None = Field(default=None, sa_column=Column(String(200)))
    #: When they proved they read mail at ``email`` (a confirmation, invitation or reset link).
    email_confirmed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    #: Why the status last changed (a decline or disable reason), when, and by whom.
    status_reason: str | None = Field(default=None, sa_column=Column(String(500)))
    status_changed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    status_changed_by: str | None = Field(default=None, sa_column=Column(String(200)))
    #: The language they read the scheme in (credits.i18n.LANGUAGES): their pages when signed
    #: in and the emails sent to them. None until they choose or use the site.
    language: str | None = Field(default=None, sa_column=Column(String(8)))

    __table_args__ = (Index("ix_person_status", "status"),)


class PersonRole(SQLModel, table=True):
    __tablename__ = "person_role"

    person_id: int = Field(
        sa_column=Column(BigId, ForeignKey("person.id"), primary_key=True, autoincrement=False)
    )
    role: str = Field(sa_column=Column(String(20), primary_key=True))
    #: What the role is limited to, where it is: ``shop:<id>`` for shop staff.
    scope_ref: str | None = Field(default=None, sa_column=Column(String(120)))
    granted_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    granted_by: str = Field(sa_column=Column(String(200), nullable=False))


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    #: SHA-256 hex of the token. The token itself is shown once and never stored.
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    #: The first characters of the token, to tell tokens apart in lists.
    prefix: str = Field(sa_column=Column(String(16), nullable=False))
    name: str = Field(sa_column=Column(String(100), nullable=False))
    role: str = Field(sa_column=Column(String(20), nullable=False))
    person_id: int | None = Field(default=None, sa_column=Column(BigId, ForeignKey("person.id")))
    #: A shop terminal's token (role "terminal") belongs to the terminal, not a person.
    terminal_id: int | None = Field(
        default=None, sa_column=Column(BigId, ForeignKey("terminal.id"))
    )
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    created_by: str = Field(sa_column=Column(String(200), nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    revoked_by: str | None = Field(default=None, sa_column=Column(String(200)))
    last_used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))

    __table_args__ = (
        Index("ix_api_token_person_id", "person_id"),
        Index("ix_api_token_terminal_id", "terminal_id"),
    )
