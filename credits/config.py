"""Settings from the environment, with defaults for the embedded mode.

The embedded default needs nothing installed: a SQLite file in the instance folder and a
secret key generated into that folder on first run. Production sets
``CREDITS_DATABASE_URL=postgresql+psycopg://...`` and (usually) ``CREDITS_SECRET_KEY``.

Every setting can also be given to :func:`credits.create_app` as an override mapping, which is
how the tests build apps (``create_app({"DATABASE_URL": ..., "INSTANCE_PATH": ...})``).
"""

from __future__ import annotations

import os
import secrets
import types
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

ENV_PREFIX = "CREDITS_"

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


class SettingError(ValueError):
    """A setting's value does not parse as its declared type; the message names the
    environment variable (``CREDITS_...``) it came from."""


def parse_setting(name: str, raw: Any, declared: Any) -> Any:
    """``raw`` (text from the environment, or an override's value) as the ``declared`` type:
    ``int``, ``float``, ``bool``, ``str``, ``Path`` or ``Optional`` of one of them (where an
    empty text means None). A value already of the type is kept; one that does not parse
    raises :class:`SettingError` naming ``CREDITS_<NAME>``."""
    var = ENV_PREFIX + name.upper()
    if get_origin(declared) in (Union, types.UnionType):
        inner = [a for a in get_args(declared) if a is not type(None)]
        if len(inner) != 1:
            raise TypeError(f"{var}: unsupported setting type {declared!r}")
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        return parse_setting(name, raw, inner[0])
    if declared is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise SettingError(f"{var}={raw!r} is not a yes/no value (use true or false)")
    if declared is int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        try:
            return int(str(raw).strip())
        except ValueError:
            raise SettingError(f"{var}={raw!r} is not a whole number") from None
    if declared is float:
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            return float(raw)
        try:
            return float(str(raw).strip())
        except ValueError:
            raise SettingError(f"{var}={raw!r} is not a number") from None
    if declared is Path:
        return raw if isinstance(raw, Path) else Path(raw)
    if declared is str:
        return raw
    raise TypeError(f"{var}: unsupported setting type {declared!r}")


@dataclass(frozen=True)
class Settings:
    """Resolved configuration. Read once at start-up; never mutated afterwards."""

    instance_path: Path
    database_url: str
    secret_key: str
    #: Largest request body accepted (bytes); larger bodies get 413 problem+json.
    max_body_bytes: int = 64 * 1024
    #: Number of balance slot rows for accounts without a floor (issuance, shops, vouchers
    #: outstanding). Spreads concurrent writers over several rows; see docs/architecture.md.
    hot_account_slots: int = 8
    #: How many times a unit of work is retried on a deadlock/serialization failure.
    transaction_attempts: int = 8
    #: Cookies only over HTTPS. Off in the embedded default so `credits serve` works on
    #: http://127.0.0.1; deploy/ turns it on.
    secure_cookies: bool = False
    #: Log SQL (development aid).
    echo_sql: bool = False
    #: Argon2 cost profile for new password hashes: "default" (RFC 9106 low-memory) in
    #: production; "fast" only for tests. See credits/accounts/passwords.py.
    password_hash_profile: str = "default"
    #: Outgoing mail (credits/mail): empty → each message is written as an .eml file into
    #: ``instance/mail/`` (development, tests). ``smtp+starttls://user:pass@host:587``,
    #: ``smtps://user:pass@host:465``, or ``smtp://localhost:25`` (a local relay) → SMTP.
    smtp_url: str = ""
    #: Who runs the scheme, as it signs its emails ("Lambeth Council").
    council_name: str = "Your council"
    #: The From: of every message the scheme sends.
    mail_from: str = "Cooperative Credits <credits@council.example>"
    #: The public address of the site (``https://credits.council.example``), used for the
    #: links in emails. Set it in production: otherwise links use the request's Host header.
    public_url: str = ""
    #: How many reverse proxies in front of the app append to X-Forwarded-For; the client
    #: address used for rate limiting is taken that many hops from the right. 0 = no proxy.
    trusted_proxies: int = 0
    #: Which council scheme this deployment is: the voucher code's ``scheme_id`` (0..65535).
    scheme_id: int = 1
    #: How long a new voucher stays valid, in days (credits.vouchers).
    voucher_expiry_days: int = 90
    #: The inactivity lapse policy: a member with no activity for this many months loses
    #: their balance to the expired account, after 30 days' warning. 0 (default) = off.
    inactivity_months: int = 0
    #: Manual adjustments of more credits than this need a second officer's approval
    #: (credits.adjustments); at or below it they post at once.
    adjustment_four_eyes_credits: int = 50
    #: Connections the reconciliation checks (`credits verify`, the month close) run on at
    #: once on PostgreSQL, sharing one snapshot; 1 runs them one after another. Two suits the
    #: reference machine's two cores (docs/benchmarks.md).
    verify_jobs: int = 2
    #: PostgreSQL: the role the app runs as, when it is not the role that owns the tables
    #: (least privilege: credits/privileges.py). `credits init-db`, run as the owner, grants
    #: it exactly what it needs after every migration. Empty: one role does both.
    db_app_role: str = ""
    #: ``GET /metrics``: a scraper presenting ``Authorization: Bearer <this>`` may read it.
    metrics_token: str = ""
    #: ``GET /metrics``: client addresses or networks (comma-separated, CIDR allowed) that may
    #: read it without the token. The address is the one rate limits use (it follows
    #: X-Forwarded-For only as far as CREDITS_TRUSTED_PROXIES says). Neither set: nobody.
    metrics_allow: str = ""
    #: Request log: "json" writes one JSON line per request (deploy/gunicorn.conf.py turns it
    #: on in production); "off" leaves request logging to the server's access log.
    request_log: str = "off"
    #: Settlement (credits.settlement): a shop owed less than this many pence is not paid this
    #: time, its credits roll over to the next run; a run paying more than this many pence
    #: in all needs a second officer to approve it. Settings, not officers' choices: an
    #: officer who could lower the four-eyes threshold could bypass it.
    settlement_minimum_pence: int = 1_000
    settlement_four_eyes_pence: int = 50_000
    #: The council's own bank account, the debtor of the pain.001 payments file: a sort code
    #: and account number (``12-34-56 12345678``) or an IBAN; and the account's name
    #: (default: ``council_name``).
    settlement_payer_account: str = ""
    settlement_payer_name: str = ""
    #: The licence of the open data (/open, /api/v1/open): a name from
    #: credits.open.LICENCES — OGL-UK-3.0 (default), CC-BY-4.0, CC0-1.0, ODC-BY-1.0,
    #: ODbL-1.0 or PDDL-1.0.
    open_data_licence: str = "OGL-UK-3.0"
    #: How often (milliseconds) each process checks whether the public record changed (a
    #: close, hold or release): a change reaches every worker within this time. 0 checks on
    #: every request (one small query each).
    open_recheck_ms: int = 1000
    #: An optional streaming replica of the database for reads that may lag a moment
    #: (statements, the officer dashboard, history pages): ``postgresql+psycopg://...``.
    #: Unset, everything reads the primary. docs/scaling.md.
    read_database_url: str = ""
    #: ``pgbouncer`` when PgBouncer in transaction pooling sits between the app and
    #: PostgreSQL: no server-side prepared statements, no session state (docs/scaling.md).
    database_pooler: str = ""
    #: Database connections each process keeps (and as many again at peaks).
    database_pool_size: int = 10
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def load(cls, overrides: Mapping[str, Any] | None = None) -> Settings:
        """Build settings from ``CREDITS_*`` environment variables and ``overrides``.

        Overrides use the same names without the prefix (``DATABASE_URL``) and win over the
        environment. Each value is parsed as its field's declared type (:func:`parse_setting`);
        one that does not parse raises :class:`SettingError` naming its variable. Creates the
        instance folder and, if no secret key is configured, a random one stored in
        ``instance/secret_key`` (mode 0600) so sessions survive restarts.
        """
        overrides = dict(overrides or {})

        def get(name: str, default: Any = None) -> Any:
            if name in overrides:
                return overrides.pop(name)
            return os.environ.get(ENV_PREFIX + name, default)

        instance_path = Path(get("INSTANCE_PATH", "instance")).resolve()
        instance_path.mkdir(parents=True, exist_ok=True)
        database_url = get("DATABASE_URL") or f"sqlite:///{instance_path / 'credits.sqlite3'}"
        secret_key = get("SECRET_KEY") or _instance_secret(instance_path / "secret_key")
        known = {f.name for f in fields(cls)} - {"instance_path", "database_url", "secret_key"}
        declared = get_type_hints(cls)
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in known or f.name == "extra":
                continue
            raw = get(f.name.upper())
            if raw is None:
                continue
            values[f.name] = parse_setting(f.name, raw, declared[f.name])
        settings = cls(
            instance_path=instance_path,
            database_url=database_url,
            secret_key=secret_key,
            **values,
        )
        # Whatever is left over is kept for capabilities that read their own settings.
        return replace(settings, extra=dict(overrides))


def write_private_file(path: Path, data: bytes) -> bool:
    """Create ``path`` with mode 0600 holding ``data``, atomically; False if it already exists.

    Several processes (gunicorn workers) may start at once: the content is written to a
    private temporary file and hard-linked into place, so a reader never sees a half-written
    file and exactly one writer wins.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)


def _instance_secret(path: Path) -> str:
    """Read the generated secret, creating it (0600) on first use."""
    if not path.exists():
        write_private_file(path, (secrets.token_urlsafe(48) + "\n").encode())
    return path.read_text().strip()
