"""The public record (/open and the open data): ``publication_hold`` (an officer held back
a month's publication, with a reason, and perhaps released it later) and
``open_month_record`` (each closed month's public figures, stored by the month close).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "publication_hold",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("held_by", sa.String(length=200), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("released_by", sa.String(length=200), nullable=True),
        sa.Column("active", sa.Integer(), nullable=True),
        sa.CheckConstraint("active = 1", name=op.f("ck_publication_hold_active")),
        sa.CheckConstraint(
            "(active IS NULL) = (released_at IS NOT NULL)",
            name=op.f("ck_publication_hold_released"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publication_hold")),
        sa.UniqueConstraint("month", "active", name=op.f("uq_publication_hold_month_active")),
    )

    op.create_table(
        "open_month_record",
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("month", name=op.f("pk_open_month_record")),
    )


def downgrade() -> None:
    op.drop_table("open_month_record")
    op.drop_table("publication_hold")
