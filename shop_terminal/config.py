"""The terminal's configuration: a JSON file in its data folder, overridable by environment.

Where the data folder is, first match wins: the ``--data DIR`` option, ``SHOP_TERMINAL_DATA``,
then the user's data folder as platformdirs finds it (``$XDG_DATA_HOME/shop-terminal``, else
``~/.local/share/shop-terminal`` on Linux; ``~/Library/Application Support/shop-terminal`` on
macOS; ``%LOCALAPPDATA%\\shop-terminal`` on Windows). The folder holds ``config.json``
(written by ``shop-terminal init``, readable by its owner only because it holds the terminal
token), the store ``terminal.sqlite3`` and ``secret`` (the counter screen's CSRF key).

Environment overrides of the file: ``SHOP_TERMINAL_LEDGER_URL``, ``SHOP_TERMINAL_TOKEN``.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, get_type_hints
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs

CONFIG_FILE = "config.json"
STORE_FILE = "terminal.sqlite3"
SECRET_FILE = "secret"
#: The data folder's name in the user's data folder.
APP_NAME = "shop-terminal"


class ConfigError(Exception):
    """The terminal is not configured, or its configuration is unusable (exit code 2)."""


@dataclass(frozen=True)
class Config:
    """Everything the terminal needs to run; see the module docstring for where it comes from."""

    data_dir: Path
    ledger_url: str = ""
    terminal_token: str = ""
    # Timeouts are short because a customer is waiting: a ledger that cannot answer in a few
    # seconds is treated as unreachable and the terminal falls back to its offline rules.
    connect_timeout_s: float = 1.5
    read_timeout_s: float = 4.0
    # Extra tries, with the same idempotency key, when a request got no answer.
    retries: int = 2
    # While offline, scans skip the network for this long after a failed contact, so each
    # scan is not slowed by a timeout; the background sync keeps probing the ledger.
    offline_recheck_s: float = 10.0
    timezone: str = "Europe/London"
    host: str = "127.0.0.1"
    port: int = 8765

    @property
    def store_path(self) -> Path:
        """The SQLite store."""
        return self.data_dir / STORE_FILE

    @property
    def tz(self) -> ZoneInfo:
        """The shop's time zone: 'today' and the times shown on screen are in it."""
        return ZoneInfo(self.timezone)

    def require_ledger(self) -> Config:
        """Return self if the ledger URL and token are set; else raise :class:`ConfigError`."""
        if not self.ledger_url or not self.terminal_token:
            raise ConfigError(
                f"this terminal is not set up yet (no ledger URL or token in {self.data_dir}):"
                " run `shop-terminal init --ledger URL --token TOKEN`"
            )
        return self


def default_data_dir() -> Path:
    """The per-user data folder (see the module docstring)."""
    if env := os.environ.get("SHOP_TERMINAL_DATA"):
        return Path(env)
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


#: Settings the environment overrides, and the variable of each.
ENV_OVERRIDES = {"ledger_url": "SHOP_TERMINAL_LEDGER_URL", "terminal_token": "SHOP_TERMINAL_TOKEN"}


def _typed(where: str, value: Any, declared: Any) -> Any:
    """``value`` (from config.json or the environment) as the ``declared`` type of its
    setting (``str``, ``int`` or ``float``; a number may be written as text). A value that
    is not of the type raises :class:`ConfigError` saying ``where`` it came from."""
    if declared is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"bad setting {where}: {value!r} is not text")
    if declared not in (int, float):
        raise TypeError(f"{where}: unsupported setting type {declared!r}")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"bad setting {where}: {value!r} is not a number")
    if declared is int and isinstance(value, float):
        raise ConfigError(f"bad setting {where}: {value!r} is not a whole number")
    try:
        return declared(value.strip() if isinstance(value, str) else value)
    except ValueError:
        kind = "a whole number" if declared is int else "a number"
        raise ConfigError(f"bad setting {where}: {value!r} is not {kind}") from None


def validate_ledger_url(url: str) -> str:
    """Return ``url`` without a trailing slash if it is an http(s) URL; else ConfigError."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"the ledger URL must start with https:// (or http://): {url!r}")
    return url.rstrip("/")


def load(data_dir: Path | None = None) -> Config:
    """Read the configuration (file, then environment overrides); never raises for a missing
    file — an unconfigured terminal still answers ``status`` and ``--help``."""
    data_dir = Path(data_dir) if data_dir else default_data_dir()
    values: dict[str, Any] = {}
    path = data_dir / CONFIG_FILE
    if path.exists():
        try:
            values = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from exc
    declared = get_type_hints(Config)
    values = {
        k: _typed(f"{k} in {path}", v, declared[k])
        for k, v in values.items()
        if k in declared and k != "data_dir"
    }
    for setting, variable in ENV_OVERRIDES.items():
        if env := os.environ.get(variable):
            values[setting] = _typed(variable, env, declared[setting])
    try:
        config = Config(data_dir=data_dir, **values)
        if config.ledger_url:
            config = replace(config, ledger_url=validate_ledger_url(config.ledger_url))
        config.tz  # noqa: B018 - fail early on an unknown time zone
    except (TypeError, ZoneInfoNotFoundError) as exc:
        raise ConfigError(f"bad setting in {path}: {exc}") from exc
    return config


def save(config: Config) -> Path:
    """Write ``config.json`` (owner-only: it holds the token); return its path."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    path = config.data_dir / CONFIG_FILE
    data = {k: v for k, v in asdict(config).items() if k != "data_dir"}
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)  # atomic: a crash leaves the old or the new file, never half
    return path


def secret_key(data_dir: Path) -> bytes:
    """The counter screen's CSRF key, created on first use (owner-only file)."""
    path = data_dir / SECRET_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first: use theirs
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())
