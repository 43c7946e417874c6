"""`python -m credits.bench backup`: `credits backup` and `credits restore` on a big ledger.

Times, on a database that already holds a history (the borough one: ``python -m
credits.bench statements --borough --reuse`` leaves it in ``credits_bench_statements``):

- baseline: a bare ``pg_dump --format=custom`` of the same database, and a bare
  ``pg_restore --single-transaction`` of that dump into an empty database;
- `credits backup` (the same dump on an exported snapshot, plus the manifest's figures and
  every file's SHA-256), without the sealed secrets;
- `credits restore` of it into an empty database: the restore itself, then the proof (every
  `credits verify` check, and the comparison with the manifest), timed apart.

The source database is only read. The restore target is (re)created; its name must contain
``restore`` or start with ``credits_bench`` so that a typo cannot wipe a real database.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from credits.bench.common import machine
from credits.db import make_engine, upgrade_to_head
from credits.operations.backup import create_backup, libpq_target, pg_tool
from credits.operations.restore import restore_backup

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/credits_bench_statements"
DEFAULT_RESTORE = "postgresql+psycopg://postgres@127.0.0.1:5432/credits_bench_restore"


def _recreate(url: str) -> None:
    parsed = make_url(url)
    name = parsed.database or ""
    if "restore" not in name and not name.startswith("credits_bench"):
        raise SystemExit(f"refusing to recreate {name!r}: name it *restore* or credits_bench*")
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def _size(url: str) -> str:
    engine = make_engine(url)
    with engine.connect() as conn:
        size = conn.execute(text("SELECT pg_size_pretty(pg_database_size(current_database()))"))
        postings = conn.execute(text("SELECT count(*) FROM posting")).scalar_one()
        result = f"{size.scalar_one()}, {postings:,} postings"
    engine.dispose()
    return result


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m credits.bench backup")
    parser.add_argument("--url", default=DEFAULT_URL, help="the database to back up (read only)")
    parser.add_argument("--restore-url", default=DEFAULT_RESTORE, help="scratch restore target")
    parser.add_argument("--folder", default=None, help="where to write (default: a temp folder)")
    parser.add_argument("--jobs", type=int, default=2, help="verify jobs after the restore")
    args = parser.parse_args(argv)
    print(f"# backup benchmark — {machine()}, load {_load()}")
    upgrade_to_head(make_engine(args.url))  # a history kept from an older version
    print(f"source: {make_url(args.url).database}: {_size(args.url)}")
    work = Path(args.folder or tempfile.mkdtemp(prefix="credits-bench-backup-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        uri, env = libpq_target(args.url)
        bare = work / "bare.pgdump"
        t0 = time.perf_counter()
        subprocess.run(
            [pg_tool("pg_dump"), "--format=custom", f"--file={bare}", f"--dbname={uri}"],
            env=env,
            check=True,
        )
        bare_dump_s = time.perf_counter() - t0
        print(f"baseline pg_dump -Fc: {bare_dump_s:.1f} s, {bare.stat().st_size / 2**20:,.0f} MiB "
              f"(load {_load()})")  # fmt: skip

        t0 = time.perf_counter()
        result = create_backup(database_url=args.url, instance_path=work, out=work / "backup")
        backup_s = time.perf_counter() - t0
        print(f"credits backup: {backup_s:.1f} s, {result.bytes / 2**20:,.0f} MiB "
              f"({backup_s / bare_dump_s:.2f}x the bare dump; load {_load()})")  # fmt: skip

        _recreate(args.restore_url)
        target_uri, target_env = libpq_target(args.restore_url)
        t0 = time.perf_counter()
        subprocess.run(
            [pg_tool("pg_restore"), "--no-owner", "--no-acl", "--exit-on-error",
             "--single-transaction", f"--dbname={target_uri}", str(bare)],
            env=target_env,
            check=True,
        )  # fmt: skip
        bare_restore_s = time.perf_counter() - t0
        print(f"baseline pg_restore --single-transaction: {bare_restore_s:.1f} s (load {_load()})")

        _recreate(args.restore_url)
        t0 = time.perf_counter()
        report = restore_backup(
            folder=result.path,
            database_url=args.restore_url,
            instance_path=work / "restored-instance",
            verify_jobs=args.jobs,
        )
        total_s = time.perf_counter() - t0
        print(
            f"credits restore: {total_s:.1f} s in all — restore {report.seconds_restore:.1f} s "
            f"({report.seconds_restore / bare_restore_s:.2f}x the bare pg_restore), proof "
            f"{report.seconds_verify:.1f} s (verify --jobs {args.jobs} and the manifest); "
            f"{'all checks passed' if report.ok else 'FAILED'} (load {_load()})"
        )
        for check in report.checks:
            print(f"   {'ok  ' if check.ok else 'FAIL'} {check.name} ({check.elapsed_s:.1f} s)")
        if report.differences:
            print(f"   {len(report.differences)} differences, first: {report.differences[:3]}")
    finally:
        if args.folder is None:
            shutil.rmtree(work, ignore_errors=True)
