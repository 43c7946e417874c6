"""The language a person reads the scheme in (``person.language``): the pages they see when
signed in and the emails sent to them. NULL until they choose one or use the site (the pages
then follow their browser's Accept-Language, and emails go out in English). The values are
checked in Python (credits.i18n.LANGUAGES), not by a CHECK, so that offering a new language
needs no migration.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("person") as batch:
        batch.add_column(sa.Column("language", sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("person") as batch:
        batch.drop_column("language")
