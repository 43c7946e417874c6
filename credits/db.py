"""Engine, sessions and the unit of work.

One use case = one database transaction = one call of :func:`unit_of_work` (or
:meth:`Database.run`). Helpers never commit. A transaction that fails with a deadlock or a
serialization failure (PostgreSQL), a busy database (SQLite) or a lost race on a unique key
is rolled back and the *whole use case* runs again, a bounded number of times.

A dead connection (the server restarted, an operator or a failover ended the session) is
found before it is used where that costs nothing (:func:`_dead_on_checkout`: the socket of
an idle connection has something to read, i.e. the server said goodbye) and otherwise when a
statement fails on it. Then the whole pool is thrown away, and a use case that met it before
its COMMIT was sent — so nothing of it can have committed — runs once more on a fresh
connection. A failure *during* COMMIT leaves the outcome unknown: only a use case that says
it is ``idempotent`` (a second run after a committed first one changes nothing: it replays
by its idempotency key or finds its work done) runs again; any other gets
:class:`~credits.errors.Unavailable` (503 ``unavailable``), and so does every use case when
the database cannot be reached at all. Nothing here ever turns a database outage into a 500.

SQLite: the write lock is taken at the start of every transaction (``BEGIN IMMEDIATE``), so
two writers never interleave and a check-then-write inside a use case cannot race.
PostgreSQL: READ COMMITTED; the ledger's own statements make it safe (see credits.ledger).
"""

from __future__ import annotations

import logging
import random
import select
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import DateTime, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError, OperationalError
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, SQLModel

from credits.errors import Unavailable

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

#: SQLSTATEs that mean this connection can no longer serve the app: the server is shutting
#: down or was stopped under it (57P01 admin_shutdown, 57P02 crash_shutdown, 57P03
#: cannot_connect_now), or — after a failover — it is a standby that refuses writes (25006
#: read_only_sql_transaction). Class 08 (connection exceptions) too. SQLAlchemy treats such a
#: connection as disconnected: it is dropped, with the rest of the pool.
DISCONNECT_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "25006"})

#: How often a use case that met a dead connection before it committed anything is run
#: again on a fresh one, before the caller hears that the database is unavailable.
RECONNECT_ATTEMPTS = 1

#: Seconds a client is asked to wait (Retry-After) when the database is unavailable.
RETRY_AFTER_S = 2

#: Seconds libpq waits for a connection to each host before giving up (or trying the next
#: host of a multi-host URL). Without it a host that drops packets stalls a request forever.
CONNECT_TIMEOUT_S = 5


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


def make_engine(url: str, *, echo: bool = False, pool_size: int = 10, pooler: str = "") -> Engine:
    """Create the engine for ``url`` with the transaction behaviour this app relies on.

    ``pooler="pgbouncer"``: PostgreSQL is reached through PgBouncer in transaction pooling,
    so nothing may depend on the server connection staying the same between transactions
    (no session settings, no session advisory locks, no server-side prepared statements).
    """
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
    connect_args: dict[str, Any] = {
        "connect_timeout": CONNECT_TIMEOUT_S,
        # A server that vanished without closing the socket (a host lost, a network cut) is
        # noticed within about half a minute instead of the kernel's two hours.
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
    }
    if pooler == "pgbouncer":
        # PgBouncer in transaction pooling hands each transaction to any server connection:
        # a statement prepared on one is unknown on the next (PgBouncer 1.18 has no
        # prepared-statement support), so psycopg must never prepare.
        connect_args["prepare_threshold"] = None
    elif pooler:
        raise ValueError(f"unknown database pooler {pooler!r} (known: pgbouncer)")
    engine = create_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        # Not pool_pre_ping (a round trip before every transaction): _dead_on_checkout finds
        # a connection the server closed for the cost of one poll(), and a connection that
        # dies later is retried at the unit of work (Database.run).
        pool_pre_ping=False,
        connect_args=connect_args,
    )
    event.listen(engine, "checkout", _dead_on_checkout)
    event.listen(engine, "handle_error", _mark_disconnects)
    return engine


def _dead_on_checkout(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
    """Refuse a pooled connection that the server has already closed.

    An idle PostgreSQL connection receives nothing unless the server ends it: a backend
    terminated by an operator, a shutdown or the loss of its postmaster writes a last error
    message and closes the socket. So an idle socket with anything to read is dead (or
    about to be); SQLAlchemy then discards it and checks out another (the documented
    "pessimistic disconnect handling" without the round trip of a ping).
    """
    if getattr(dbapi_conn, "closed", False) or getattr(dbapi_conn, "broken", False):
        raise DisconnectionError("the connection was closed")
    try:
        fd = dbapi_conn.fileno()
    except Exception as exc:  # psycopg raises on a closed connection
        raise DisconnectionError("the connection has no socket") from exc
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
    if poller.poll(0):
        raise DisconnectionError("the server closed this connection while it was idle")


def _mark_disconnects(context: Any) -> None:
    """Tell SQLAlchemy which server errors mean "this connection is finished"."""
    orig = context.original_exception
    sqlstate = getattr(orig, "sqlstate", None) or ""
    if sqlstate in DISCONNECT_SQLSTATES or sqlstate.startswith("08"):
        context.is_disconnect = True


def is_unavailable(exc: BaseException) -> bool:
    """True if ``exc`` says the database cannot be used right now (as opposed to refusing
    this statement): a lost or refused connection, a server shutting down or starting up, a
    standby reached after a failover, SQLite's file locked past its busy timeout or not
    readable. The caller should answer 503 and the client try again shortly."""
    if isinstance(exc, Unavailable):
        return True
    if isinstance(exc, DisconnectionError):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        orig: Any = exc.orig
    elif type(exc).__module__.startswith("psycopg"):
        orig = exc  # raised unwrapped by Engine.raw_connection() when connecting fails
    else:
        return False
    sqlstate = getattr(orig, "sqlstate", None) or ""
    if sqlstate in DISCONNECT_SQLSTATES or sqlstate.startswith("08"):
        return True
    if type(orig).__module__.startswith("sqlite3"):
        text = str(orig)
        return isinstance(exc, OperationalError) and any(
            m in text for m in ("database is locked", "disk I/O error", "unable to open database")
        )
    if type(orig).__name__ == "OperationalError" or type(orig).__name__ == "InterfaceError":
        # psycopg's OperationalError without a SQLSTATE comes from the client side: the
        # connection could not be made, or broke ("server closed the connection
        # unexpectedly", "consuming input failed"). With a SQLSTATE it is the server's
        # answer to this statement (a deadlock, a cancelled query): not an outage.
        return not sqlstate
    return False


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
    """The engine plus the one way to run a use case against it.

    ``read_engine``: an optional second engine on a streaming replica
    (``CREDITS_READ_DATABASE_URL``) for reads that may lag behind the primary by a moment —
    statements, the officer dashboard, history pages (:meth:`read` with ``lag_ok=True``).
    Everything else, and anything a member must see right after they acted (their own
    balance), reads the primary.
    """

    def __init__(
        self, engine: Engine, *, attempts: int = 8, read_engine: Engine | None = None
    ) -> None:
        self.engine = engine
        self.attempts = attempts
        self.replica = read_engine
        self._read_engines: dict[int, tuple[Engine, Engine]] = {}

    def _read_only(self, engine: Engine) -> Engine:
        """``engine`` with the read-only option (shares its pool; follows reassignment)."""
        cached = self._read_engines.get(id(engine))
        if cached is None or cached[0] is not engine:
            cached = (engine, engine.execution_options(**{READ_ONLY: True}))
            self._read_engines[id(engine)] = cached
        return cached[1]

    @property
    def _read_engine(self) -> Engine:
        return self._read_only(self.engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self) -> Session:
        """A bare session, for reads. Writes go through :meth:`run`."""
        return Session(self.engine, expire_on_commit=False)

    def run(
        self,
        use_case: Callable[[Session], T],
        *,
        attempts: int | None = None,
        idempotent: bool = False,
    ) -> T:
        """Run ``use_case(session)`` in one transaction; commit if it returns.

        Any exception rolls everything back. Deadlocks, serialization failures, a locked
        SQLite file and :class:`RetryTransaction` (raised by code that lost a unique-key
        race, e.g. two requests with one idempotency key) run the use case again, with
        jittered backoff, at most ``attempts`` times in all; domain errors (the user's
        fault) are never retried.

        A dead connection met before COMMIT was sent runs the use case once more on a fresh
        connection (nothing of the first attempt committed). A connection lost *during*
        COMMIT leaves the outcome unknown: the use case runs again only if ``idempotent``
        — it is keyed (a second run replays the first one's result, e.g. issuing a voucher,
        redeeming, recording an award) or finds its work done and changes nothing (cancel, a
        reversal); otherwise :class:`~credits.errors.Unavailable` is raised, asking the
        client to repeat the request with the same idempotency key. A database that cannot
        be reached raises :class:`~credits.errors.Unavailable` too.
        """
        limit = attempts or self.attempts
        assert limit >= 1
        reconnects = 0
        attempt = 0
        in_doubt = False  # a COMMIT whose answer was lost: it may have been saved
        while True:
            attempt += 1
            committing = False
            try:
                with Session(self.engine, expire_on_commit=False) as session:
                    with session.begin():
                        result = use_case(session)
                        session.flush()
                        # Past this point the only statement left is COMMIT.
                        committing = True
                    return result
            except (DBAPIError, DisconnectionError, RetryTransaction) as exc:
                if is_unavailable(exc):
                    in_doubt = in_doubt or committing
                    if committing and not idempotent:
                        raise Unavailable(
                            "the database connection was lost while this change was being "
                            "saved, so whether it was saved is not known: repeat the request "
                            "with the same idempotency key, or check before repeating it",
                            retry_after_s=RETRY_AFTER_S,
                            in_doubt=True,
                        ) from exc
                    if reconnects >= RECONNECT_ATTEMPTS:
                        raise Unavailable(
                            "the database cannot be reached at the moment",
                            retry_after_s=RETRY_AFTER_S,
                            in_doubt=in_doubt,
                        ) from exc
                    reconnects += 1
                    log.info("database connection lost; running the use case again: %s", exc)
                    continue
                retry = isinstance(exc, RetryTransaction) or is_retryable(exc)
                if not retry or attempt >= limit:
                    raise
                log.info("retrying transaction (attempt %d/%d): %s", attempt, limit, exc)
                time.sleep(random.uniform(0, 0.002 * 2**attempt))

    def execute_autocommit(self, sql: str, params: dict[str, Any]) -> Any:
        """Run one statement as its own transaction and return its first row (PostgreSQL).

        For a use case that is a single server-side function call: one round trip, no BEGIN
        or COMMIT. Uses a pooled connection's psycopg handle directly (the statement is
        prepared server-side after a few uses, unless a pooler forbids it), which halves the
        client CPU of going through the ORM; errors come back as SQLAlchemy's DBAPIError
        subclasses, like everywhere else.

        The statement must be idempotent (keyed): a connection lost while it ran leaves its
        outcome unknown, and it is sent once more on a fresh connection — a first run that
        committed is then replayed, not repeated. A database that cannot be reached raises
        :class:`~credits.errors.Unavailable`.
        """
        sent: list[bool] = []  # one entry per attempt whose statement left for the server
        conflicts = 0
        reconnects = 0
        while True:
            try:
                return self._execute_autocommit_once(sql, params, sent)
            except Exception as exc:
                if not is_unavailable(exc) and is_retryable(exc) and conflicts < self.attempts:
                    # A deadlock or serialization failure rolled the whole statement (its
                    # own transaction) back: send it again, as run() retries a transaction.
                    conflicts += 1
                    log.info(
                        "retrying statement (attempt %d/%d): %s", conflicts, self.attempts, exc
                    )
                    time.sleep(random.uniform(0, 0.002 * 2**conflicts))
                    continue
                if not is_unavailable(exc):
                    raise
                if reconnects >= RECONNECT_ATTEMPTS:
                    raise Unavailable(
                        "the database cannot be reached at the moment",
                        retry_after_s=RETRY_AFTER_S,
                        in_doubt=bool(sent),
                    ) from exc
                reconnects += 1
                log.info("database connection lost; sending the statement again: %s", exc)

    def _execute_autocommit_once(self, sql: str, params: dict[str, Any], sent: list[bool]) -> Any:
        import psycopg

        raw = self.engine.raw_connection()
        try:
            conn = raw.driver_connection
            assert isinstance(conn, psycopg.Connection)
            conn.autocommit = True
            try:
                # prepare=None follows the connection's prepare_threshold (None behind
                # PgBouncer: never prepare); prepare=True would force it.
                prepare = None if conn.prepare_threshold is None else True
                sent.append(True)
                return conn.execute(sql, params, prepare=prepare).fetchone()
            except psycopg.Error as exc:
                sqlstate = getattr(exc, "sqlstate", None) or ""
                if conn.broken or sqlstate in DISCONNECT_SQLSTATES or sqlstate.startswith("08"):
                    raw.invalidate(exc)
                    raise DBAPIError.instance(
                        sql, params, exc, psycopg.Error, connection_invalidated=True
                    ) from exc
                raise DBAPIError.instance(sql, params, exc, psycopg.Error) from exc
            finally:
                if not conn.broken and not conn.closed:
                    conn.autocommit = False
        finally:
            raw.close()

    @contextmanager
    def read(self, *, lag_ok: bool = False) -> Iterator[Session]:
        """A session for reads. Closing it ends its transaction (the pool rolls the
        connection back) and detaches what it loaded, which stays readable afterwards. On
        SQLite it does not take the write lock, so it can be open while a write happens.

        ``lag_ok=True``: the read may be served by the read replica, when one is configured
        (it may miss the last moment's writes). If the replica cannot be reached, the
        primary answers instead.
        """
        engine = self._read_engine
        if lag_ok and self.replica is not None:
            replica = self._read_only(self.replica)
            try:
                # Check the replica out now, so that an unreachable one falls back here
                # rather than failing the caller's first query.
                session = Session(replica, expire_on_commit=False)
                session.connection()
            except (DBAPIError, DisconnectionError) as exc:
                session.close()
                if not is_unavailable(exc):
                    raise
                log.warning("the read replica cannot be reached; reading the primary: %s", exc)
            else:
                with session:
                    yield session
                return
        with Session(engine, expire_on_commit=False) as session:
            yield session

    def dispose(self) -> None:
        """Release every pooled connection (primary and replica)."""
        self.engine.dispose()
        if self.replica is not None:
            self.replica.dispose()


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
