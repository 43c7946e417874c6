"""Commands for running the scheme: backup, restore, database roles.

    credits backup --out PATH [--with-keys]     a consistent backup (backup.py)
    credits restore PATH [--skip-keys]          into an empty database, then proved (restore.py)
    credits db-roles --owner O --app A          the two PostgreSQL roles (credits/privileges.py)

Exit codes as every `credits` command: 0 done; 1 a check failed (a restore that does not
match its backup); 2 refused, with the reason on stderr, nothing changed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from credits.config import Settings


class _Refused(click.ClickException):
    exit_code = 2


@click.command("backup")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="A new (or empty) folder to write the backup into.",
)
@click.option(
    "--with-keys",
    is_flag=True,
    help="Also the instance folder's secrets and signing keys, sealed with "
    "CREDITS_BACKUP_PASSPHRASE.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the manifest's summary as JSON.")
def backup_command(out: Path, with_keys: bool, as_json: bool) -> None:
    """Back up the configured database while the service runs (consistent: one snapshot)."""
    from credits.db import Database as _Database
    from credits.db import make_engine, utcnow
    from credits.operations.backup import BackupError, create_backup
    from credits.operations.runs import record_quietly

    settings = Settings.load()
    started = utcnow()
    try:
        result = create_backup(
            database_url=settings.database_url,
            instance_path=settings.instance_path,
            out=out,
            with_keys=with_keys,
            passphrase=os.environ.get("CREDITS_BACKUP_PASSPHRASE"),
        )
    except BackupError as exc:
        # A failed backup is what monitoring most needs to hear about (CreditsBackupFailed).
        _record_backup(settings, started, ok=False, summary={"error": str(exc)[:500]})
        raise _Refused(f"backup refused: {exc}") from exc
    db = _Database(make_engine(settings.database_url, pool_size=1))
    try:
        problem = record_quietly(
            db,
            "backup",
            started_at=started,
            finished_at=utcnow(),
            ok=True,
            summary={
                "path": str(result.path),
                "bytes": result.bytes,
                "seconds": round(result.seconds, 3),
                "with_keys": with_keys,
            },
            source="credits backup",
        )
    finally:
        db.engine.dispose()
    ledger = result.manifest["ledger"]
    summary = {
        "path": str(result.path),
        "bytes": result.bytes,
        "seconds": round(result.seconds, 2),
        "entries": ledger["row_counts"].get("journal_entry"),
        "postings": ledger["row_counts"].get("posting"),
        "accounts": len(ledger["balances"]),
        "last_closed_month": ledger["last_closed_month"],
        "with_keys": with_keys,
    }
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        click.echo(
            f"backup written to {result.path}: {result.bytes:,} bytes in {result.seconds:.1f} s "
            f"({summary['entries']:,} entries, {summary['postings']:,} postings, "
            f"{summary['accounts']:,} accounts"
            + (", instance secrets sealed" if with_keys else ", no instance secrets")
            + ")"
        )
    if problem:
        click.echo(
            f"warning: this backup could not be recorded for monitoring: {problem}", err=True
        )


def _record_backup(settings: Settings, started: object, *, ok: bool, summary: dict) -> None:
    from credits.db import Database, make_engine, utcnow
    from credits.operations.runs import record_quietly

    db = Database(make_engine(settings.database_url, pool_size=1))
    try:
        record_quietly(
            db,
            "backup",
            started_at=started,
            finished_at=utcnow(),
            ok=ok,
            summary=summary,
            source="credits backup",
        )
    finally:
        db.engine.dispose()


@click.command("restore")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--skip-keys",
    is_flag=True,
    help="Restore the database only, not the sealed instance secrets in the backup.",
)
def restore_command(path: Path, skip_keys: bool) -> None:
    """Restore a backup into the configured database, which must be empty; then check it
    (`credits verify`, and every balance and chain head against the backup's manifest)."""
    from credits.operations.backup import BackupError
    from credits.operations.restore import RestoreRefused, restore_backup

    settings = Settings.load()
    try:
        report = restore_backup(
            folder=path,
            database_url=settings.database_url,
            instance_path=settings.instance_path,
            app_role=settings.db_app_role,
            passphrase=os.environ.get("CREDITS_BACKUP_PASSPHRASE"),
            skip_keys=skip_keys,
            verify_jobs=settings.verify_jobs,
            progress=lambda step: click.echo(f"- {step}"),
        )
    except RestoreRefused as exc:
        raise _Refused(f"restore refused, nothing changed: {exc}") from exc
    except BackupError as exc:
        raise _Refused(f"restore failed: {exc}") from exc
    manifest = report.manifest
    ledger = manifest["ledger"]
    click.echo(
        f"restored the backup of {manifest['created_at']} ({ledger['row_counts'].get('posting'):,} "
        f"postings) in {report.seconds_restore:.1f} s"
        + (", then migrated to this version's schema" if report.migrated else "")
    )
    if report.secrets_restored:
        click.echo(f"instance secrets restored: {', '.join(report.secrets_restored)}")
    elif manifest["secrets"].get("included"):
        click.echo("instance secrets NOT restored (--skip-keys)")
    for check in report.checks:
        click.echo(f"{'ok  ' if check.ok else 'FAIL'} {check.name}: {check.description}")
        for problem in check.problems:
            click.echo(f"       - {problem}")
    if report.differences:
        click.echo("FAIL the restored database differs from the backup's manifest:")
        for difference in report.differences[:50]:
            click.echo(f"       - {difference}")
        if len(report.differences) > 50:
            click.echo(f"       ... {len(report.differences) - 50} more")
    else:
        click.echo(
            f"ok   matches the manifest: {len(ledger['row_counts'])} tables' row counts, "
            f"{len(ledger['balances']):,} balances, {len(ledger['chain_heads'])} chain heads, "
            f"last closed month {ledger['last_closed_month'] or 'none'}"
        )
    click.echo(
        f"restore: {'all checks passed' if report.ok else 'FAILED'} "
        f"(checked in {report.seconds_verify:.1f} s)"
    )
    raise SystemExit(0 if report.ok else 1)


@click.command("db-roles")
@click.option("--owner", required=True, help="The role that owns the tables and migrates.")
@click.option("--app", "app", required=True, help="The role the app runs as.")
@click.option(
    "--print-sql", is_flag=True, help="Print the SQL instead of running it (to review it)."
)
def db_roles_command(owner: str, app: str, print_sql: bool) -> None:
    """Create the owner and app roles on PostgreSQL and hand the database to the owner.

    Connects with CREDITS_DATABASE_URL, which must be a superuser's for this command. Sets
    the roles' passwords from CREDITS_DB_OWNER_PASSWORD and CREDITS_DB_APP_PASSWORD if set.
    Then, as the owner, `credits init-db` with CREDITS_DB_APP_ROLE set grants the app role
    its privileges (it is run here too if the database already holds the tables)."""
    from sqlalchemy import text

    from credits.db import make_engine
    from credits.privileges import BadRoleName, apply_grants, grant_statements, setup_statements

    settings = Settings.load()
    if settings.is_sqlite:
        raise _Refused("db-roles is for PostgreSQL: SQLite has no roles")
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        database = engine.url.database or ""
        try:
            statements = setup_statements(
                owner=owner,
                app=app,
                database=database,
                owner_password=os.environ.get("CREDITS_DB_OWNER_PASSWORD"),
                app_password=os.environ.get("CREDITS_DB_APP_PASSWORD"),
            )
        except BadRoleName as exc:
            raise _Refused(str(exc)) from exc
        if print_sql:
            shown = [
                s if "PASSWORD" not in s else s.split(" PASSWORD ")[0] + " PASSWORD '…'"
                for s in statements
            ]
            click.echo(";\n".join([*shown, *grant_statements(app)]) + ";")
            return
        with engine.begin() as conn:
            is_super = conn.execute(
                text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            ).scalar()
            if not is_super:
                raise _Refused("db-roles needs a superuser's CREDITS_DATABASE_URL")
            for statement in statements:
                conn.execute(text(statement))
            migrated = conn.execute(text("SELECT to_regclass('alembic_version') IS NOT NULL"))
            if migrated.scalar():
                apply_grants(conn, app)
    finally:
        engine.dispose()
    click.echo(
        f"roles ready: {owner} owns database {database}; {app} may connect. Next, as {owner}: "
        f"CREDITS_DB_APP_ROLE={app} credits init-db; then run the app as {app}."
    )


COMMANDS = (backup_command, restore_command, db_roles_command)
