"""PostgreSQL: an online redemption in one statement, ``redeem_voucher(...)``.

The same use case as credits.redemption.service.redeem (which stays the reference, runs on
SQLite, and handles offline submissions and refusals): re-check the terminal's token (so a
revoked token stops at once even where the app caches tokens), replay by idempotency key,
claim the open voucher, post its closing entry through ledger_post (vouchers outstanding
−face, shop +amount, member +change; the entry's request fingerprint built exactly as
credits.ledger.posting.request_fingerprint builds it), record the redemption. One round trip
instead of eight.

Revision ID: 0012
Revises: 0009
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0009"
branch_labels = None
depends_on = None

REDEEM_VOUCHER = r"""
CREATE FUNCTION redeem_voucher(
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
            v_state := 'expired';
        ELSIF v_state = 'cancelled' THEN
            v_state := 'voucher_cancelled';
        ELSIF v_state = 'redeemed' THEN
            RETURN QUERY SELECT 'already_redeemed', x.id::text, x.voucher_id::text, x.amount,
                    x.change, x.shop_id, x.redeemed_at, x.terminal_id, s.name::text,
                    NULL::boolean, NULL::boolean
                FROM redemption x JOIN shop s ON s.id = x.shop_id
               WHERE x.voucher_id = p_voucher_id;
            IF NOT FOUND THEN
                RETURN QUERY SELECT 'already_redeemed', NULL::text, p_voucher_id, NULL::int,
                    NULL::int, NULL::bigint, NULL::timestamptz, NULL::bigint, NULL::text,
                    NULL::boolean, NULL::boolean;
            END IF;
            RETURN;
        ELSE
            v_state := 'expired';  -- closed by the expiry run: its value went back
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
    if op.get_bind().dialect.name == "postgresql":
        # redeem_voucher records the closing entry on the voucher before posting it.
        op.execute(
            "ALTER TABLE voucher ALTER CONSTRAINT fk_voucher_closed_entry_id_journal_entry "
            "DEFERRABLE INITIALLY DEFERRED"
        )
        op.execute(REDEEM_VOUCHER)
    else:
        # SQLite posts in Python and never needs the deferral; the table is rebuilt only so
        # that both databases hold the schema the models describe.
        with op.batch_alter_table("voucher", recreate="always") as batch:
            batch.drop_constraint("fk_voucher_closed_entry_id_journal_entry", type_="foreignkey")
            batch.create_foreign_key(
                "fk_voucher_closed_entry_id_journal_entry",
                "journal_entry",
                ["closed_entry_id"],
                ["id"],
                deferrable=True,
                initially="DEFERRED",
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "DROP FUNCTION redeem_voucher(text, bigint, text, int, int, text, text, text, "
            "timestamptz, text, text, text, bigint, int)"
        )
        op.execute(
            "ALTER TABLE voucher ALTER CONSTRAINT fk_voucher_closed_entry_id_journal_entry "
            "NOT DEFERRABLE"
        )
