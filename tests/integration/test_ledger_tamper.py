"""Rule 2 and 6: entries are append-only; any edited row is detected by `credits verify`."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from credits import ledger
from credits.cli import main as cli
from credits.ledger import EntryKind as K
from tests.conftest import admin_engine

from .ledger_helpers import all_ok, open_member, post, scheme


@pytest.fixture
def history(db):
    issuance, ann = scheme(db, ledger.ISSUANCE), open_member(db, "ann")
    # Not vouchers outstanding: `credits verify` also checks that account against the voucher
    # table, and a bare voucher_issue entry without its voucher is (rightly) reported.
    adjustments = scheme(db, ledger.ADJUSTMENTS)
    entries = [post(db, K.EARN, {issuance: -10, ann: 10}, f"e{i}") for i in range(6)]
    entries.append(post(db, K.ADJUSTMENT, {ann: -7, adjustments: 7}, "v"))
    assert all_ok(db) == []
    return entries, ann


def raw(db, sql, **params):
    """Edit the database behind the ledger's back (on PostgreSQL as the superuser, triggers
    bypassed, as someone with direct access to the server could; the app's role cannot)."""
    engine = admin_engine() if db.dialect == "postgresql" else db.engine
    with engine.begin() as conn:
        if db.dialect == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text(sql), params)


def test_verify_passes_on_an_honest_ledger(runner, history):
    result = runner.invoke(cli, ["verify"])
    assert result.exit_code == 0, result.output
    assert "hash_chain" in result.output and "all checks passed" in result.output


@pytest.fixture(params=[[], ["--thorough"]], ids=["default", "thorough"])
def verify_args(request):
    """`credits verify` with the default check (in SQL on PostgreSQL) and with --thorough."""
    return request.param


def test_an_edited_posting_is_named_by_verify(db, runner, history, verify_args):
    entries, ann = history
    target = entries[3]
    # Move 5 credits within the entry: it still balances, the balances still match...
    raw(
        db,
        "UPDATE posting SET amount = amount + 5 WHERE entry_id = :e AND account_id = :a",
        e=target.id,
        a=ann,
    )
    raw(
        db,
        "UPDATE posting SET amount = amount - 5 WHERE entry_id = :e AND account_id <> :a",
        e=target.id,
        a=ann,
    )
    raw(db, "UPDATE account_balance SET balance = balance + 5 WHERE account_id = :a", a=ann)
    raw(
        db,
        "UPDATE account_balance SET balance = balance - 5 WHERE account_id = "
        "(SELECT id FROM account WHERE code = 'scheme:issuance') AND slot = 0",
    )
    # ...but the hash chain names the entry.
    result = runner.invoke(cli, ["verify", *verify_args])
    assert result.exit_code == 1, result.output
    assert f"entry {target.id}: content does not match its hash" in result.output
    assert "FAIL hash_chain" in result.output


def test_an_edited_memo_a_deleted_entry_and_a_skewed_balance_are_all_reported(
    db, runner, history, verify_args
):
    entries, ann = history
    raw(db, "UPDATE journal_entry SET memo = 'nothing to see' WHERE id = :e", e=entries[1].id)
    raw(db, "DELETE FROM posting WHERE entry_id = :e", e=entries[5].id)
    raw(db, "DELETE FROM journal_entry WHERE id = :e", e=entries[5].id)
    raw(db, "UPDATE account_balance SET balance = balance + 1 WHERE account_id = :a", a=ann)
    result = runner.invoke(cli, ["verify", "--json", *verify_args])
    assert result.exit_code == 1
    import json

    report = {c["name"]: c for c in json.loads(result.output)["checks"]}
    assert any(f"entry {entries[1].id}:" in p for p in report["hash_chain"]["problems"])
    assert not report["balances_match_postings"]["ok"]
    # The deleted entry breaks its lane: the next entry or the lane head no longer matches.
    assert report["hash_chain"]["problem_count"] >= 2


def test_an_unbalanced_entry_is_reported(db, history):
    entries, ann = history
    raw(
        db,
        "UPDATE posting SET amount = amount + 1 WHERE entry_id = :e AND account_id = :a",
        e=entries[0].id,
        a=ann,
    )
    with db.read() as s:
        results = {r.name: r for r in ledger.run_checks(s)}
    assert results["entries_balanced"].problems == [
        f"entry {entries[0].id}: 2 postings summing to 1"
    ]


@pytest.mark.postgres
def test_a_negative_member_is_reported(db, history):
    """Only reachable by removing the database's own floor (SQLite cannot drop a CHECK)."""
    _, ann = history
    raw(db, "ALTER TABLE account_balance DROP CONSTRAINT ck_account_balance_floor")
    try:
        raw(db, "UPDATE account_balance SET balance = -3 WHERE account_id = :a", a=ann)
        with db.read() as s:
            results = {r.name: r for r in ledger.run_checks(s)}
        assert any("is negative: -3" in p for p in results["floors_respected"].problems)
    finally:
        raw(db, "UPDATE account_balance SET balance = 0 WHERE account_id = :a", a=ann)
        raw(
            db,
            "ALTER TABLE account_balance ADD CONSTRAINT ck_account_balance_floor "
            "CHECK (allow_negative OR balance >= 0)",
        )


@pytest.mark.postgres
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE posting SET amount = amount + 1",
        "DELETE FROM posting",
        "UPDATE journal_entry SET memo = 'x'",
        "DELETE FROM journal_entry",
        "TRUNCATE journal_entry CASCADE",
    ],
)
def test_postgres_refuses_edits_outright(db, owner_db, history, sql):
    """Even the role that owns the tables (the app's role has no such privilege at all:
    test_privileges.py)."""
    with pytest.raises(DBAPIError, match="append-only"), owner_db.engine.begin() as conn:
        conn.execute(text(sql))
    assert all_ok(db) == []


@pytest.mark.postgres
def test_postgres_refuses_an_unbalanced_entry_at_commit(db, history):
    """Written around the ledger with raw SQL: the deferred trigger fires at COMMIT."""
    entries, ann = history
    with db.engine.connect() as conn:
        conn.execute(
            text(
                "INSERT INTO journal_entry (kind, memo, actor, occurred_at, recorded_at, "
                "idempotency_key, request_hash, lane, lane_seq, content_hash, prev_hash, hash) "
                "VALUES ('adjustment', 'x', 'x', now(), now(), 'raw', '', 0, 999, '', '', '')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO posting (entry_id, account_id, amount) "
                "SELECT id, :a, 5 FROM journal_entry WHERE idempotency_key = 'raw'"
            ),
            {"a": ann},
        )
        # Still inside the transaction: the deferred check has not run yet.
        with pytest.raises(DBAPIError, match="does not balance"):
            conn.commit()
    # A posting slipped into an old entry is refused the same way.
    with db.engine.connect() as conn:
        conn.execute(
            text("INSERT INTO posting (entry_id, account_id, amount) VALUES (:e, :a, 1)"),
            {"e": entries[0].id, "a": scheme(db, ledger.ADJUSTMENTS)},
        )
        with pytest.raises(DBAPIError, match="does not balance"):
            conn.commit()
    assert all_ok(db) == []


@pytest.mark.postgres
def test_postgres_refuses_a_backdated_entry_written_around_the_ledger(db, owner_db, history):
    from datetime import UTC, datetime

    db.run(
        lambda s: ledger.close_month(
            s, ledger.Month(2026, 1), closed_by="o", now=datetime(2026, 2, 1, 12, tzinfo=UTC)
        )
    )
    with pytest.raises(DBAPIError, match="is closed"), db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO journal_entry (kind, memo, actor, occurred_at, recorded_at, "
                "idempotency_key, request_hash, lane, lane_seq, content_hash, prev_hash, hash) "
                "VALUES ('adjustment', 'x', 'x', '2026-01-31 23:30+00', now(), 'raw', '', "
                "0, 999, '', '', '')"
            )
        )
    with pytest.raises(DBAPIError, match="append-only"), owner_db.engine.begin() as conn:
        conn.execute(text("DELETE FROM closed_period"))


def test_sql_and_python_chain_checks_report_the_same_problems(db, history):
    """On PostgreSQL the default check runs in SQL; it must say exactly what Python says."""
    entries, _ = history
    raw(db, "UPDATE journal_entry SET memo = 'x' WHERE id = :e", e=entries[2].id)
    raw(db, "UPDATE journal_entry SET prev_hash = 'zz' WHERE id = :e", e=entries[4].id)
    raw(
        db,
        "UPDATE chain_lane SET seq = seq + 1 "
        "WHERE lane = (SELECT lane FROM journal_entry WHERE id = :e)",
        e=entries[0].id,
    )
    with db.read() as s:
        default = ledger.verify.check_hash_chain(s)
        python = ledger.verify.check_hash_chain_in_python(s)
    assert sorted(default.problems) == sorted(python.problems)
    assert default.checked == python.checked == len(entries)
    assert any(f"entry {entries[2].id}: content" in p for p in default.problems)
    assert any(f"entry {entries[4].id}: chain hash" in p for p in default.problems)
    assert any("head says" in p for p in default.problems)
