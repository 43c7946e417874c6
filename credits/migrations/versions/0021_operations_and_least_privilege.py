"""Operations and least privilege: the record of maintenance runs (``maintenance_run``), and
on PostgreSQL the two SECURITY DEFINER functions an app role without UPDATE on the journal
needs (credits/privileges.py):

- ``ledger_lock_journal()`` takes the month close's ``SHARE`` lock on ``journal_entry``
  (PostgreSQL grants that lock mode only to roles that may UPDATE, DELETE or TRUNCATE the
  table, which the app role may not);
- ``audit_redact_person(person, everywhere[], own[], pseudonym)`` replaces a departed
  member's personal data in the audit log with their pseudonym (credits/accounts/erasure.py):
  the only change an audit event may ever undergo, and each call appends an ``audit.redact``
  event of its own. The append-only trigger lets an UPDATE
  through only while this function runs (a transaction-local flag it sets) and only if the
  event's who/what/when columns are untouched; the app role has no UPDATE privilege on the
  table, so the function is its only way in.

Both are owned by the role that runs the migration (the owner) and run with a fixed
``search_path``. `credits init-db` grants EXECUTE on them to ``CREDITS_DB_APP_ROLE``.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def _postgres_up(schema: str) -> list[str]:
    path = f'"{schema}", pg_temp'
    return [
        f"""
CREATE FUNCTION ledger_lock_journal() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = {path} AS $$
BEGIN
    -- Held until the caller's transaction ends (the month close's commit).
    LOCK TABLE journal_entry IN SHARE MODE;
END $$
""",
        """
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND current_setting('credits.audit_redaction', true) = 'on' THEN
        -- audit_redact_person() is running: it may rewrite details and target only.
        IF NEW.id = OLD.id AND NEW.occurred_at = OLD.occurred_at AND NEW.actor = OLD.actor
           AND NEW.actor_person_id IS NOT DISTINCT FROM OLD.actor_person_id
           AND NEW.via = OLD.via AND NEW.action = OLD.action THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'CR005',
        MESSAGE = format('%s is append-only: %s refused', TG_TABLE_NAME, TG_OP);
END $$
""",
        f"""
CREATE FUNCTION audit_redact_person(
    p_person_id bigint, p_everywhere text[], p_own text[], p_pseudonym text)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = {path} AS $$
DECLARE
    v_count integer := 0; r record; v_details text; v_target text; n text;
BEGIN
    -- Never a blanket rewrite: each string to replace is at least 3 characters, and the
    -- pseudonym is plain text that cannot break the JSON it is written into.
    IF p_pseudonym IS NULL OR p_pseudonym !~ '^[A-Za-z0-9 #:._-]{{3,60}}$'
       OR EXISTS (SELECT 1 FROM unnest(p_everywhere || p_own) x WHERE length(x) < 3) THEN
        RAISE EXCEPTION 'audit_redact_person: refused arguments';
    END IF;
    PERFORM set_config('credits.audit_redaction', 'on', true);
    FOR r IN
        SELECT e.id, e.details::text AS details, e.target_ref,
               (e.actor_person_id = p_person_id
                OR e.target_ref = 'person:' || p_person_id) AS own
          FROM audit_event e
         WHERE e.actor_person_id = p_person_id
            OR e.target_ref = 'person:' || p_person_id
            OR EXISTS (SELECT 1 FROM unnest(p_everywhere) x
                        WHERE strpos(e.details::text, x) > 0
                           OR strpos(coalesce(e.target_ref, ''), x) > 0)
         ORDER BY e.id
           FOR UPDATE
    LOOP
        v_details := r.details;
        v_target := r.target_ref;
        FOREACH n IN ARRAY p_everywhere LOOP
            v_details := replace(v_details, n, p_pseudonym);
            v_target := replace(v_target, n, p_pseudonym);
        END LOOP;
        IF r.own THEN
            -- Their name only in events about them (a short name is too common a
            -- string elsewhere), and the addresses they connected from.
            FOREACH n IN ARRAY p_own LOOP
                v_details := replace(v_details, n, p_pseudonym);
            END LOOP;
            v_details := (v_details::jsonb - 'ip')::text;
        END IF;
        IF v_details IS DISTINCT FROM r.details OR v_target IS DISTINCT FROM r.target_ref THEN
            UPDATE audit_event SET details = v_details::json, target_ref = v_target
             WHERE id = r.id;
            v_count := v_count + 1;
        END IF;
    END LOOP;
    PERFORM set_config('credits.audit_redaction', 'off', true);
    -- Every call leaves its own trace, whoever made it.
    INSERT INTO audit_event (occurred_at, actor, actor_person_id, via, action, target_ref,
                             details)
    VALUES (now(), 'system:audit_redact_person', NULL, '', 'audit.redact',
            'person:' || p_person_id, json_build_object('events', v_count));
    RETURN v_count;
END $$
""",
    ]


POSTGRES_DOWN = [
    "DROP FUNCTION IF EXISTS audit_redact_person(bigint, text[], text[], text)",
    "DROP FUNCTION IF EXISTS ledger_lock_journal()",
    """
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'CR005',
        MESSAGE = format('%s is append-only: %s refused', TG_TABLE_NAME, TG_OP);
END $$
""",
]


def upgrade() -> None:
    op.create_table(
        "maintenance_run",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('verify', 'backup', 'restore')", name=op.f("ck_maintenance_run_kind")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_maintenance_run")),
    )
    op.create_index(
        "ix_maintenance_run_kind_finished_at", "maintenance_run", ["kind", "finished_at"]
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        schema = bind.execute(sa.text("SELECT current_schema()")).scalar_one()
        for statement in _postgres_up(schema):
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRES_DOWN:
            op.execute(statement)
    op.drop_index("ix_maintenance_run_kind_finished_at", table_name="maintenance_run")
    op.drop_table("maintenance_run")
