"""The migrations and the models describe the same schema."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import credits.models  # noqa: F401
from credits.db import migration_state


def test_models_match_the_migrated_schema(db):
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, SQLModel.metadata)
    assert diff == [], "a model changed without a migration (alembic revision --autogenerate)"


def test_database_is_at_head(db):
    current, heads = migration_state(db.engine)
    assert current == heads and len(heads) == 1


def test_0018_keeps_exceptions_paid_before_it_and_marks_the_extra_ones_overpaid(tmp_path):
    """Before 0018 one voucher could be paid as an exception again and again (issue 12): the
    upgrade keeps every posted payment, the earliest per voucher as ``paid`` and the rest as
    ``overpaid``, so the one-paying-claim index can be built over real data."""
    import sqlite3

    from alembic import command

    from credits.db import alembic_config

    path = tmp_path / "before-0018.db"
    cfg = alembic_config(f"sqlite:///{path}")
    command.upgrade(cfg, "0017")
    conn = sqlite3.connect(path)  # foreign keys off: only the rows the upgrade reads
    rows = [
        ("a" * 32, "v1", "2026-11-01 10:00:00", 1),
        ("b" * 32, "v1", "2026-11-01 11:00:00", 2),
        ("c" * 32, "v1", "2026-11-01 12:00:00", 3),
        ("d" * 32, "v2", "2026-11-02 10:00:00", 4),
    ]
    conn.executemany(
        "INSERT INTO redemption_exception (id, voucher_id, shop_id, terminal_id, person_id,"
        " amount, reason, detail, offline_accepted_at, submitted_at, entry_id, idempotency_key,"
        " request_hash) VALUES (?, ?, 1, 1, 1, 4, 'already_redeemed', 'd', ?, ?, ?, ?, 'h')",
        [(i, v, at, at, e, f"k{e}") for i, v, at, e in rows],
    )
    conn.commit()
    conn.close()
    command.upgrade(cfg, "head")
    conn = sqlite3.connect(path)
    found = conn.execute(
        "SELECT voucher_id, status, paid_at IS NOT NULL FROM redemption_exception ORDER BY id"
    ).fetchall()
    conn.close()
    assert found == [
        ("v1", "paid", 1),
        ("v1", "overpaid", 1),
        ("v1", "overpaid", 1),
        ("v2", "paid", 1),
    ]
