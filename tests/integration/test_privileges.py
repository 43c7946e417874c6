"""Least privilege (credits/privileges.py): the app's role can post, but cannot rewrite.

The whole PostgreSQL leg runs as an app role made the way production makes it (conftest);
here a raw connection as that role tries everything it must not be able to do.
"""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors
from sqlalchemy import text
from sqlalchemy.engine import make_url

from credits import ledger
from credits.cli import main as cli
from credits.privileges import APPEND_ONLY_TABLES, BadRoleName, setup_statements

from .ledger_helpers import open_member, post, scheme

pytestmark = pytest.mark.postgres


@pytest.fixture
def app_conn(test_database):
    """A raw psycopg connection as the app's role."""
    url = make_url(test_database.url)
    conn = psycopg.connect(
        host=url.host, port=url.port, user=url.username, dbname=url.database, autocommit=True
    )
    yield conn
    conn.close()


@pytest.fixture
def entries(db):
    issuance, ann = scheme(db, ledger.ISSUANCE), open_member(db, "ann")
    return [post(db, ledger.EntryKind.EARN, {issuance: -5, ann: 5}, f"e{i}") for i in range(3)]


REFUSED = [
    "UPDATE posting SET amount = amount + 1",
    "DELETE FROM posting",
    "UPDATE journal_entry SET memo = 'x'",
    "DELETE FROM journal_entry",
    "TRUNCATE journal_entry CASCADE",
    "TRUNCATE account_balance",
    "UPDATE closed_period SET closed_by = 'x'",
    "DELETE FROM month_balance",
    "UPDATE audit_event SET action = 'x'",
    "DELETE FROM audit_event",
    "UPDATE alembic_version SET version_num = 'x'",
    "ALTER TABLE posting DISABLE TRIGGER ALL",
    "ALTER TABLE journal_entry DISABLE TRIGGER journal_entry_append_only",
    "DROP TRIGGER journal_entry_append_only ON journal_entry",
    "ALTER TABLE journal_entry ADD COLUMN note text",
    "ALTER TABLE account_balance DROP CONSTRAINT ck_account_balance_floor",
    "DROP TABLE posting",
    "CREATE TABLE shadow (id int)",
    "SET session_replication_role = replica",
    "LOCK TABLE journal_entry IN SHARE MODE",
    "CREATE OR REPLACE FUNCTION ledger_refuse_change() RETURNS trigger "
    "LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
]


@pytest.mark.parametrize("sql", REFUSED)
def test_the_app_role_is_refused(app_conn, entries, db, sql):
    before = _fingerprint(db)
    with pytest.raises(errors.InsufficientPrivilege), app_conn.transaction():
        app_conn.execute(sql)
    assert _fingerprint(db) == before


def _fingerprint(db):
    with db.read() as s:
        return s.execute(
            text(
                "SELECT (SELECT count(*) FROM journal_entry), (SELECT count(*) FROM posting), "
                "(SELECT sum(amount) FILTER (WHERE amount > 0) FROM posting), "
                "(SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal AND tgenabled = 'O')"
            )
        ).one()


def test_the_app_role_posts_and_locks_the_journal_through_its_function(app_conn, entries, db):
    """What it needs beyond plain privileges is one SECURITY DEFINER function per need."""
    with app_conn.transaction():
        app_conn.execute("SELECT ledger_lock_journal()")
        mode = app_conn.execute(
            "SELECT mode FROM pg_locks WHERE relation = 'journal_entry'::regclass "
            "AND pid = pg_backend_pid()"
        ).fetchall()
        assert ("ShareLock",) in mode
    row = app_conn.execute(
        "SELECT current_user, rolsuper, pg_get_userbyid(relowner) "
        "FROM pg_roles, pg_class WHERE rolname = current_user AND relname = 'posting'"
    ).fetchone()
    assert row[1] is False and row[2] != row[0], "the app role must not own the tables"
    # Everything else the suite does (posting, redeeming, closing months) ran as this role.
    assert len(entries) == 3


def test_every_append_only_trigger_is_backed_by_a_privilege(db):
    with db.read() as s:
        guarded = {
            t
            for (t,) in s.execute(
                text(
                    "SELECT c.relname FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid "
                    "WHERE g.tgname LIKE '%\\_append_only'"
                )
            )
        }
        updatable = {
            t
            for (t,) in s.execute(
                text(
                    "SELECT table_name FROM information_schema.role_table_grants "
                    "WHERE grantee = current_user AND privilege_type IN ('UPDATE', 'DELETE')"
                )
            )
        }
    assert guarded == set(APPEND_ONLY_TABLES)
    assert not guarded & updatable


def test_init_db_as_the_app_role_is_refused(runner):
    """Grants are given by the owner; the app role cannot hand itself anything."""
    result = runner.invoke(cli, ["init-db"], env={"CREDITS_DB_APP_ROLE": "someone_else"})
    assert result.exit_code == 2
    assert "run `credits init-db` as the owner role" in result.output


def test_db_roles_prints_reviewable_sql_and_refuses_bad_names(runner):
    result = runner.invoke(cli, ["db-roles", "--owner", "c_owner", "--app", "c_app", "--print-sql"])
    assert result.exit_code == 0, result.output
    assert "CREATE ROLE c_app LOGIN NOSUPERUSER" in result.output
    assert "REVOKE UPDATE, DELETE ON journal_entry, posting" in result.output
    bad = runner.invoke(cli, ["db-roles", "--owner", "x; DROP TABLE posting", "--app", "c_app"])
    assert bad.exit_code == 2 and "not a usable role name" in bad.output
    with pytest.raises(BadRoleName):
        setup_statements(owner="same", app="same", database="d")


def test_db_roles_needs_a_superuser(runner):
    result = runner.invoke(cli, ["db-roles", "--owner", "c_owner", "--app", "c_app"])
    assert result.exit_code == 2 and "superuser" in result.output
