"""PostgreSQL computes each entry's content hash itself.

``ledger_canonical_hash(...)`` builds the canonical text of credits/ledger/chain.py in SQL and
hashes it; ``ledger_post`` no longer takes the hash from the client. A use case whose postings
depend on rows it reads in the same statement (a redemption: the member's account comes from
the voucher row) can then post its entry in one round trip. `credits verify` still recomputes
every hash in Python, and tests compare the two implementations on random inputs.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

OLD_SIGNATURE = (
    "ledger_post(text, text, text, timestamptz, timestamptz, text, text, bigint, text, "
    "bigint[], bigint[], int)"
)
NEW_SIGNATURE = (
    "ledger_post(text, text, text, timestamptz, timestamptz, text, text, bigint, "
    "bigint[], bigint[], int, bigint)"
)

# The hash of an entry given its postings already written as "account:amount,..." in
# ascending account order. A single expression, so the planner inlines it: verify calls it
# once per entry with the postings aggregated in the same query.
CANONICAL_HASH_TEXT = r"""
CREATE FUNCTION ledger_canonical_hash_text(
    p_kind text, p_occurred_at timestamptz, p_recorded_at timestamptz, p_reverses bigint,
    p_memo text, p_actor text, p_idempotency_key text, p_postings text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- Must equal credits.ledger.chain.canonical_text, character for character.
    SELECT encode(sha256(convert_to(
        'cc-ledger/1|' || p_kind
        || '|' || ((extract(epoch FROM p_occurred_at) * 1000000)::numeric(30, 0))::text
        || '|' || ((extract(epoch FROM p_recorded_at) * 1000000)::numeric(30, 0))::text
        || '|' || coalesce(p_reverses::text, '-')
        || '|' || encode(sha256(convert_to(p_memo, 'UTF8')), 'hex')
        || '|' || encode(sha256(convert_to(p_actor, 'UTF8')), 'hex')
        || '|' || encode(sha256(convert_to(p_idempotency_key, 'UTF8')), 'hex')
        || '|' || p_postings, 'UTF8')), 'hex')
$$
"""

CANONICAL_HASH = r"""
CREATE FUNCTION ledger_canonical_hash(
    p_kind text, p_occurred_at timestamptz, p_recorded_at timestamptz, p_reverses bigint,
    p_memo text, p_actor text, p_idempotency_key text, p_accounts bigint[], p_amounts bigint[])
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ledger_canonical_hash_text(
        p_kind, p_occurred_at, p_recorded_at, p_reverses, p_memo, p_actor, p_idempotency_key,
        coalesce((SELECT string_agg(t.a::text || ':' || t.m::text, ',' ORDER BY t.a, t.m)
                  FROM unnest(p_accounts, p_amounts) AS t(a, m)), ''))
$$
"""

LEDGER_POST = r"""
CREATE FUNCTION ledger_post(
    p_kind text, p_memo text, p_actor text,
    p_occurred_at timestamptz, p_recorded_at timestamptz,
    p_idempotency_key text, p_request_hash text, p_reverses bigint,
    p_accounts bigint[], p_amounts bigint[], p_lane int, p_entry_id bigint DEFAULT NULL)
RETURNS TABLE (entry_id bigint, replayed boolean, request_hash text, hash text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_id bigint; v_req text; v_hash text; v_prev text; v_seq bigint; v_content text;
    v_slots smallint; v_slot smallint; i int;
BEGIN
    -- An idempotent retry: hand back the first entry; the caller compares request hashes.
    SELECT e.id, e.request_hash, e.hash INTO v_id, v_req, v_hash
      FROM journal_entry e WHERE e.idempotency_key = p_idempotency_key;
    IF FOUND THEN
        RETURN QUERY SELECT v_id, true, v_req, v_hash;
        RETURN;
    END IF;
    -- Balances in ascending account order (the caller sorts; a fixed lock order means two
    -- entries never wait on each other in a cycle). A floored account has one slot, and the
    -- conditional UPDATE is re-checked after any wait for a concurrent writer's lock.
    FOR i IN 1 .. coalesce(array_length(p_accounts, 1), 0) LOOP
        SELECT a.slots INTO v_slots FROM account a WHERE a.id = p_accounts[i];
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'CR003',
                MESSAGE = format('no account %s', p_accounts[i]);
        END IF;
        v_slot := CASE WHEN v_slots > 1 THEN floor(random() * v_slots)::smallint ELSE 0 END;
        UPDATE account_balance b SET balance = b.balance + p_amounts[i]
         WHERE b.account_id = p_accounts[i] AND b.slot = v_slot
           AND (b.allow_negative OR b.balance + p_amounts[i] >= 0);
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'CR001',
                MESSAGE = format('account %s does not hold %s credits', p_accounts[i], -p_amounts[i]),
                DETAIL = p_accounts[i]::text;
        END IF;
    END LOOP;
    v_content := ledger_canonical_hash(p_kind, p_occurred_at, p_recorded_at, p_reverses,
                                       p_memo, p_actor, p_idempotency_key, p_accounts, p_amounts);
    -- The chain lane last: it is the most contended row, so it is held for the least time.
    SELECT l.seq, l.head_hash INTO v_seq, v_prev FROM chain_lane l WHERE l.lane = p_lane FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no chain lane %', p_lane;
    END IF;
    v_seq := v_seq + 1;
    v_hash := encode(sha256(decode(v_prev, 'hex') || decode(v_content, 'hex')), 'hex');
    UPDATE chain_lane l SET seq = v_seq, head_hash = v_hash WHERE l.lane = p_lane;
    -- A caller that must name the entry before posting it (a redemption records it on the
    -- voucher in the claim itself) takes its id from the sequence and passes it here.
    INSERT INTO journal_entry (id, kind, memo, actor, occurred_at, recorded_at, idempotency_key,
                               request_hash, reverses_entry_id, lane, lane_seq, content_hash,
                               prev_hash, hash)
    VALUES (coalesce(p_entry_id, nextval('journal_entry_id_seq')), p_kind, p_memo, p_actor,
            p_occurred_at, p_recorded_at, p_idempotency_key,
            p_request_hash, p_reverses, p_lane, v_seq, v_content, v_prev, v_hash)
    RETURNING id INTO v_id;
    INSERT INTO posting (entry_id, account_id, amount)
    SELECT v_id, t.a, t.m FROM unnest(p_accounts, p_amounts) AS t(a, m);
    RETURN QUERY SELECT v_id, false, p_request_hash, v_hash;
END $$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP FUNCTION {OLD_SIGNATURE}")
    op.execute(CANONICAL_HASH_TEXT)
    op.execute(CANONICAL_HASH)
    op.execute(LEDGER_POST)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP FUNCTION {NEW_SIGNATURE}")
    op.execute(
        "DROP FUNCTION ledger_canonical_hash(text, timestamptz, timestamptz, bigint, text, "
        "text, text, bigint[], bigint[])"
    )
    op.execute(
        "DROP FUNCTION ledger_canonical_hash_text(text, timestamptz, timestamptz, bigint, text, "
        "text, text, text)"
    )
    # Re-create the 0001 function (it is defined there).
    import importlib.util
    from pathlib import Path

    path = Path(__file__).with_name("0001_ledger_core.py")
    spec = importlib.util.spec_from_file_location("_rev0001", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    op.execute(module.POSTGRES_UP[0])
