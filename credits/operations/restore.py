"""`credits restore PATH`: a backup back into an empty database, then proved.

In order, refusing (RestoreRefused, nothing changed) at the first problem:

1. the manifest is one this version reads, every file has its recorded size and SHA-256,
   the backup's engine is the configured database's and its schema revision is known here;
2. with sealed secrets in the backup: CREDITS_BACKUP_PASSPHRASE opens them (or
   ``skip_keys``), and none would overwrite a different file in the instance folder;
3. the configured database is empty (no table, sequence or function; SQLite: no tables).

Then it restores (PostgreSQL: ``pg_restore --no-owner --no-acl --single-transaction``, run
as the role that is to own the tables, which then grants CREDITS_DB_APP_ROLE its
privileges; SQLite: the online backup API into the configured file), writes the secrets,
migrates a backup made by an older version to this version's schema, and proves the result:
every `credits verify` check passes on it, and its row counts, every account's balance, the
hash chain's heads and the last closed month equal the manifest's
(:func:`credits.operations.manifest.compare`). The report says which, and `credits restore`
exits 0 only when everything agrees.
"""

from __future__ import annotations

import sqlite3
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from credits.db import Database, make_engine, upgrade_to_head, utcnow
from credits.ledger.verify import CheckResult
from credits.operations import secrets
from credits.operations.backup import (
    PG_DUMP_FILE,
    SECRETS_FILE,
    SQLITE_FILE,
    BackupError,
    check_files,
    libpq_target,
    pg_tool,
    read_manifest,
)
from credits.operations.manifest import compare, ledger_figures

_STDERR_CHARS = 2000


class RestoreRefused(BackupError):
    """Nothing was restored; the message says why."""


@dataclass
class RestoreReport:
    """What a restore did and what it found."""

    manifest: dict[str, Any]
    checks: list[CheckResult] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)
    secrets_restored: list[str] = field(default_factory=list)
    migrated: bool = False
    seconds_restore: float = 0.0
    seconds_verify: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.differences and bool(self.checks) and all(c.ok for c in self.checks)


def restore_backup(
    *,
    folder: Path,
    database_url: str,
    instance_path: Path,
    app_role: str = "",
    passphrase: str | None = None,
    skip_keys: bool = False,
    verify_jobs: int = 1,
    progress: Callable[[str], None] = lambda _: None,
) -> RestoreReport:
    """Restore the backup in ``folder`` into the empty database at ``database_url`` (and
    its secrets into ``instance_path``), then check it against the manifest (module
    docstring). Raises RestoreRefused when nothing was changed; BackupError if the restore
    tool itself failed (PostgreSQL: in one transaction, so the database is left empty)."""
    folder = folder.resolve()
    try:
        manifest = read_manifest(folder)
        progress("checking every file against the manifest")
        check_files(folder, manifest)
    except BackupError as exc:
        raise RestoreRefused(str(exc)) from exc
    engine_name = (
        "sqlite" if make_url(database_url).get_backend_name() == "sqlite" else "postgresql"
    )
    if manifest["engine"] != engine_name:
        raise RestoreRefused(
            f"this backup is of a {manifest['engine']} database and CREDITS_DATABASE_URL is "
            f"{engine_name}: restore it into the same kind of database"
        )
    _check_revision(manifest)
    files = _open_secrets(folder, manifest, instance_path, passphrase, skip_keys)
    report = RestoreReport(manifest)
    engine = make_engine(database_url, pool_size=max(2, verify_jobs))
    try:
        _check_empty(engine)
        started = time.perf_counter()
        progress("restoring the database")
        if engine_name == "sqlite":
            engine.dispose()  # no connection of ours holds the file while it is written
            _restore_sqlite(folder / SQLITE_FILE, Path(str(make_url(database_url).database)))
        else:
            _restore_postgres(folder / PG_DUMP_FILE, database_url)
        if files:
            secrets.write(instance_path, files)
            report.secrets_restored = sorted(files)
        current = set(manifest["ledger"].get("schema_revision", []))
        upgrade_to_head(engine, app_role=app_role)
        with engine.connect() as conn:
            now_at = {r for (r,) in conn.execute(text("SELECT version_num FROM alembic_version"))}
        report.migrated = now_at != current
        report.seconds_restore = time.perf_counter() - started
        started = time.perf_counter()
        progress("checking the restored ledger (credits verify, and against the manifest)")
        report.checks, figures = _prove(Database(engine), verify_jobs)
        report.differences = compare(manifest["ledger"], figures)
        report.seconds_verify = time.perf_counter() - started
        from credits.operations.runs import record_quietly

        record_quietly(
            Database(engine),
            "restore",
            started_at=utcnow(),
            finished_at=utcnow(),
            ok=report.ok,
            summary={
                "backup_created_at": manifest.get("created_at"),
                "differences": len(report.differences),
                "failed_checks": [c.name for c in report.checks if not c.ok],
            },
            source="credits restore",
        )
    finally:
        engine.dispose()
    return report


def _check_revision(manifest: dict[str, Any]) -> None:
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from credits.db import alembic_config

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    for revision in manifest["ledger"].get("schema_revision", []):
        try:
            if script.get_revision(revision) is None:
                raise CommandError(revision)
        except CommandError:
            raise RestoreRefused(
                f"the backup's schema is at revision {revision}, which this version does not "
                "know: restore it with the version that made it (or a newer one)"
            ) from None


def _open_secrets(
    folder: Path,
    manifest: dict[str, Any],
    instance_path: Path,
    passphrase: str | None,
    skip_keys: bool,
) -> dict[str, tuple[bytes, int]]:
    if not manifest["secrets"].get("included") or skip_keys:
        return {}
    try:
        files = secrets.unpacked(secrets.unseal((folder / SECRETS_FILE).read_bytes(), passphrase))
    except secrets.SealError as exc:
        raise RestoreRefused(
            f"{exc} (or restore the database alone with --skip-keys: vouchers then need the "
            "old signing keys restored by hand)"
        ) from exc
    clashes = secrets.conflicts(instance_path, files)
    if clashes:
        raise RestoreRefused(
            f"the instance folder {instance_path} already holds different "
            f"{', '.join(clashes)}: restore into a new instance folder (CREDITS_INSTANCE_PATH)"
        )
    return files


def _check_empty(engine: Any) -> None:
    where = engine.url.render_as_string(hide_password=True)
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            found = conn.execute(
                text("SELECT count(*) FROM sqlite_master WHERE type IN ('table', 'view')")
            ).scalar_one()
            what = f"{found} tables"
        else:
            found = conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n "
                    "ON n.oid = c.relnamespace WHERE n.nspname = current_schema() "
                    "AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')) + "
                    "(SELECT count(*) FROM pg_proc p JOIN pg_namespace n "
                    "ON n.oid = p.pronamespace WHERE n.nspname = current_schema())"
                )
            ).scalar_one()
            what = f"{found} tables, sequences or functions"
    if found:
        raise RestoreRefused(
            f"the database {where} is not empty ({what}): a restore goes only into an empty "
            "database. Create a new one (PostgreSQL: createdb, owned by the owner role; "
            "SQLite: a new CREDITS_DATABASE_URL file) and restore into it"
        )


def _restore_sqlite(backup: Path, target: Path) -> None:
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)
    finally:
        copy.close()
        source.close()


def _restore_postgres(dump: Path, url: str) -> None:
    uri, env = libpq_target(url)
    # An argument list, no shell: nothing in it is interpreted.
    done = subprocess.run(  # noqa: S603
        [
            pg_tool("pg_restore"),
            "--no-owner",
            "--no-acl",
            "--exit-on-error",
            "--single-transaction",
            "--no-password",
            f"--dbname={uri}",
            str(dump),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BackupError(
            "pg_restore failed (in one transaction: the database is still empty): "
            + done.stderr.strip()[:_STDERR_CHARS]
        )


def _prove(db: Database, jobs: int) -> tuple[list[CheckResult], dict[str, Any]]:
    from credits.ledger import run_checks
    from credits.verify_checks import all_checks

    with db.read() as session:
        checks = run_checks(session, all_checks(), jobs=jobs)
        figures = ledger_figures(session.connection())
    return checks, figures
