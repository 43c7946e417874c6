"""Statements: the reimbursement rate (from a month onwards) and the record of month closes.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate renders sqlmodel.sql.sqltypes.AutoString)
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reimbursement_rate",
        sa.Column("effective_from", sa.String(length=7), nullable=False),
        sa.Column("pence_per_credit", sa.Integer(), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("set_by", sa.String(length=200), nullable=False),
        sa.CheckConstraint(
            "pence_per_credit BETWEEN 0 AND 100000", name=op.f("ck_reimbursement_rate_pence")
        ),
        sa.PrimaryKeyConstraint("effective_from", name=op.f("pk_reimbursement_rate")),
    )
    op.create_table(
        "month_close",
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_by", sa.String(length=200), nullable=False),
        sa.Column("checks", sa.JSON(), nullable=False),
        sa.Column("statement_sha256", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("month", name=op.f("pk_month_close")),
    )


def downgrade() -> None:
    op.drop_table("month_close")
    op.drop_table("reimbursement_rate")
