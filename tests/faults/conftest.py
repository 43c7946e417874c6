"""Fixtures of the fault suite (``./dev test tests/faults -m faults``; CI runs it once).

The suite starts every server it needs itself — PostgreSQL clusters, a streaming replica,
PgBouncer, a pg_auto_failover formation, gunicorn — on free local ports in a temporary
folder, and stops them. It never touches the shared PostgreSQL at 127.0.0.1:5432.

Every run prints its seed; ``CREDITS_FAULT_SEED=N`` replays a run's operations and fault
schedule (the timing of threads still varies).
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from credits.bench.servers import private_dir
from tests.conftest import need


@pytest.fixture
def fault_seed() -> int:
    """The run's seed: CREDITS_FAULT_SEED, or a fresh one (printed either way)."""
    raw = os.environ.get("CREDITS_FAULT_SEED")
    return int(raw) if raw else secrets.randbelow(2**31)


@pytest.fixture
def say(capsys: pytest.CaptureFixture[str]) -> Callable[[str], None]:
    """Print straight to the terminal (the figures belong in CI's log)."""

    def out(line: str) -> None:
        with capsys.disabled():
            print(line, flush=True)

    return out


@pytest.fixture
def server_root() -> Iterator[Path]:
    """A private folder for servers that run as the ``postgres`` user; removed after."""
    need(shutil.which("pg_config") is not None, "PostgreSQL's server programs (pg_config)")
    root = private_dir("credits-faults-")
    yield root
    shutil.rmtree(root, ignore_errors=True)


def app_env(database_url: str, instance: Path, **extra: Any) -> dict[str, str]:
    """The environment of an app server on ``database_url`` with ``instance``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDITS_")}
    env.update(
        {
            "CREDITS_DATABASE_URL": database_url,
            "CREDITS_INSTANCE_PATH": str(instance),
            "CREDITS_PASSWORD_HASH_PROFILE": "fast",
            "CREDITS_ACCESS_LOG": "",
        }
    )
    env.update({f"CREDITS_{k}": str(v) for k, v in extra.items()})
    return env
