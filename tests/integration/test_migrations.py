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
