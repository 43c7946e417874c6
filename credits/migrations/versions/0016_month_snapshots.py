"""Month-close snapshots: each account's balance at a closed month's end (``month_balance``)
and the month's scheme figures on ``month_close`` (issued, redeemed, liability).

On PostgreSQL ``month_balance`` is append-only like the ledger's tables (the trigger
function ``ledger_refuse_change`` from 0001): a snapshot is written once, by the close.
The closed-period trigger now also refuses an entry dated before the end of any closed
month (closing a month closes the empty months before it), so no snapshot can be falsified
by a back-dated entry.

Revision ID: 0016
Revises: 0014
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# 0001's function with the condition swapped: "in a closed month" becomes "before the end of
# a closed month".
CHECK_PERIOD = """
CREATE OR REPLACE FUNCTION ledger_check_period() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Runs after this statement took its lock on journal_entry, so a month being closed
    -- (LOCK ... IN SHARE MODE) is either fully closed by now or waits for this entry.
    IF EXISTS (SELECT 1 FROM closed_period c WHERE {condition}) THEN
        RAISE EXCEPTION USING ERRCODE = 'CR002',
            MESSAGE = format('the month containing %s is closed', NEW.occurred_at);
    END IF;
    RETURN NEW;
END $$
"""

revision = "0016"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "month_balance",
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("account_id", BIG_ID, autoincrement=False, nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_month_balance_account_id_account")
        ),
        sa.PrimaryKeyConstraint("month", "account_id", name=op.f("pk_month_balance")),
    )
    with op.batch_alter_table("month_close") as batch:
        batch.add_column(sa.Column("issued", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("redeemed", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("liability", sa.BigInteger(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CHECK_PERIOD.format(condition="NEW.occurred_at < c.ends_at"))
        op.execute(
            "CREATE TRIGGER month_balance_append_only BEFORE UPDATE OR DELETE ON month_balance "
            "FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()"
        )
        op.execute(
            "CREATE TRIGGER month_balance_no_truncate BEFORE TRUNCATE ON month_balance "
            "FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS month_balance_no_truncate ON month_balance")
        op.execute("DROP TRIGGER IF EXISTS month_balance_append_only ON month_balance")
        op.execute(
            CHECK_PERIOD.format(
                condition="NEW.occurred_at >= c.starts_at AND NEW.occurred_at < c.ends_at"
            )
        )
    with op.batch_alter_table("month_close") as batch:
        batch.drop_column("liability")
        batch.drop_column("redeemed")
        batch.drop_column("issued")
    op.drop_table("month_balance")
