"""Closes and check runs started from the officer's pages, which run in the background
(``close_run``): at borough size the checks take minutes, longer than a web request may.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "close_run",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("purpose", sa.String(length=5), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("worker", sa.String(length=120), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("active", sa.Integer(), nullable=True),
        sa.Column("progress", sa.JSON(), nullable=False),
        sa.Column("checks", sa.JSON(), nullable=True),
        sa.Column("error_code", sa.String(length=40), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint("purpose IN ('check', 'close')", name=op.f("ck_close_run_purpose")),
        sa.CheckConstraint(
            "status IN ('running', 'passed', 'failed', 'closed', 'refused', 'error', "
            "'abandoned')",
            name=op.f("ck_close_run_status"),
        ),
        sa.CheckConstraint("active = 1", name=op.f("ck_close_run_active")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_close_run")),
        sa.UniqueConstraint("active", name=op.f("uq_close_run_active")),
    )
    op.create_index("ix_close_run_month", "close_run", ["month", "id"])


def downgrade() -> None:
    op.drop_index("ix_close_run_month", table_name="close_run")
    op.drop_table("close_run")
