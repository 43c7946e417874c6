"""Least privilege on PostgreSQL: an owner role that migrates, an app role that serves.

The **owner** owns the database, its schema and every table, trigger and function: it runs
`credits init-db` (Alembic) and nothing else. The **app** role is what the web workers, the
timers and the command line run as. It may read every table and insert into every table,
and update or delete only rows that the product itself updates (a voucher's state, a
balance, a session); it may not:

- UPDATE or DELETE a row of an append-only table (:data:`APPEND_ONLY_TABLES`: the journal,
  its postings, closed months, month snapshots, the audit log) — refused by privilege, before
  the table's own trigger would refuse it;
- TRUNCATE anything, ALTER or DROP a table, create or drop a trigger, disable one (only an
  owner can), or switch triggers off with ``session_replication_role`` (superuser only);
- change the schema's migration record (``alembic_version`` is read-only to it).

Two things the app needs beyond that are granted as SECURITY DEFINER functions owned by the
owner, each doing one thing: ``ledger_lock_journal()`` (the month close's SHARE lock on the
journal, which PostgreSQL grants only to roles that may UPDATE the table) and
``audit_redact_person(...)`` (erasing a departed member's personal data from the audit log;
credits/erasure.py). See migration 0021.

:func:`setup_statements` creates the roles and hands the database to the owner (run it as a
superuser: `credits db-roles`, or `credits db-roles --print-sql` to review it first);
:func:`grant_statements` gives the app role its privileges, and `credits init-db` runs them
after every migration when ``CREDITS_DB_APP_ROLE`` names the app role (new tables get their
grants in the same transaction that creates them).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import Connection, text

#: Tables whose rows are never updated or deleted (each also has an ``*_append_only`` trigger;
#: tests/integration/test_privileges.py checks the two lists agree).
APPEND_ONLY_TABLES = ("journal_entry", "posting", "closed_period", "month_balance", "audit_event")

#: Tables the app reads but never writes.
READ_ONLY_TABLES = ("alembic_version",)

#: SECURITY DEFINER functions only the app role (and the owner) may call.
APP_FUNCTIONS = (
    "ledger_lock_journal()",
    "audit_redact_person(bigint, text[], text[], text)",
)

_ROLE_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class BadRoleName(ValueError):
    """A role name that is not a plain lower-case SQL identifier."""


def check_role_name(name: str) -> str:
    """Return ``name`` if it is a plain identifier (no quoting needed, nothing injected)."""
    if not _ROLE_RE.match(name or ""):
        raise BadRoleName(
            f"{name!r} is not a usable role name: lower-case letters, digits and _, "
            "starting with a letter or _, at most 63 characters"
        )
    return name


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def setup_statements(
    *,
    owner: str,
    app: str,
    database: str,
    owner_password: str | None = None,
    app_password: str | None = None,
) -> list[str]:
    """SQL (for a superuser, connected to ``database``) that creates the two roles if they
    do not exist, makes ``owner`` own the database and its ``public`` schema, and lets
    ``app`` connect and use the schema. Idempotent. Passwords, if given, are (re)set."""
    owner, app = check_role_name(owner), check_role_name(app)
    if owner == app:
        raise BadRoleName("the owner and the app role must be two different roles")
    db = '"' + database.replace('"', '""') + '"'
    statements = []
    for role in (owner, app):
        # Role names are checked identifiers (check_role_name), never caller text.
        statements.append(
            "DO $$ BEGIN "  # noqa: S608
            f"IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {_literal(role)}) THEN "
            f"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION; "
            "END IF; END $$"
        )
        # An existing role may have been created with more: take it away.
        statements.append(
            f"ALTER ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
        )
    for role, password in ((owner, owner_password), (app, app_password)):
        if password:
            statements.append(f"ALTER ROLE {role} PASSWORD {_literal(password)}")
    statements += [
        f"ALTER DATABASE {db} OWNER TO {owner}",
        f"ALTER SCHEMA public OWNER TO {owner}",
        # PostgreSQL 15 already withholds CREATE on public from everyone else; 13 and 14 do not.
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        f"REVOKE ALL ON DATABASE {db} FROM PUBLIC",
        f"GRANT CONNECT ON DATABASE {db} TO {app}",
        f"GRANT USAGE ON SCHEMA public TO {app}",
    ]
    return statements


def grant_statements(app: str, existing_functions: Sequence[str] = APP_FUNCTIONS) -> list[str]:
    """SQL (run as the owner, after the migrations) giving ``app`` exactly its privileges on
    everything in the current schema. Idempotent: it first takes every table privilege away,
    so a table that became append-only loses its UPDATE at the next `credits init-db`."""
    app = check_role_name(app)
    append_only = ", ".join(APPEND_ONLY_TABLES)
    statements = [
        f"GRANT USAGE ON SCHEMA public TO {app}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {app}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {app}",
        f"REVOKE UPDATE, DELETE ON {append_only} FROM {app}",
        f"REVOKE INSERT, UPDATE, DELETE ON {', '.join(READ_ONLY_TABLES)} FROM {app}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {app}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {app}",
    ]
    for function in existing_functions:
        statements.append(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")
        statements.append(f"GRANT EXECUTE ON FUNCTION {function} TO {app}")
    return statements


def apply_grants(conn: Connection, app: str) -> None:
    """Run :func:`grant_statements` on ``conn`` (the owner's, inside the migration's
    transaction). Refuses an app role that does not exist or that owns the tables."""
    app = check_role_name(app)
    may_grant = conn.execute(
        text(
            "SELECT pg_catalog.pg_get_userbyid(n.nspowner) = current_user OR r.rolsuper "
            "FROM pg_namespace n, pg_roles r "
            "WHERE n.nspname = 'public' AND r.rolname = current_user"
        )
    ).scalar()
    if not may_grant:
        raise BadRoleName(
            "this connection's role neither owns the schema nor is a superuser: run "
            "`credits init-db` as the owner role (CREDITS_DATABASE_URL of the owner)"
        )
    row = conn.execute(
        text(
            "SELECT r.rolsuper, pg_catalog.pg_get_userbyid(n.nspowner) = r.rolname "
            "FROM pg_roles r, pg_namespace n WHERE r.rolname = :r AND n.nspname = 'public'"
        ),
        {"r": app},
    ).one_or_none()
    if row is None:
        raise BadRoleName(
            f"the app role {app!r} does not exist: create it with `credits db-roles` "
            "(as a superuser) first"
        )
    if row[0] or row[1]:
        raise BadRoleName(
            f"the app role {app!r} is a superuser or owns the schema: it must be an ordinary "
            "role (see `credits db-roles`)"
        )
    for statement in grant_statements(app):
        conn.execute(text(statement))
