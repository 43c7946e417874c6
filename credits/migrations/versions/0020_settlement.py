"""Settlement: shops' payees (four eyes), settlement runs and their lines, bank statements
imported and their mismatches; and the ledger's ``scheme:settled`` account for databases
bootstrapped before it existed (credits/settlement, docs/settlement.md).

Revision ID: 0020
Revises: 0017
Create Date: 2026-12-07
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = '0020'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('bank_import',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('format', sa.String(length=10), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('imported_by', sa.String(length=200), nullable=False),
    sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('covers_to', sa.Date(), nullable=True),
    sa.Column('lines', sa.Integer(), nullable=False),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.CheckConstraint("format IN ('camt053', 'csv')", name=op.f('ck_bank_import_format_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bank_import')),
    sa.UniqueConstraint('sha256', name=op.f('uq_bank_import_sha256'))
    )
    op.create_table('payee',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('shop_id', BIG_ID, nullable=False),
    sa.Column('legal_name', sa.String(length=140), nullable=False),
    sa.Column('sort_code', sa.String(length=6), nullable=True),
    sa.Column('account_number', sa.String(length=8), nullable=True),
    sa.Column('iban', sa.String(length=34), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('active_shop', sa.BigInteger(), nullable=True),
    sa.Column('pending_shop', sa.BigInteger(), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('requested_by_person_id', BIG_ID, nullable=False),
    sa.Column('requested_by', sa.String(length=200), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_by_person_id', BIG_ID, nullable=True),
    sa.Column('decided_by', sa.String(length=200), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_reason', sa.String(length=500), nullable=True),
    sa.CheckConstraint("(active_shop IS NULL) = (status <> 'active') AND (pending_shop IS NULL) = (status <> 'pending')", name=op.f('ck_payee_slots_follow_status')),
    sa.CheckConstraint("status IN ('pending', 'active', 'superseded', 'rejected')", name=op.f('ck_payee_status_known')),
    sa.CheckConstraint("status IN ('pending', 'rejected') OR decided_by_person_id IS NOT NULL", name=op.f('ck_payee_approved_by_someone')),
    sa.CheckConstraint('(sort_code IS NOT NULL AND account_number IS NOT NULL AND iban IS NULL) OR (sort_code IS NULL AND account_number IS NULL AND iban IS NOT NULL)', name=op.f('ck_payee_one_kind_of_account')),
    sa.CheckConstraint('decided_by_person_id IS NULL OR decided_by_person_id <> requested_by_person_id', name=op.f('ck_payee_four_eyes')),
    sa.ForeignKeyConstraint(['decided_by_person_id'], ['person.id'], name=op.f('fk_payee_decided_by_person_id_person')),
    sa.ForeignKeyConstraint(['requested_by_person_id'], ['person.id'], name=op.f('fk_payee_requested_by_person_id_person')),
    sa.ForeignKeyConstraint(['shop_id'], ['shop.id'], name=op.f('fk_payee_shop_id_shop')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payee')),
    sa.UniqueConstraint('active_shop', name=op.f('uq_payee_active_shop')),
    sa.UniqueConstraint('pending_shop', name=op.f('uq_payee_pending_shop'))
    )
    op.create_index('ix_payee_shop_id', 'payee', ['shop_id', 'id'], unique=False)
    op.create_table('settlement_run',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('reference', sa.String(length=35), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('live_month', sa.String(length=7), nullable=True),
    sa.Column('pending_slot', sa.Integer(), nullable=True),
    sa.Column('minimum_pence', sa.BigInteger(), nullable=False),
    sa.Column('four_eyes_pence', sa.BigInteger(), nullable=False),
    sa.Column('needs_second_approver', sa.Boolean(), nullable=False),
    sa.Column('total_credits', sa.BigInteger(), nullable=False),
    sa.Column('total_pence', sa.BigInteger(), nullable=False),
    sa.Column('payments', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=300), nullable=False),
    sa.Column('created_by_person_id', BIG_ID, nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('approved_by_person_id', BIG_ID, nullable=True),
    sa.Column('approved_by', sa.String(length=200), nullable=True),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('execution_date', sa.Date(), nullable=True),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_by', sa.String(length=200), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancel_reason', sa.String(length=500), nullable=True),
    sa.CheckConstraint("(live_month IS NULL) = (state = 'cancelled')", name=op.f('ck_settlement_run_live_month')),
    sa.CheckConstraint("(pending_slot IS NULL) = (state <> 'pending') AND (pending_slot IS NULL OR pending_slot = 1)", name=op.f('ck_settlement_run_pending_slot')),
    sa.CheckConstraint("state IN ('pending', 'approved', 'paid', 'cancelled')", name=op.f('ck_settlement_run_state_known')),
    sa.CheckConstraint("state NOT IN ('approved', 'paid') OR (approved_by_person_id IS NOT NULL AND settled_at IS NOT NULL)", name=op.f('ck_settlement_run_approved_by_someone')),
    sa.CheckConstraint('NOT needs_second_approver OR approved_by_person_id IS NULL OR approved_by_person_id <> created_by_person_id', name=op.f('ck_settlement_run_four_eyes')),
    sa.CheckConstraint('total_pence >= 0 AND total_credits >= 0', name=op.f('ck_settlement_run_totals')),
    sa.ForeignKeyConstraint(['approved_by_person_id'], ['person.id'], name=op.f('fk_settlement_run_approved_by_person_id_person')),
    sa.ForeignKeyConstraint(['created_by_person_id'], ['person.id'], name=op.f('fk_settlement_run_created_by_person_id_person')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_settlement_run')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_settlement_run_idempotency_key')),
    sa.UniqueConstraint('live_month', name=op.f('uq_settlement_run_live_month')),
    sa.UniqueConstraint('pending_slot', name=op.f('uq_settlement_run_pending_slot')),
    sa.UniqueConstraint('reference', name=op.f('uq_settlement_run_reference'))
    )
    op.create_index('ix_settlement_run_month', 'settlement_run', ['month', 'id'], unique=False)
    op.create_table('settlement_line',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('run_id', BIG_ID, nullable=False),
    sa.Column('shop_id', BIG_ID, nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('credits', sa.BigInteger(), nullable=False),
    sa.Column('amount_pence', sa.BigInteger(), nullable=False),
    sa.Column('breakdown', sa.JSON(), nullable=False),
    sa.Column('payee_id', BIG_ID, nullable=True),
    sa.Column('reference', sa.String(length=35), nullable=True),
    sa.Column('entry_id', BIG_ID, nullable=True),
    sa.Column('paid_pence', sa.BigInteger(), nullable=False),
    sa.Column('paid_on', sa.Date(), nullable=True),
    sa.CheckConstraint("status <> 'payable' OR (credits > 0 AND amount_pence > 0 AND payee_id IS NOT NULL AND reference IS NOT NULL)", name=op.f('ck_settlement_line_payable_complete')),
    sa.CheckConstraint("status = 'payable' OR (entry_id IS NULL AND payee_id IS NULL AND reference IS NULL AND paid_pence = 0)", name=op.f('ck_settlement_line_rolled_over_moves_nothing')),
    sa.CheckConstraint("status IN ('payable', 'rolled_over')", name=op.f('ck_settlement_line_status_known')),
    sa.CheckConstraint('paid_on IS NULL OR paid_pence = amount_pence', name=op.f('ck_settlement_line_paid_in_full')),
    sa.ForeignKeyConstraint(['entry_id'], ['journal_entry.id'], name=op.f('fk_settlement_line_entry_id_journal_entry')),
    sa.ForeignKeyConstraint(['payee_id'], ['payee.id'], name=op.f('fk_settlement_line_payee_id_payee')),
    sa.ForeignKeyConstraint(['run_id'], ['settlement_run.id'], name=op.f('fk_settlement_line_run_id_settlement_run')),
    sa.ForeignKeyConstraint(['shop_id'], ['shop.id'], name=op.f('fk_settlement_line_shop_id_shop')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_settlement_line')),
    sa.UniqueConstraint('entry_id', name=op.f('uq_settlement_line_entry_id')),
    sa.UniqueConstraint('reference', name=op.f('uq_settlement_line_reference')),
    sa.UniqueConstraint('run_id', 'shop_id', name=op.f('uq_settlement_line_run_id_shop_id'))
    )
    op.create_index('ix_settlement_line_shop_id', 'settlement_line', ['shop_id', 'run_id'], unique=False)
    op.create_table('bank_line',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('import_id', BIG_ID, nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('booked_on', sa.Date(), nullable=False),
    sa.Column('amount_pence', sa.BigInteger(), nullable=False),
    sa.Column('reference', sa.String(length=35), nullable=True),
    sa.Column('text', sa.String(length=500), nullable=False),
    sa.Column('counterparty', sa.String(length=140), nullable=False),
    sa.Column('bank_ref', sa.String(length=70), nullable=True),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('settlement_line_id', BIG_ID, nullable=True),
    sa.Column('counted_month', sa.String(length=7), nullable=True),
    sa.CheckConstraint("outcome IN ('matched', 'amount_differs', 'unexpected', 'ignored')", name=op.f('ck_bank_line_outcome_known')),
    sa.CheckConstraint('(counted_month IS NULL) = (settlement_line_id IS NULL)', name=op.f('ck_bank_line_counted_month')),
    sa.ForeignKeyConstraint(['import_id'], ['bank_import.id'], name=op.f('fk_bank_line_import_id_bank_import')),
    sa.ForeignKeyConstraint(['settlement_line_id'], ['settlement_line.id'], name=op.f('fk_bank_line_settlement_line_id_settlement_line')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bank_line')),
    sa.UniqueConstraint('fingerprint', name=op.f('uq_bank_line_fingerprint'))
    )
    op.create_index('ix_bank_line_counted_month', 'bank_line', ['counted_month'], unique=False)
    op.create_index('ix_bank_line_import_id', 'bank_line', ['import_id', 'line_no'], unique=False)
    op.create_index('ix_bank_line_settlement_line_id', 'bank_line', ['settlement_line_id'], unique=False)
    op.create_table('bank_mismatch',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('import_id', BIG_ID, nullable=False),
    sa.Column('settlement_line_id', BIG_ID, nullable=True),
    sa.Column('bank_line_id', BIG_ID, nullable=True),
    sa.Column('shop_id', BIG_ID, nullable=True),
    sa.Column('expected_pence', sa.BigInteger(), nullable=True),
    sa.Column('seen_pence', sa.BigInteger(), nullable=True),
    sa.Column('detail', sa.String(length=500), nullable=False),
    sa.Column('found_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_by', sa.String(length=200), nullable=True),
    sa.Column('resolution', sa.String(length=500), nullable=True),
    sa.CheckConstraint("kind IN ('missing', 'unexpected', 'amount_differs')", name=op.f('ck_bank_mismatch_kind_known')),
    sa.CheckConstraint('(resolved_at IS NULL) = (resolution IS NULL)', name=op.f('ck_bank_mismatch_resolved')),
    sa.ForeignKeyConstraint(['bank_line_id'], ['bank_line.id'], name=op.f('fk_bank_mismatch_bank_line_id_bank_line')),
    sa.ForeignKeyConstraint(['import_id'], ['bank_import.id'], name=op.f('fk_bank_mismatch_import_id_bank_import')),
    sa.ForeignKeyConstraint(['settlement_line_id'], ['settlement_line.id'], name=op.f('fk_bank_mismatch_settlement_line_id_settlement_line')),
    sa.ForeignKeyConstraint(['shop_id'], ['shop.id'], name=op.f('fk_bank_mismatch_shop_id_shop')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bank_mismatch'))
    )
    op.create_index('ix_bank_mismatch_found_at', 'bank_mismatch', ['found_at'], unique=False)
    op.create_index('ix_bank_mismatch_settlement_line_id', 'bank_mismatch', ['settlement_line_id'], unique=False)
    _open_settled_account()


def _open_settled_account() -> None:
    """Open ``scheme:settled`` as credits.ledger.bootstrap would, in a database whose ledger
    was bootstrapped before the account existed (with as many balance slots as the issuance
    account has). A fresh database gets it from bootstrap itself."""
    bind = op.get_bind()
    now = datetime.now(UTC)
    if bind.dialect.name == "sqlite":
        now = now.replace(tzinfo=None)  # stored as naive UTC there (credits.db.UTCDateTime)
    found = bind.execute(
        sa.text("SELECT slots FROM account WHERE code = 'scheme:issuance'")
    ).scalar()
    exists = bind.execute(
        sa.text("SELECT 1 FROM account WHERE code = 'scheme:settled'")
    ).scalar()
    if found is None or exists is not None:
        return
    account = sa.table(
        "account",
        sa.column("id", BIG_ID),
        sa.column("code", sa.String),
        sa.column("type", sa.String),
        sa.column("name", sa.String),
        sa.column("owner_ref", sa.String),
        sa.column("allow_negative", sa.Boolean),
        sa.column("slots", sa.SmallInteger),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    account_id = bind.execute(
        account.insert()
        .values(
            code="scheme:settled",
            type="settled",
            name="Credits settled with shops (paid for by the council)",
            owner_ref=None,
            allow_negative=True,
            slots=int(found),
            created_at=now,
        )
        .returning(account.c.id)
    ).scalar_one()
    balance = sa.table(
        "account_balance",
        sa.column("account_id", BIG_ID),
        sa.column("slot", sa.SmallInteger),
        sa.column("balance", sa.BigInteger),
        sa.column("allow_negative", sa.Boolean),
    )
    bind.execute(
        balance.insert(),
        [
            {"account_id": account_id, "slot": slot, "balance": 0, "allow_negative": True}
            for slot in range(int(found))
        ],
    )


def downgrade() -> None:
    # The settled account goes only if nothing was ever posted to it.
    bind = op.get_bind()
    unused = bind.execute(
        sa.text(
            "SELECT a.id FROM account a WHERE a.code = 'scheme:settled' "
            "AND NOT EXISTS (SELECT 1 FROM posting p WHERE p.account_id = a.id)"
        )
    ).scalar()
    if unused is not None:
        bind.execute(sa.text("DELETE FROM account_balance WHERE account_id = :a"), {"a": unused})
        bind.execute(sa.text("DELETE FROM account WHERE id = :a"), {"a": unused})
    op.drop_index('ix_bank_mismatch_settlement_line_id', table_name='bank_mismatch')
    op.drop_index('ix_bank_mismatch_found_at', table_name='bank_mismatch')
    op.drop_table('bank_mismatch')
    op.drop_index('ix_bank_line_settlement_line_id', table_name='bank_line')
    op.drop_index('ix_bank_line_import_id', table_name='bank_line')
    op.drop_index('ix_bank_line_counted_month', table_name='bank_line')
    op.drop_table('bank_line')
    op.drop_index('ix_settlement_line_shop_id', table_name='settlement_line')
    op.drop_table('settlement_line')
    op.drop_index('ix_settlement_run_month', table_name='settlement_run')
    op.drop_table('settlement_run')
    op.drop_index('ix_payee_shop_id', table_name='payee')
    op.drop_table('payee')
    op.drop_table('bank_import')
