"""Tables of the earning capability.

- ``activity``: what volunteers do for credits (``snow-clearing``...), its rate, the caps per
  member per London week and month, and the default monthly issuance budget.
- ``activity_budget``: one row per (activity, London month) once anything is awarded in that
  month or an officer sets that month's budget. It is the *lock row* of the month's budget:
  every award for that activity-month takes ``SELECT ... FOR UPDATE`` on it, and
  ``issued_credits`` counts what has been posted (checked against the awards by
  `credits verify`).
- ``member_activity_usage``: one row per (member, activity, period) where period is a London
  ISO week (``2026-W48``) or month (``2026-11``): the lock rows of a member's caps, counting
  credits posted.
- ``volunteer_group`` and its association tables: who coordinates which group, which
  activities the group does, who belongs to it.
- ``award`` and ``award_line``: every award, whatever its route (a coordinator's record, a
  session sheet, a volunteer's claim), with its state and who did what, when and how.
  A posted award points at its one ledger entry.
- ``earning_settings``: the scheme's four-eyes threshold (one row).

Quantities are stored as integer hundredths (``quantity_centi``: 1.5 hours = 150): no float
and no Decimal column anywhere near money.
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
    SmallInteger,
    String,
    Table,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from credits.db import UTCDateTime
from credits.ledger.models import BigId


class Activity(SQLModel, table=True):
    __tablename__ = "activity"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    slug: str = Field(sa_column=Column(String(60), nullable=False, unique=True))
    name: str = Field(sa_column=Column(String(120), nullable=False))
    description: str = Field(default="", sa_column=Column(String(1000), nullable=False))
    unit: str = Field(sa_column=Column(String(10), nullable=False))
    credits_per_unit: int = Field(sa_column=Column(Integer, nullable=False))
    #: Most credits one member may earn from this activity in a London ISO week / month.
    week_cap_credits: int = Field(sa_column=Column(Integer, nullable=False))
    month_cap_credits: int = Field(sa_column=Column(Integer, nullable=False))
    #: Issuance budget of a month without a budget of its own (activity_budget).
    monthly_budget_credits: int = Field(sa_column=Column(Integer, nullable=False))
    active: bool = Field(default=True, sa_column=Column(Boolean, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    created_by: str = Field(sa_column=Column(String(200), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_by: str = Field(sa_column=Column(String(200), nullable=False))

    __table_args__ = (
        CheckConstraint("unit IN ('hour', 'session', 'run')", name="unit"),
        CheckConstraint("credits_per_unit BETWEEN 1 AND 1000", name="rate_range"),
        CheckConstraint("week_cap_credits >= 0 AND month_cap_credits >= 0", name="caps"),
        CheckConstraint("monthly_budget_credits >= 0", name="budget"),
    )


class ActivityBudget(SQLModel, table=True):
    __tablename__ = "activity_budget"

    activity_id: int = Field(
        sa_column=Column(BigId, ForeignKey("activity.id"), primary_key=True, autoincrement=False)
    )
    #: London month, ``YYYY-MM``.
    month: str = Field(sa_column=Column(String(7), primary_key=True))
    #: This month's budget; None means the activity's ``monthly_budget_credits``.
    budget_credits: int | None = Field(default=None, sa_column=Column(Integer))
    issued_credits: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    budget_set_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    budget_set_by: str | None = Field(default=None, sa_column=Column(String(200)))

    __table_args__ = (
        CheckConstraint("issued_credits >= 0", name="issued"),
        CheckConstraint("budget_credits IS NULL OR budget_credits >= 0", name="budget"),
    )


class MemberActivityUsage(SQLModel, table=True):
    __tablename__ = "member_activity_usage"

    person_id: int = Field(
        sa_column=Column(BigId, ForeignKey("person.id"), primary_key=True, autoincrement=False)
    )
    activity_id: int = Field(
        sa_column=Column(BigId, ForeignKey("activity.id"), primary_key=True, autoincrement=False)
    )
    #: ``2026-W48`` (London ISO week) or ``2026-11`` (London month).
    period: str = Field(sa_column=Column(String(8), primary_key=True))
    credits: int = Field(default=0, sa_column=Column(Integer, nullable=False))

    __table_args__ = (CheckConstraint("credits >= 0", name="credits"),)


class VolunteerGroup(SQLModel, table=True):
    __tablename__ = "volunteer_group"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    name: str = Field(sa_column=Column(String(120), nullable=False, unique=True))
    description: str = Field(default="", sa_column=Column(String(500), nullable=False))
    active: bool = Field(default=True, sa_column=Column(Boolean, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    created_by: str = Field(sa_column=Column(String(200), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_by: str = Field(sa_column=Column(String(200), nullable=False))


class GroupActivity(SQLModel, table=True):
    __tablename__ = "volunteer_group_activity"

    group_id: int = Field(
        sa_column=Column(
            BigId, ForeignKey("volunteer_group.id"), primary_key=True, autoincrement=False
        )
    )
    activity_id: int = Field(
        sa_column=Column(BigId, ForeignKey("activity.id"), primary_key=True, autoincrement=False)
    )


class GroupCoordinator(SQLModel, table=True):
    __tablename__ = "volunteer_group_coordinator"

    group_id: int = Field(
        sa_column=Column(
            BigId, ForeignKey("volunteer_group.id"), primary_key=True, autoincrement=False
        )
    )
    person_id: int = Field(
        sa_column=Column(BigId, ForeignKey("person.id"), primary_key=True, autoincrement=False)
    )
    added_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    added_by: str = Field(sa_column=Column(String(200), nullable=False))

    __table_args__ = (Index("ix_volunteer_group_coordinator_person_id", "person_id"),)


class GroupMember(SQLModel, table=True):
    __tablename__ = "volunteer_group_member"

    group_id: int = Field(
        sa_column=Column(
            BigId, ForeignKey("volunteer_group.id"), primary_key=True, autoincrement=False
        )
    )
    person_id: int = Field(
        sa_column=Column(BigId, ForeignKey("person.id"), primary_key=True, autoincrement=False)
    )
    added_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    added_by: str = Field(sa_column=Column(String(200), nullable=False))

    __table_args__ = (Index("ix_volunteer_group_member_person_id", "person_id"),)


class Award(SQLModel, table=True):
    """One award of credits for one activity on one London date, to one or more members.

    ``kind``: ``record`` (a coordinator recorded one member), ``session`` (a coordinator's
    sheet for a whole session), ``claim`` (a volunteer's own claim). ``state``: ``pending``
    (a claim waiting for its first approval), ``awaiting_officer`` (above the four-eyes
    threshold: waiting for an officer who is not the first approver), ``posted`` (credits
    are in the ledger: ``entry_id``), ``rejected`` (``reject_reason`` says why).
    Every step records who (person id and ``Principal.actor``, which names the token or
    session used) and when.
    """

    __tablename__ = "award"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    kind: str = Field(sa_column=Column(String(10), nullable=False))
    state: str = Field(sa_column=Column(String(20), nullable=False))
    activity_id: int = Field(sa_column=Column(BigId, ForeignKey("activity.id"), nullable=False))
    occurred_on: date = Field(sa_column=Column(Date, nullable=False))
    #: The rate and unit when the award was made (a later change of rate does not alter it).
    unit: str = Field(sa_column=Column(String(10), nullable=False))
    credits_per_unit: int = Field(sa_column=Column(Integer, nullable=False))
    total_credits: int = Field(sa_column=Column(Integer, nullable=False))
    line_count: int = Field(sa_column=Column(Integer, nullable=False))
    note: str = Field(default="", sa_column=Column(String(500), nullable=False))
    #: The namespaced client key (``award:<person id>:<key>``) and what was asked with it.
    idempotency_key: str = Field(sa_column=Column(String(300), nullable=False, unique=True))
    request_hash: str = Field(sa_column=Column(String(64), nullable=False))
    needs_officer: bool = Field(sa_column=Column(Boolean, nullable=False))

    created_by_person_id: int = Field(
        sa_column=Column(BigId, ForeignKey("person.id"), nullable=False)
    )
    created_by: str = Field(sa_column=Column(String(200), nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))

    first_approver_id: int | None = Field(
        default=None, sa_column=Column(BigId, ForeignKey("person.id"))
    )
    first_approved_by: str | None = Field(default=None, sa_column=Column(String(200)))
    first_approved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    first_approval_key: str | None = Field(default=None, sa_column=Column(String(200)))

    second_approver_id: int | None = Field(
        default=None, sa_column=Column(BigId, ForeignKey("person.id"))
    )
    second_approved_by: str | None = Field(default=None, sa_column=Column(String(200)))
    second_approved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    second_approval_key: str | None = Field(default=None, sa_column=Column(String(200)))

    rejected_by_id: int | None = Field(
        default=None, sa_column=Column(BigId, ForeignKey("person.id"))
    )
    rejected_by: str | None = Field(default=None, sa_column=Column(String(200)))
    rejected_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    reject_reason: str | None = Field(default=None, sa_column=Column(String(500)))

    entry_id: int | None = Field(
        default=None, sa_column=Column(BigId, ForeignKey("journal_entry.id"), unique=True)
    )
    posted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))

    __table_args__ = (
        CheckConstraint("kind IN ('record', 'session', 'claim')", name="kind"),
        CheckConstraint(
            "state IN ('pending', 'awaiting_officer', 'posted', 'rejected')", name="state"
        ),
        CheckConstraint("total_credits > 0 AND line_count > 0", name="positive"),
        # A posted award has its entry, and only a posted one.
        CheckConstraint("(state = 'posted') = (entry_id IS NOT NULL)", name="posted_entry"),
        # Four eyes: the second approver is never the first.
        CheckConstraint(
            "second_approver_id IS NULL OR first_approver_id IS NULL "
            "OR second_approver_id <> first_approver_id",
            name="four_eyes",
        ),
        # An award that needs an officer is never posted without the second approval.
        CheckConstraint(
            "NOT (state = 'posted' AND needs_officer AND second_approver_id IS NULL)",
            name="posted_four_eyes",
        ),
        Index("ix_award_state_activity_id", "state", "activity_id"),
        Index("ix_award_created_by_person_id", "created_by_person_id"),
    )


class AwardLine(SQLModel, table=True):
    __tablename__ = "award_line"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    award_id: int = Field(sa_column=Column(BigId, ForeignKey("award.id"), nullable=False))
    person_id: int = Field(sa_column=Column(BigId, ForeignKey("person.id"), nullable=False))
    #: Hundredths of the unit: 1.5 hours is 150.
    quantity_centi: int = Field(sa_column=Column(Integer, nullable=False))
    credits: int = Field(sa_column=Column(Integer, nullable=False))

    __table_args__ = (
        CheckConstraint("quantity_centi > 0 AND credits > 0", name="positive"),
        UniqueConstraint("award_id", "person_id"),
        Index("ix_award_line_person_id_award_id", "person_id", "award_id"),
    )


class EarningSettings(SQLModel, table=True):
    __tablename__ = "earning_settings"

    id: int = Field(
        default=1, sa_column=Column(SmallInteger, primary_key=True, autoincrement=False)
    )
    #: An award line of more credits than this needs an officer's approval too.
    four_eyes_threshold_credits: int = Field(sa_column=Column(Integer, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_by: str = Field(sa_column=Column(String(200), nullable=False))

    __table_args__ = (
        CheckConstraint("id = 1", name="single_row"),
        CheckConstraint("four_eyes_threshold_credits >= 0", name="threshold"),
    )


T_ACTIVITY: Table = Activity.__table__  # type: ignore[attr-defined]
T_BUDGET: Table = ActivityBudget.__table__  # type: ignore[attr-defined]
T_USAGE: Table = MemberActivityUsage.__table__  # type: ignore[attr-defined]
T_GROUP: Table = VolunteerGroup.__table__  # type: ignore[attr-defined]
T_GROUP_ACTIVITY: Table = GroupActivity.__table__  # type: ignore[attr-defined]
T_GROUP_COORDINATOR: Table = GroupCoordinator.__table__  # type: ignore[attr-defined]
T_GROUP_MEMBER: Table = GroupMember.__table__  # type: ignore[attr-defined]
T_AWARD: Table = Award.__table__  # type: ignore[attr-defined]
T_LINE: Table = AwardLine.__table__  # type: ignore[attr-defined]
T_SETTINGS: Table = EarningSettings.__table__  # type: ignore[attr-defined]
