"""Manual adjustments by officers (credits/adjustments), with four eyes above a threshold;
indexes for the officers' exceptions queue (latest reversals and offline double spends).

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "adjustment",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("person_id", BIG_ID, nullable=False),
        sa.Column("account_id", BIG_ID, nullable=False),
        sa.Column("direction", sa.String(length=10), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("occurred_on", sa.Date(), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("needs_approval", sa.Boolean(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=300), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("requested_by_person_id", BIG_ID, nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by_person_id", BIG_ID, nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_reason", sa.String(length=500), nullable=True),
        sa.Column("entry_id", BIG_ID, nullable=True),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("amount BETWEEN 1 AND 10000", name=op.f("ck_adjustment_amount_range")),
        sa.CheckConstraint(
            "direction IN ('credit', 'debit')", name=op.f("ck_adjustment_direction_known")
        ),
        sa.CheckConstraint(
            "state IN ('pending', 'posted', 'rejected')", name=op.f("ck_adjustment_state_known")
        ),
        sa.CheckConstraint(
            "(state = 'posted') = (entry_id IS NOT NULL)",
            name=op.f("ck_adjustment_posted_has_entry"),
        ),
        sa.CheckConstraint(
            "decided_by_person_id IS NULL OR decided_by_person_id <> requested_by_person_id",
            name=op.f("ck_adjustment_four_eyes"),
        ),
        sa.CheckConstraint(
            "NOT needs_approval OR state <> 'posted' OR decided_by_person_id IS NOT NULL",
            name=op.f("ck_adjustment_posted_four_eyes"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_adjustment_account_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_person_id"],
            ["person.id"],
            name=op.f("fk_adjustment_decided_by_person_id_person"),
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["journal_entry.id"], name=op.f("fk_adjustment_entry_id_journal_entry")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_adjustment_person_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_person_id"],
            ["person.id"],
            name=op.f("fk_adjustment_requested_by_person_id_person"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_adjustment")),
        sa.UniqueConstraint("entry_id", name=op.f("uq_adjustment_entry_id")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_adjustment_idempotency_key")),
    )
    op.create_index("ix_adjustment_person_id", "adjustment", ["person_id"], unique=False)
    op.create_index("ix_adjustment_requested_at", "adjustment", ["requested_at"], unique=False)
    op.create_index("ix_redemption_reversed_at", "redemption", ["reversed_at"], unique=False)
    op.create_index(
        "ix_redemption_exception_submitted_at",
        "redemption_exception",
        ["submitted_at"],
        unique=False,
    )
    op.create_index(
        "ix_adjustment_state_requested_at", "adjustment", ["state", "requested_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_redemption_exception_submitted_at", table_name="redemption_exception")
    op.drop_index("ix_redemption_reversed_at", table_name="redemption")
    op.drop_index("ix_adjustment_requested_at", table_name="adjustment")
    op.drop_index("ix_adjustment_state_requested_at", table_name="adjustment")
    op.drop_index("ix_adjustment_person_id", table_name="adjustment")
    op.drop_table("adjustment")
