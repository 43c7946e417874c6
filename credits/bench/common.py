"""Shared pieces of the benchmarks: scratch databases, timing, percentiles, reporting."""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/credits_bench"


def scratch_database(url: str | None) -> str:
    """Return a URL for a freshly created, migrated scratch database.

    PostgreSQL: (re)creates the named database, which must be named ``credits_bench*`` (or
    ``<prefix>_bench*``, e.g. a developer's own ``i15_bench``) so a typo can never wipe a
    real one. SQLite: a new file.
    """
    from credits.db import make_engine, upgrade_to_head

    url = url or os.environ.get("CREDITS_BENCH_DATABASE_URL") or DEFAULT_PG
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        name = parsed.database or ""
        if not (name.startswith("credits_bench") or "_bench" in name):
            raise SystemExit(
                f"refusing to wipe {name!r}: bench databases are named credits_bench* "
                "(or <prefix>_bench*)"
            )
        admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    elif parsed.get_backend_name() == "sqlite" and parsed.database:
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(parsed.database + suffix):
                os.remove(parsed.database + suffix)
    engine = make_engine(url)
    upgrade_to_head(engine)
    engine.dispose()
    return url


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def machine() -> str:
    """A one-line description of where the figures were measured."""
    return (
        f"{datetime.now(UTC):%Y-%m-%d}, {platform.node()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    """Field-wise median of several runs' figures."""
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}
