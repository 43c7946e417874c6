"""`credits backup --out PATH [--with-keys]`: a consistent backup while the service runs.

A backup is a folder (created, mode 0700; it must not exist or be empty)::

    manifest.json            format, time, engine, schema revision, the ledger's figures
                             (manifest.py) and the SHA-256 and size of every other file
    database.pgdump          PostgreSQL: pg_dump's custom format (pg_restore reads it)
    database.sqlite3         SQLite: a copy made with SQLite's online backup API
    instance-secrets.sealed  with --with-keys: the instance folder's secrets (secrets.py)

manifest.json is written last: a folder without it is an unfinished backup, and a restore
refuses it.

**Consistency.** The dump and the manifest's figures come from one snapshot, so what the
manifest says is exactly what the dump holds, whatever commits meanwhile:

- PostgreSQL: a REPEATABLE READ, read-only transaction exports its snapshot
  (``pg_export_snapshot()``), reads the figures, and stays open while ``pg_dump
  --snapshot=<it>`` dumps the same snapshot. Writers are never blocked (pg_dump takes only
  ACCESS SHARE locks); the app's role has every privilege a backup needs.
- SQLite: ``sqlite3.Connection.backup`` copies the whole file in one step under one read
  transaction (WAL mode lets writers go on); the figures are then read from the copy itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from credits.db import utcnow
from credits.operations import secrets
from credits.operations.manifest import FORMAT, ledger_figures

MANIFEST = "manifest.json"
PG_DUMP_FILE = "database.pgdump"
SQLITE_FILE = "database.sqlite3"
SECRETS_FILE = "instance-secrets.sealed"
#: How much of pg_dump's/pg_restore's error output a message quotes.
_STDERR_CHARS = 2000


class BackupError(Exception):
    """The backup (or restore) was refused or failed; the message says why."""


@dataclass(frozen=True)
class BackupResult:
    """What was written."""

    path: Path
    manifest: dict[str, Any]
    seconds: float

    @property
    def bytes(self) -> int:
        return sum(int(f["bytes"]) for f in self.manifest["files"].values())


def sha256_of(path: Path) -> str:
    """SHA-256 hex of a file, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while piece := fh.read(1 << 20):
            digest.update(piece)
    return digest.hexdigest()


def libpq_target(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection URI for pg_dump/pg_restore (no password in it: that goes in the
    environment, never on a command line that ``ps`` shows) and the environment to run with."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def pg_tool(name: str) -> str:
    """The full path of a PostgreSQL client program (pg_dump, pg_restore) on PATH. It must be
    at least the server's major version (Debian: the postgresql-client package)."""
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not installed (Debian: apt-get install postgresql-client)")
    return found


def app_version() -> str:
    try:
        return version("cooperative-credits")
    except PackageNotFoundError:  # running from a source tree
        return "unknown"


def _prepare_folder(out: Path) -> Path:
    out = out.resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BackupError(f"{out} already exists and is not an empty folder: choose a new path")
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    return out


def create_backup(
    *,
    database_url: str,
    instance_path: Path,
    out: Path,
    with_keys: bool = False,
    passphrase: str | None = None,
    on_snapshot: Callable[[], None] | None = None,
) -> BackupResult:
    """Write a backup of the database at ``database_url`` (and, ``with_keys``, the instance
    folder's secrets sealed with ``passphrase``) into the new folder ``out``.

    ``on_snapshot`` (PostgreSQL) is called once the snapshot is fixed and before pg_dump
    starts (tests use it to commit writes that must not be in the backup). Refuses (BackupError)
    before writing anything if the folder is in use or the passphrase is missing or weak.
    """
    started = time.perf_counter()
    if with_keys:
        try:
            secrets.check_passphrase(passphrase)
        except secrets.SealError as exc:
            raise BackupError(str(exc)) from exc
    out = _prepare_folder(out)
    created_at = utcnow()
    try:
        files: dict[str, Path] = {}
        if with_keys:
            assert passphrase is not None
            packed, names = secrets.pack(instance_path, exclude=out)
            (out / SECRETS_FILE).write_bytes(secrets.seal(packed, passphrase))
            (out / SECRETS_FILE).chmod(0o600)
            files[SECRETS_FILE] = out / SECRETS_FILE
        else:
            names = []
        if make_url(database_url).get_backend_name() == "sqlite":
            engine_name = "sqlite"
            figures = _backup_sqlite(database_url, out / SQLITE_FILE)
            files[SQLITE_FILE] = out / SQLITE_FILE
        else:
            engine_name = "postgresql"
            figures = _backup_postgres(database_url, out / PG_DUMP_FILE, on_snapshot)
            files[PG_DUMP_FILE] = out / PG_DUMP_FILE
        manifest = {
            "format": FORMAT,
            "created_at": created_at.isoformat(),
            "engine": engine_name,
            "source": make_url(database_url).render_as_string(hide_password=True),
            "app_version": app_version(),
            "files": {
                name: {"sha256": sha256_of(path), "bytes": path.stat().st_size}
                for name, path in sorted(files.items())
            },
            "secrets": {"included": with_keys, "files": names},
            "ledger": figures,
        }
        tmp = out / (MANIFEST + ".partial")
        tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        tmp.chmod(0o600)
        os.replace(tmp, out / MANIFEST)
    except BaseException:
        # Leave nothing that looks like a backup behind.
        shutil.rmtree(out, ignore_errors=True)
        raise
    return BackupResult(out, manifest, time.perf_counter() - started)


def _backup_sqlite(url: str, target: Path) -> dict[str, Any]:
    source_path = make_url(url).database
    if not source_path or not Path(source_path).exists():
        raise BackupError(f"there is no SQLite database at {source_path}")
    source = sqlite3.connect(source_path, timeout=30)
    copy = sqlite3.connect(target)
    try:
        # One step (pages=-1): the whole file under one read transaction.
        source.backup(copy)
        # A self-contained single file (no -wal beside it).
        copy.execute("PRAGMA journal_mode = DELETE")
    finally:
        copy.close()
        source.close()
    target.chmod(0o600)
    engine = create_engine(f"sqlite:///{target}")
    try:
        with engine.connect() as conn:
            return ledger_figures(conn)
    finally:
        engine.dispose()


def _backup_postgres(
    url: str, target: Path, on_snapshot: Callable[[], None] | None
) -> dict[str, Any]:
    engine: Engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    uri, env = libpq_target(url)
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                conn.execute(text("SET TRANSACTION READ ONLY"))
                snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
                figures = ledger_figures(conn)
                if on_snapshot is not None:
                    on_snapshot()
                # The snapshot lives as long as this transaction: pg_dump must finish first.
                # An argument list, no shell: nothing in it is interpreted.
                done = subprocess.run(  # noqa: S603
                    [
                        pg_tool("pg_dump"),
                        "--format=custom",
                        f"--snapshot={snapshot}",
                        "--no-password",
                        f"--file={target}",
                        f"--dbname={uri}",
                    ],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if done.returncode != 0:
                    raise BackupError(f"pg_dump failed: {done.stderr.strip()[:_STDERR_CHARS]}")
    finally:
        engine.dispose()
    target.chmod(0o600)
    return figures


def read_manifest(folder: Path) -> dict[str, Any]:
    """The backup's manifest, checked to be one this program can restore."""
    path = folder / MANIFEST
    if not folder.is_dir():
        raise BackupError(f"{folder} is not a folder: give the folder `credits backup` wrote")
    if not path.exists():
        raise BackupError(f"{folder} holds no {MANIFEST}: not a backup, or one that did not finish")
    try:
        manifest = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BackupError(f"{path} is damaged: it is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise BackupError(f"{path} is not a manifest this version reads (format {found!r})")
    for key in ("engine", "files", "ledger", "secrets"):
        if key not in manifest:
            raise BackupError(f"{path} is damaged: it has no {key!r}")
    return manifest


def check_files(folder: Path, manifest: dict[str, Any]) -> None:
    """Every file the manifest lists is there, with its size and SHA-256 (a damaged or
    swapped file is refused before anything is restored)."""
    for name, info in sorted(manifest["files"].items()):
        path = folder / name
        if not path.is_file():
            raise BackupError(f"{name} is missing from the backup {folder}")
        size = path.stat().st_size
        if size != info.get("bytes"):
            raise BackupError(
                f"{name} is damaged: it has {size} bytes, the manifest says {info.get('bytes')}"
            )
        digest = sha256_of(path)
        if digest != info.get("sha256"):
            raise BackupError(
                f"{name} is damaged: its SHA-256 is {digest}, the manifest says "
                f"{info.get('sha256')}"
            )


def created_at(manifest: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(manifest["created_at"])
