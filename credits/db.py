"""Engine, sessions and the unit of work.

One use case = one database transaction = one call of :func:`unit_of_work` (or
:meth:`Database.run`). Helpers never commit. A transaction that fails with a deadlock or a
serialization failure (PostgreSQL), a busy database (SQLite) or a lost race on a unique key
is rolled back and the *whole use case* runs again, a bounded number of times.

SQLite: the write lock is taken at the start of every transaction (``BEGIN IMMEDIATE``), so
two writers never interleave and a check-then-write inside a use case cannot race.
PostgreSQL: READ COMMITTED; the ledger's own statements make it safe (see credits.ledger).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import DateTime, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, SQLModel

log = logging.getLogger(__name__)

# Predictable constraint names on every database, so code can tell which one was violated
# and migrations can name what they drop. Set before any table class is defined (every
# models module imports this one).
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

T = TypeVar("T")

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

#: Execution option marking a read-only session (SQLite: a deferred BEGIN, no write lock).
READ_ONLY = "credits_read_only"

#: PostgreSQL SQLSTATEs after which the whole transaction may simply be run again.
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always returned timezone-aware.

    Refuses naive datetimes on the way in: a naive time is ambiguous, and ambiguity about
    which month an entry belongs to is exactly what a council cannot afford.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: store aware UTC times only")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    """The current time, aware, in UTC (freezegun-friendly)."""
    return datetime.now(UTC)


def make_engine(url: str, *, echo: bool = False, pool_size: int = 10) -> Engine:
    """Create the engine for ``url`` with the transaction behaviour this app relies on."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"timeout": 30, "check_same_thread": False},
        )

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            # Hand transaction control to SQLAlchemy's "begin" event below.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys = ON")
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")
            cur.execute("PRAGMA busy_timeout = 30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Writers take the write lock at once, so check-then-write cannot race; readers
            # (Database.read) do not, so they never wait on, or block, a writer.
            if conn.get_execution_options().get(READ_ONLY):
                conn.exec_driver_sql("BEGIN")
            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=False,
    )


def is_retryable(exc: BaseException) -> bool:
    """True for failures that a fresh attempt of the same transaction can clear."""
    if isinstance(exc, DBAPIError):
        sqlstate = getattr(exc.orig, "sqlstate", None)
        if sqlstate in RETRYABLE_SQLSTATES:
            return True
        if isinstance(exc, OperationalError) and "database is locked" in str(exc.orig):
            return True
    return False


class RetryTransaction(Exception):
    """Raised inside a unit of work to ask for one more attempt (e.g. a lost unique race)."""


def unique_violation(exc: BaseException, name: str) -> bool:
    """True if ``exc`` is a unique violation of constraint/index/column ``name``.

    PostgreSQL names the constraint (``uq_journal_entry_idempotency_key``); SQLite names the
    columns (``UNIQUE constraint failed: journal_entry.idempotency_key``). Pass a name that
    appears in both, e.g. ``"idempotency_key"``.
    """
    if not isinstance(exc, IntegrityError):
        return False
    orig = exc.orig
    diag = getattr(orig, "diag", None)
    if diag is not None and getattr(orig, "sqlstate", None) == "23505":
        return name in (diag.constraint_name or "")
    return "UNIQUE constraint failed" in str(orig) and name in str(orig)


class Database:
    """The engine plus the one way to run a use case against it."""

    def __init__(self, engine: Engine, *, attempts: int = 8) -> None:
        self.engine = engine
        self.attempts = attempts
        self._read_engines: tuple[Engine, Engine] | None = None

    @property
    def _read_engine(self) -> Engine:
        """The engine with the read-only option (shares the pool; follows ``self.engine``)."""
        if self._read_engines is None or self._read_engines[0] is not self.engine:
            self._read_engines = (self.engine, self.engine.execution_options(**{READ_ONLY: True}))
        return self._read_engines[1]

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self) -> Session:
        """A bare session, for reads. Writes go through :meth:`run`."""
        return Session(self.engine, expire_on_commit=False)

    def run(self, use_case: Callable[[Session], T], *, attempts: int | None = None) -> T:
        """Run ``use_case(session)`` in one transaction; commit if it returns.

        Any exception rolls everything back. Deadlocks, serialization failures, a locked
        SQLite file and :class:`RetryTransaction` (raised by code that lost a unique-key
        race, e.g. two requests with one idempotency key) run the use case again, with
        jittered backoff, at most ``attempts`` times in all; domain errors (the user's
        fault) are never retried.
        """
        limit = attempts or self.attempts
        assert limit >= 1
        for attempt in range(1, limit + 1):
            try:
                with Session(self.engine, expire_on_commit=False) as session, session.begin():
                    return use_case(session)
            except (DBAPIError, RetryTransaction) as exc:
                retry = isinstance(exc, RetryTransaction) or is_retryable(exc)
                if not retry or attempt == limit:
                    raise
                log.info("retrying transaction (attempt %d/%d): %s", attempt, limit, exc)
                time.sleep(random.uniform(0, 0.002 * 2**attempt))
        raise AssertionError("unreachable")

    def execute_autocommit(self, sql: str, params: dict[str, Any]) -> Any:
        """Run one statement as its own transaction and return its first row (PostgreSQL).

        For a use case that is a single server-side function call: one round trip, no BEGIN
        or COMMIT. Uses a pooled connection's psycopg handle directly (the statement is
        prepared server-side after a few uses), which halves the client CPU of going through
        the ORM; errors come back as SQLAlchemy's DBAPIError subclasses, like everywhere else.
        """
        import psycopg

        raw = self.engine.raw_connection()
        try:
            conn = raw.driver_connection
            assert isinstance(conn, psycopg.Connection)
            conn.autocommit = True
            try:
                return conn.execute(sql, params, prepare=True).fetchone()
            except psycopg.Error as exc:
                if conn.broken:
                    raw.invalidate(exc)
                raise DBAPIError.instance(sql, params, exc, psycopg.Error) from exc
            finally:
                if not conn.broken:
                    conn.autocommit = False
        finally:
            raw.close()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reads. Closing it ends its transaction (the pool rolls the
        connection back) and detaches what it loaded, which stays readable afterwards. On
        SQLite it does not take the write lock, so it can be open while a write happens."""
        with Session(self._read_engine, expire_on_commit=False) as session:
            yield session


# --- migrations -----------------------------------------------------------------------------


def alembic_config(url: str) -> Any:
    """An Alembic Config pointing at our migrations and ``url``."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade_to_head(engine: Engine, *, app_role: str = "") -> None:
    """Apply every pending migration (what `credits init-db` does). On PostgreSQL with an
    ``app_role`` (``CREDITS_DB_APP_ROLE``), then give that role its privileges on everything
    (credits/privileges.py), in the same transaction."""
    from alembic import command

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        if app_role and conn.dialect.name == "postgresql":
            from credits.privileges import apply_grants

            apply_grants(conn, app_role)


def migration_state(engine: Engine) -> tuple[set[str], set[str]]:
    """(revisions the database is at, revisions the code expects)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(str(engine.url)))
    heads = set(script.get_heads())
    with engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    return current, heads


class NotMigrated(RuntimeError):
    """The database is missing tables or is behind the code."""


def require_migrated(engine: Engine) -> None:
    """Refuse to run against a database that is not at the code's migration head."""
    current, heads = migration_state(engine)
    if current != heads:
        where = engine.url.render_as_string(hide_password=True)
        at = ", ".join(sorted(current)) or "no tables"
        raise NotMigrated(
            f"the database {where} is not migrated (it is at: {at}; the code needs: "
            f"{', '.join(sorted(heads))}). Run `credits init-db` to upgrade it."
        )
