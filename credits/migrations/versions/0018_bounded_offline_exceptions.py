"""Offline exceptions bounded (issue 12, item 1; docs/redemption.md, "The bounding rule").

- ``redemption_exception`` records every offline claim on a voucher that was no longer open,
  whatever became of it: ``status`` (paid, held, refused, declined; ``overpaid`` for the
  extra payments made before this rule), ``rule`` (why refused or held), ``paid_at``, an
  officer's decision on a held claim; ``entry_id`` is set only when paid. At most one claim
  per voucher pays or may pay: a unique partial index.
- ``redemption_refusal``: the first online refusal, per shop and voucher, of a closed voucher
  (the ledger told that shop it was spent), written by both redemption paths.
- ``terminal``: its monthly exception ceiling (3 exceptions / 60 credits by default) and
  ``spent_list_at``, the ``as_of`` of the last spent list the ledger gave it.
- ``voucher``: an index for the terminals' spent list (closed since a time).
- PostgreSQL: ``redeem_voucher`` (migration 0012) replaced, same signature, to record its
  refusals of closed vouchers in ``redemption_refusal``.

Exceptions paid before this rule stay as they were posted (posted entries are never
changed): the earliest per voucher is ``paid``, any later one ``overpaid`` — listed for
officers to recover from the shop.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_PAYING = "status IN ('paid', 'held')"
_SPENT = "state IN ('redeemed', 'cancelled')"

# The one-statement online redemption of migration 0012, unchanged but for the refusals of a
# closed voucher, which it now records (rule 4 of docs/redemption.md).
REDEEM_VOUCHER = r"""
CREATE OR REPLACE FUNCTION redeem_voucher(
    p_token_hash text, p_terminal_id bigint, p_voucher_id text, p_code_face int,
    p_amount int, p_key text, p_request_hash text, p_actor text, p_now timestamptz,
    p_redemption_id text, p_memo text, p_memo_json text, p_outstanding bigint, p_lane int)
RETURNS TABLE (outcome text, id text, voucher_id text, amount int, change int,
               shop_id bigint, redeemed_at timestamptz, terminal_id bigint, shop_name text,
               is_offline boolean, is_reversed boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_shop bigint; v_shop_account bigint; v_shop_name text;
    v_member bigint; v_face int; v_state text; v_change int;
    v_accounts bigint[]; v_amounts bigint[]; v_fingerprint text;
    v_entry bigint := nextval('journal_entry_id_seq'); v_replayed boolean;
    r redemption%ROWTYPE;
BEGIN
    -- The token must still be live: revocation stops redemptions at once.
    SELECT t.shop_id, s.ledger_account_id, s.name INTO v_shop, v_shop_account, v_shop_name
      FROM api_token a JOIN terminal t ON t.id = a.terminal_id JOIN shop s ON s.id = t.shop_id
     WHERE a.token_hash = p_token_hash AND a.revoked_at IS NULL AND a.terminal_id = p_terminal_id
       AND t.active AND s.active;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unauthorized', NULL::text, NULL::text, NULL::int, NULL::int,
            NULL::bigint, NULL::timestamptz, NULL::bigint, NULL::text, NULL::boolean, NULL::boolean;
        RETURN;
    END IF;

    FOR attempt IN 1 .. 2 LOOP
        -- A retry with this terminal's key: the first answer, or a conflict.
        SELECT * INTO r FROM redemption x WHERE x.idempotency_key = p_key;
        IF FOUND THEN
            RETURN QUERY SELECT CASE WHEN r.request_hash = p_request_hash THEN 'replayed'
                                     ELSE 'conflict' END,
                r.id::text, r.voucher_id::text, r.amount, r.change, r.shop_id, r.redeemed_at,
                r.terminal_id, v_shop_name, r.offline_accepted_at IS NOT NULL,
                r.reversed_at IS NOT NULL;
            RETURN;
        END IF;
        IF EXISTS (SELECT 1 FROM redemption_exception e WHERE e.idempotency_key = p_key) THEN
            RETURN QUERY SELECT 'python', NULL::text, NULL::text, NULL::int, NULL::int,
                NULL::bigint, NULL::timestamptz, NULL::bigint, NULL::text, NULL::boolean,
                NULL::boolean;
            RETURN;
        END IF;
        -- Claim it: the one conditional UPDATE that closes a voucher exactly once.
        -- Its closing entry's id is taken from the sequence first and recorded here at once
        -- (the foreign key is checked at commit, when the entry exists).
        UPDATE voucher v SET state = 'redeemed', closed_at = p_now, closed_by = p_actor,
                             closed_entry_id = v_entry
         WHERE v.id = p_voucher_id AND v.state = 'open' AND v.expires_at > p_now
        RETURNING v.account_id, v.face_value INTO v_member, v_face;
        EXIT WHEN FOUND;
        -- Not open: unless the same key won meanwhile (loop once more to replay it), say why.
        IF attempt = 1 AND EXISTS (SELECT 1 FROM redemption x WHERE x.idempotency_key = p_key) THEN
            CONTINUE;
        END IF;
        SELECT v.state INTO v_state FROM voucher v WHERE v.id = p_voucher_id;
        IF NOT FOUND THEN
            v_state := 'not_found';
        ELSIF v_state = 'open' THEN
            v_state := 'expired';  -- past its expiry but not closed: nothing to record
        ELSE
            v_state := CASE v_state WHEN 'cancelled' THEN 'voucher_cancelled'
                                    WHEN 'redeemed' THEN 'already_redeemed'
                                    ELSE 'expired' END;  -- closed by the expiry run
            -- The ledger tells this shop the voucher is closed: an offline claim of it from
            -- this shop afterwards is refused (docs/redemption.md, rule 4).
            INSERT INTO redemption_refusal (voucher_id, shop_id, terminal_id, code, refused_at)
            VALUES (p_voucher_id, v_shop, p_terminal_id, v_state, p_now)
            ON CONFLICT ON CONSTRAINT pk_redemption_refusal DO NOTHING;
            IF v_state = 'already_redeemed' THEN
                RETURN QUERY SELECT 'already_redeemed', x.id::text, x.voucher_id::text,
                        x.amount, x.change, x.shop_id, x.redeemed_at, x.terminal_id,
                        s.name::text, NULL::boolean, NULL::boolean
                    FROM redemption x JOIN shop s ON s.id = x.shop_id
                   WHERE x.voucher_id = p_voucher_id;
                IF NOT FOUND THEN
                    RETURN QUERY SELECT 'already_redeemed', NULL::text, p_voucher_id, NULL::int,
                        NULL::int, NULL::bigint, NULL::timestamptz, NULL::bigint, NULL::text,
                        NULL::boolean, NULL::boolean;
                END IF;
                RETURN;
            END IF;
        END IF;
        RETURN QUERY SELECT v_state, NULL::text, p_voucher_id, NULL::int, NULL::int,
            NULL::bigint, NULL::timestamptz, NULL::bigint, NULL::text, NULL::boolean,
            NULL::boolean;
        RETURN;
    END LOOP;

    IF v_face <> p_code_face THEN
        RAISE EXCEPTION 'voucher % is worth % in the ledger but % in its code',
            p_voucher_id, v_face, p_code_face;
    END IF;
    IF p_amount < 1 OR p_amount > v_face THEN
        RAISE EXCEPTION 'amount % outside 1..% (checked by the caller)', p_amount, v_face;
    END IF;
    v_change := v_face - p_amount;

    -- The entry's postings in ascending account order, and its request fingerprint exactly
    -- as credits.ledger.posting.request_fingerprint builds it.
    SELECT array_agg(t.a ORDER BY t.a), array_agg(t.m ORDER BY t.a),
           encode(sha256(convert_to(
               '{"kind":"redeem","memo":' || p_memo_json || ',"postings":['
               || string_agg('[' || t.a || ',' || t.m || ']', ',' ORDER BY t.a, t.m)
               || '],"reverses"\:null}', 'UTF8')), 'hex')
      INTO v_accounts, v_amounts, v_fingerprint
      FROM (VALUES (p_outstanding, -v_face::bigint), (v_shop_account, p_amount::bigint),
                   (v_member, v_change::bigint)) AS t(a, m)
     WHERE t.m <> 0;

    SELECT lp.replayed INTO v_replayed
      FROM ledger_post('redeem', p_memo, p_actor, p_now, p_now, 'voucher-close:' || p_voucher_id,
                       v_fingerprint, NULL, v_accounts, v_amounts, p_lane, v_entry) lp;
    IF v_replayed THEN
        RAISE EXCEPTION 'voucher % already has a closing entry', p_voucher_id;
    END IF;
    INSERT INTO redemption (id, voucher_id, shop_id, terminal_id, face_value, amount, change,
                            redeemed_at, entry_id, idempotency_key, request_hash, actor)
    VALUES (p_redemption_id, p_voucher_id, v_shop, p_terminal_id, v_face, p_amount, v_change,
            p_now, v_entry, p_key, p_request_hash, p_actor);
    -- The terminal was seen (at most one write a minute).
    UPDATE terminal t SET last_seen_at = p_now
     WHERE t.id = p_terminal_id AND (t.last_seen_at IS NULL OR t.last_seen_at < p_now - interval '1 minute');
    RETURN QUERY SELECT 'redeemed', p_redemption_id, p_voucher_id, p_amount, v_change, v_shop,
        p_now, p_terminal_id, v_shop_name, false, false;
END $$
"""


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"

    with op.batch_alter_table("terminal") as batch:
        batch.add_column(
            sa.Column("exceptions_per_month", sa.Integer(), nullable=False, server_default="3")
        )
        batch.add_column(
            sa.Column(
                "exception_credits_per_month", sa.Integer(), nullable=False, server_default="60"
            )
        )
        batch.add_column(sa.Column("spent_list_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_check_constraint(
            op.f("ck_terminal_exceptions_per_month_range"),
            "exceptions_per_month BETWEEN 0 AND 10000",
        )
        batch.create_check_constraint(
            op.f("ck_terminal_exception_credits_per_month_range"),
            "exception_credits_per_month BETWEEN 0 AND 100000000",
        )

    with op.batch_alter_table("redemption_exception") as batch:
        batch.add_column(sa.Column("status", sa.String(length=10), nullable=True))
        batch.add_column(sa.Column("rule", sa.String(length=30), nullable=True))
        batch.add_column(sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("decided_by", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("decision_reason", sa.String(length=500), nullable=True))
        batch.alter_column("entry_id", existing_type=BIG_ID, nullable=True)
    # Every exception so far was paid. The earliest per voucher keeps "paid"; any later one
    # was the defect this revision closes: "overpaid", for officers to recover.
    op.execute(
        "UPDATE redemption_exception SET status = 'paid', paid_at = submitted_at "
        "WHERE status IS NULL"
    )
    op.execute(
        "UPDATE redemption_exception SET status = 'overpaid' WHERE EXISTS ("
        "SELECT 1 FROM redemption_exception e "
        "WHERE e.voucher_id = redemption_exception.voucher_id "
        "AND (e.submitted_at < redemption_exception.submitted_at "
        "OR (e.submitted_at = redemption_exception.submitted_at "
        "AND e.id < redemption_exception.id)))"
    )
    with op.batch_alter_table("redemption_exception") as batch:
        batch.alter_column("status", existing_type=sa.String(length=10), nullable=False)
        batch.create_check_constraint(
            op.f("ck_redemption_exception_status_known"),
            "status IN ('paid', 'held', 'refused', 'declined', 'overpaid')",
        )
        batch.create_check_constraint(
            op.f("ck_redemption_exception_paid_has_entry"),
            "(status IN ('paid', 'overpaid')) = (entry_id IS NOT NULL)",
        )
        batch.create_check_constraint(
            op.f("ck_redemption_exception_paid_at_with_entry"),
            "(entry_id IS NULL) = (paid_at IS NULL)",
        )
        batch.create_check_constraint(
            op.f("ck_redemption_exception_refusal_has_rule"),
            "status <> 'refused' OR rule IS NOT NULL",
        )
        batch.create_check_constraint(
            op.f("ck_redemption_exception_declined_is_decided"),
            "(status = 'declined') <= (decided_at IS NOT NULL)",
        )
    op.create_index(
        "uq_redemption_exception_voucher_id_paying",
        "redemption_exception",
        ["voucher_id"],
        unique=True,
        sqlite_where=sa.text(_PAYING),
        postgresql_where=sa.text(_PAYING),
    )
    op.create_index(
        "ix_redemption_exception_terminal_id_paid_at",
        "redemption_exception",
        ["terminal_id", "paid_at"],
    )

    op.create_table(
        "redemption_refusal",
        sa.Column("voucher_id", sa.String(length=32), nullable=False),
        sa.Column("shop_id", BIG_ID, autoincrement=False, nullable=False),
        sa.Column("terminal_id", BIG_ID, nullable=False),
        sa.Column("code", sa.String(length=30), nullable=False),
        sa.Column("refused_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "code IN ('already_redeemed', 'voucher_cancelled', 'expired')",
            name=op.f("ck_redemption_refusal_code_known"),
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shop.id"], name=op.f("fk_redemption_refusal_shop_id_shop")
        ),
        sa.ForeignKeyConstraint(
            ["terminal_id"],
            ["terminal.id"],
            name=op.f("fk_redemption_refusal_terminal_id_terminal"),
        ),
        sa.ForeignKeyConstraint(
            ["voucher_id"], ["voucher.id"], name=op.f("fk_redemption_refusal_voucher_id_voucher")
        ),
        sa.PrimaryKeyConstraint("voucher_id", "shop_id", name=op.f("pk_redemption_refusal")),
    )

    op.create_index(
        "ix_voucher_spent_closed_at",
        "voucher",
        ["closed_at", "id"],
        sqlite_where=sa.text(_SPENT),
        postgresql_where=sa.text(_SPENT),
    )

    if postgres:
        op.execute(REDEEM_VOUCHER)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        # Back to migration 0012's function (it records no refusals).
        import importlib.util
        from pathlib import Path

        path = Path(__file__).with_name("0012_redeem_in_one_statement.py")
        spec = importlib.util.spec_from_file_location("_revision_0012", path)
        assert spec is not None and spec.loader is not None
        previous = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(previous)
        op.execute(previous.REDEEM_VOUCHER.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
    op.drop_index("ix_voucher_spent_closed_at", table_name="voucher")
    op.drop_table("redemption_refusal")
    op.drop_index("ix_redemption_exception_terminal_id_paid_at", table_name="redemption_exception")
    op.drop_index("uq_redemption_exception_voucher_id_paying", table_name="redemption_exception")
    # Claims that paid nothing did not exist before this revision.
    op.execute("DELETE FROM redemption_exception WHERE entry_id IS NULL")
    with op.batch_alter_table("redemption_exception") as batch:
        for name in (
            "declined_is_decided",
            "refusal_has_rule",
            "paid_at_with_entry",
            "paid_has_entry",
            "status_known",
        ):
            batch.drop_constraint(op.f(f"ck_redemption_exception_{name}"), type_="check")
        batch.alter_column("entry_id", existing_type=BIG_ID, nullable=False)
        for column in ("decision_reason", "decided_by", "decided_at", "paid_at", "rule", "status"):
            batch.drop_column(column)
    with op.batch_alter_table("terminal") as batch:
        batch.drop_constraint(op.f("ck_terminal_exception_credits_per_month_range"), type_="check")
        batch.drop_constraint(op.f("ck_terminal_exceptions_per_month_range"), type_="check")
        for column in ("spent_list_at", "exception_credits_per_month", "exceptions_per_month"):
            batch.drop_column(column)
