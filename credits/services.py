"""What a running process holds: settings and the database. Built once by create_app (or by
the command line) and handed to use cases; nothing here knows about HTTP."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from credits.config import Settings
from credits.db import Database, is_unavailable, make_engine, require_migrated, upgrade_to_head

log = logging.getLogger(__name__)


@dataclass
class Services:
    """The process's shared objects."""

    settings: Settings
    db: Database
    #: Outgoing mail (credits.mail): .eml files in instance/mail/, or SMTP if configured.
    mailer: Any = None

    def __post_init__(self) -> None:
        if self.mailer is None:
            from credits.mail import build_mailer

            self.mailer = build_mailer(self.settings)

    @classmethod
    def build(
        cls,
        overrides: Mapping[str, Any] | None = None,
        *,
        migrate: bool = False,
        grant: bool = False,
        check_migrations: bool | str = True,
    ) -> Services:
        """Load settings, connect, and either migrate (``migrate=True``; with ``grant``, then
        give ``CREDITS_DB_APP_ROLE`` its privileges) or refuse a database that is not at the
        code's migration head.

        ``check_migrations="when-reachable"`` (the web app's workers): a database that
        cannot be reached right now is not a reason to refuse to start — a worker restarted
        during an outage must come up and answer 503 until the database is back — so the
        check is skipped with a warning then (``credits serve`` checked before forking).
        """
        settings = Settings.load(overrides)
        engine = make_engine(
            settings.database_url,
            echo=settings.echo_sql,
            pooler=settings.database_pooler,
            pool_size=settings.database_pool_size,
        )
        replica = None
        if settings.read_database_url:
            replica = make_engine(
                settings.read_database_url,
                echo=settings.echo_sql,
                pooler=settings.database_pooler,
                pool_size=settings.database_pool_size,
            )
        db = Database(engine, attempts=settings.transaction_attempts, read_engine=replica)
        try:
            if migrate:
                upgrade_to_head(engine, app_role=settings.db_app_role if grant else "")
                from credits.ledger import bootstrap

                db.run(lambda s: bootstrap(s, hot_slots=settings.hot_account_slots))
            elif check_migrations == "when-reachable":
                try:
                    require_migrated(engine)
                except Exception as exc:
                    if not is_unavailable(exc):
                        raise
                    log.warning(
                        "the database cannot be reached at start-up (%s); starting anyway, "
                        "requests get 503 until it is back",
                        str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc),
                    )
            elif check_migrations:
                require_migrated(engine)
        except BaseException:
            db.dispose()  # a refused start leaves no connection behind
            raise
        return cls(settings=settings, db=db)

    def close(self) -> None:
        """Release database connections."""
        self.db.dispose()

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
