"""The terminal's local store (SQLite): trust list, settings, the scan journal, submissions.

Guarantees:

- Every scan is written (table ``scan``) before anything is sent about it, and every request
  that may move credits is written (table ``submission``, with the exact JSON body and its
  idempotency key) in the same transaction, *before* it is sent. After a crash the stored
  body is sent again byte for byte, so the ledger replays its first answer: nothing is
  redeemed twice and no scan is lost.
- One transaction per step (``BEGIN IMMEDIATE``: the write lock is taken up front, so a
  read-check-write such as the offline caps cannot race another process); the database is in
  WAL mode with ``synchronous=FULL``, so a committed step survives a power cut.
- Times are stored as UTC ISO 8601 text with a fixed width (they sort as text).
- The schema is versioned (``PRAGMA user_version``, see :data:`MIGRATIONS`): opening a store
  written by an older release upgrades it in one transaction, keeping the queue and the
  journal; a store written by a newer release is refused rather than misread.

Scan states (``scan.state``) — what the shopkeeper was told, and how it settled:

============  =========================================================================
``pending``   written, the online request not answered yet (in flight, or a crash)
``redeemed``  the ledger redeemed it (online, or a queued one after sync)
``exception`` accepted offline, but the voucher had gone elsewhere: the ledger recorded an
              exception and still pays the shop
``held``      accepted offline, the voucher had gone elsewhere, and this till's exceptions
              this month are above its ceiling: a council officer decides whether to pay
``refused``   not accepted: refused here (bad code, expired, already used) or by the ledger
``queued``    accepted offline within the limits; waiting to be sent
``declined``  "can't accept now": the ledger unreachable and the voucher over the limits
============  =========================================================================

The spent list (table ``spent_voucher``, schema version 2) holds the vouchers the ledger says
are redeemed or cancelled and not yet expired; a voucher on it is refused offline. It is
fetched only when no acceptance is queued (so the ledger's record of the fetch never passes
an acceptance made before it), and while a fetch is under way or was cut short the terminal
accepts nothing offline (``meta.spent_list_pending``).

Submission states: ``open`` (written; may or may not have reached the ledger), ``answered``,
``not_sent`` (the connection was never made: the ledger cannot have seen it) and
``superseded`` (an offline submission made unnecessary because the online one turned out to
have gone through).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

#: The schema version this code writes (``PRAGMA user_version``).
SCHEMA_VERSION = 2

#: Version 1: the schema as released before versioning (it kept ``meta.schema_version`` = 1
#: and left ``user_version`` at 0). Never change it: stores in shops were made with it.
SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS scan (
    id TEXT PRIMARY KEY,                -- scan_id (uuid4), also reported in the journal upload
    form_id TEXT UNIQUE,                -- the counter form's one-time id: a re-post finds its scan
    scanned_at TEXT NOT NULL,
    source TEXT NOT NULL,               -- scanner | camera | image | cli
    code TEXT NOT NULL,
    voucher_id TEXT,                    -- hex; NULL when the code could not be read at all
    reference TEXT,
    face_value INTEGER,
    expires_at INTEGER,
    amount INTEGER,                     -- credits asked for
    state TEXT NOT NULL CHECK (state IN
        ('pending', 'redeemed', 'exception', 'refused', 'queued', 'declined')),
    offline_accepted_at TEXT,
    reason TEXT,                        -- machine-readable code of a refusal or exception
    detail TEXT,                        -- the ledger's own words, for the log
    redemption_id TEXT,
    redeemed_amount INTEGER,
    change INTEGER,
    redeemed_at TEXT,
    other_shop_id INTEGER,
    other_shop_name TEXT,
    other_redeemed_at TEXT,
    exception_id TEXT,
    needs_attention INTEGER NOT NULL DEFAULT 0,  -- settled differently from what was shown
    reported_outcome TEXT,              -- the outcome last uploaded with the journal
    updated_at TEXT NOT NULL,
    CHECK (amount IS NULL OR amount > 0)
);
CREATE INDEX IF NOT EXISTS scan_voucher ON scan (voucher_id);
CREATE INDEX IF NOT EXISTS scan_state ON scan (state);
CREATE INDEX IF NOT EXISTS scan_scanned_at ON scan (scanned_at);
CREATE TABLE IF NOT EXISTS submission (
    idempotency_key TEXT PRIMARY KEY,
    scan_id TEXT NOT NULL REFERENCES scan (id),
    kind TEXT NOT NULL CHECK (kind IN ('online', 'offline')),
    body TEXT NOT NULL,                 -- the exact JSON sent; a retry sends it byte for byte
    state TEXT NOT NULL CHECK (state IN ('open', 'answered', 'not_sent', 'superseded')),
    created_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_attempt_at TEXT,
    response_status INTEGER,
    response_body TEXT,
    answered_at TEXT
);
CREATE INDEX IF NOT EXISTS submission_scan ON submission (scan_id);
CREATE INDEX IF NOT EXISTS submission_state ON submission (state);
"""

#: Version 2: a scan may be ``held`` (an offline claim a council officer will decide; the
#: state's CHECK is rebuilt the way SQLite documents, as it cannot alter one), and the spent
#: list.
SCHEMA_V2 = """
CREATE TABLE scan_v2 (
    id TEXT PRIMARY KEY,
    form_id TEXT UNIQUE,
    scanned_at TEXT NOT NULL,
    source TEXT NOT NULL,
    code TEXT NOT NULL,
    voucher_id TEXT,
    reference TEXT,
    face_value INTEGER,
    expires_at INTEGER,
    amount INTEGER,
    state TEXT NOT NULL CHECK (state IN
        ('pending', 'redeemed', 'exception', 'held', 'refused', 'queued', 'declined')),
    offline_accepted_at TEXT,
    reason TEXT,
    detail TEXT,
    redemption_id TEXT,
    redeemed_amount INTEGER,
    change INTEGER,
    redeemed_at TEXT,
    other_shop_id INTEGER,
    other_shop_name TEXT,
    other_redeemed_at TEXT,
    exception_id TEXT,
    needs_attention INTEGER NOT NULL DEFAULT 0,
    reported_outcome TEXT,
    updated_at TEXT NOT NULL,
    CHECK (amount IS NULL OR amount > 0)
);
INSERT INTO scan_v2 (
    id, form_id, scanned_at, source, code, voucher_id, reference, face_value, expires_at,
    amount, state, offline_accepted_at, reason, detail, redemption_id, redeemed_amount, change,
    redeemed_at, other_shop_id, other_shop_name, other_redeemed_at, exception_id,
    needs_attention, reported_outcome, updated_at
) SELECT
    id, form_id, scanned_at, source, code, voucher_id, reference, face_value, expires_at,
    amount, state, offline_accepted_at, reason, detail, redemption_id, redeemed_amount, change,
    redeemed_at, other_shop_id, other_shop_name, other_redeemed_at, exception_id,
    needs_attention, reported_outcome, updated_at
FROM scan;
DROP TABLE scan;
ALTER TABLE scan_v2 RENAME TO scan;
CREATE INDEX scan_voucher ON scan (voucher_id);
CREATE INDEX scan_state ON scan (state);
CREATE INDEX scan_scanned_at ON scan (scanned_at);
CREATE TABLE spent_voucher (
    voucher_id TEXT PRIMARY KEY,        -- hex, as in the code
    expires_at INTEGER NOT NULL,        -- epoch seconds: dropped once past
    state TEXT NOT NULL CHECK (state IN ('redeemed', 'cancelled'))
);
CREATE INDEX spent_voucher_expires_at ON spent_voucher (expires_at);
"""

#: Each version's DDL, applied in order from the store's version to :data:`SCHEMA_VERSION`.
MIGRATIONS = {1: SCHEMA_V1, 2: SCHEMA_V2}


class StoreTooNew(Exception):
    """The store was written by a newer release of the terminal app: refuse to misread it."""


def _statements(script: str) -> list[str]:
    """A DDL script as single statements (run one by one inside the caller's transaction;
    ``executescript`` would commit it)."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    assert not buffer.strip(), f"an incomplete statement in a migration: {buffer!r}"
    return statements


# Scans that hold a voucher at this terminal: a second scan of the same voucher is refused
# locally (it is already used here, or about to be).
HOLDING_STATES = ("pending", "redeemed", "exception", "held", "queued")
# Scans that count towards today's takings (a held one is not: the council may decline it).
TAKEN_STATES = ("redeemed", "exception", "queued")

# The scan columns :meth:`Store.settle` may change (the SQL is built from these names).
SETTLABLE = frozenset(
    {
        "state",
        "reason",
        "detail",
        "redemption_id",
        "redeemed_amount",
        "change",
        "redeemed_at",
        "other_shop_id",
        "other_shop_name",
        "other_redeemed_at",
        "exception_id",
        "needs_attention",
    }
)

JOURNAL_OUTCOME = {
    "redeemed": "redeemed",
    "exception": "exception",
    "held": "exception",  # the ledger recorded an exception claim; an officer decides
    "refused": "refused",
    "declined": "refused",
    "queued": "queued",
    "pending": "queued",
}


def utc_now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def iso(t: datetime) -> str:
    """Fixed-width UTC ISO 8601 text (sorts as text): ``2026-11-25T10:31:02.123456Z``."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str | None) -> datetime | None:
    """Parse an ISO 8601 time (ours or the ledger's) into an aware UTC datetime."""
    if not text:
        return None
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Scan:
    """One row of the scan journal."""

    id: str
    form_id: str | None
    scanned_at: datetime
    source: str
    code: str
    voucher_id: str | None
    reference: str | None
    face_value: int | None
    expires_at: int | None
    amount: int | None
    state: str
    offline_accepted_at: datetime | None
    reason: str | None
    detail: str | None
    redemption_id: str | None
    redeemed_amount: int | None
    change: int | None
    redeemed_at: datetime | None
    other_shop_id: int | None
    other_shop_name: str | None
    other_redeemed_at: datetime | None
    exception_id: str | None
    needs_attention: bool
    reported_outcome: str | None
    updated_at: datetime

    @property
    def taken(self) -> int:
        """Credits this scan took for the shop (0 if it took none)."""
        if self.state in ("redeemed", "exception"):
            return self.redeemed_amount or 0
        if self.state == "queued":
            return self.amount or 0
        return 0

    @property
    def journal_outcome(self) -> str:
        """The outcome as the journal upload names it (docs/api-terminal.md)."""
        return JOURNAL_OUTCOME[self.state]

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Scan:
        d = dict(row)
        for k in (
            "scanned_at",
            "offline_accepted_at",
            "redeemed_at",
            "other_redeemed_at",
            "updated_at",
        ):
            d[k] = parse_time(d[k])
        d["needs_attention"] = bool(d["needs_attention"])
        return cls(**d)


@dataclass(frozen=True)
class Submission:
    """One request that may move credits, as it was (or will be) sent."""

    idempotency_key: str
    scan_id: str
    kind: str
    body: str
    state: str
    attempts: int
    response_status: int | None
    response_body: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Submission:
        return cls(
            **{
                k: row[k]
                for k in (
                    "idempotency_key",
                    "scan_id",
                    "kind",
                    "body",
                    "state",
                    "attempts",
                    "response_status",
                    "response_body",
                )
            }
        )


class CapExceeded(Exception):
    """An offline acceptance would break a limit: ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class OnSpentList(Exception):
    """The voucher is on the ledger's spent list: ``state`` ``redeemed`` or ``cancelled``."""

    def __init__(self, state: str) -> None:
        super().__init__(state)
        self.state = state


def new_key(prefix: str) -> str:
    """A fresh idempotency key: unguessable, printable ASCII, well under 200 characters."""
    return f"{prefix}-{uuid.uuid4().hex}"


class Store:
    """The SQLite store. Every public method is one transaction (see the module docstring).

    Each thread (the counter screen's request threads, the background sync) gets its own
    connection, kept open: opening one per call would also checkpoint the WAL on every close,
    which costs more than the transaction itself.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")  # not inside a transaction
        self.version = self._migrate()

    def _migrate(self) -> int:
        """Bring the store to :data:`SCHEMA_VERSION`, one transaction for all the steps, and
        return the version it now has. Two processes opening one store at once: the second
        waits for the first's write lock, then finds nothing left to do."""
        # Its own connection: a table rebuild needs foreign keys off, which SQLite allows
        # only outside a transaction (the store's connections keep them on).
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            conn.execute("PRAGMA foreign_keys=OFF")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("BEGIN IMMEDIATE")
            try:
                version = int(conn.execute("PRAGMA user_version").fetchone()[0])
                if (
                    version == 0
                    and conn.execute(
                        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'scan'"
                    ).fetchone()
                ):
                    version = 1  # made by the release before versioning
                if version > SCHEMA_VERSION:
                    raise StoreTooNew(
                        f"{self.path} was written by a newer version of the terminal app "
                        f"(schema {version}; this one knows up to {SCHEMA_VERSION}): "
                        "install that version again"
                    )
                for step in range(version + 1, SCHEMA_VERSION + 1):
                    for statement in _statements(MIGRATIONS[step]):
                        conn.execute(statement)
                problems = conn.execute("PRAGMA foreign_key_check").fetchall()
                if problems:
                    raise sqlite3.IntegrityError(f"foreign keys broken by the upgrade: {problems}")
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")
                conn.execute(
                    "INSERT INTO meta VALUES ('schema_version', ?, ?) ON CONFLICT (key)"
                    " DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
                    " WHERE value <> excluded.value",
                    (str(SCHEMA_VERSION), iso(utc_now())),
                )
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()
        return SCHEMA_VERSION

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, timeout=10, isolation_level=None, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA synchronous=FULL")  # a committed step survives a power cut
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        yield conn

    def close(self) -> None:
        """Close every thread's connection (at shutdown, when no step is running)."""
        with self._all_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``): committed on success, else rolled back."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # --- meta: trust list, terminal settings, contact state -------------------------------

    def get_meta(self, key: str) -> str | None:
        """A stored setting, or None."""
        with self._connect() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row["value"])

    def get_meta_many(self, *keys: str) -> dict[str, str | None]:
        """Several stored settings at once (missing ones are None)."""
        with self._connect() as conn:
            found = {r["key"]: r["value"] for r in conn.execute("SELECT key, value FROM meta")}
        return {k: found.get(k) for k in keys}

    def set_meta(self, **values: str | None) -> None:
        """Store settings (None deletes) in one transaction."""
        now = iso(utc_now())
        with self.transaction() as conn:
            for key, value in values.items():
                if value is None:
                    conn.execute("DELETE FROM meta WHERE key = ?", (key,))
                else:
                    conn.execute(
                        "INSERT INTO meta VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE"
                        " SET value = excluded.value, updated_at = excluded.updated_at",
                        (key, value, now),
                    )

    # --- scans and submissions ---------------------------------------------------------------

    def scan(self, scan_id: str) -> Scan | None:
        """The scan with this id, or None."""
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM scan WHERE id = ?", (scan_id,)).fetchone()
        return None if row is None else Scan.from_row(row)

    def scan_by_form(self, form_id: str) -> Scan | None:
        """The scan made from this counter form, or None."""
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM scan WHERE form_id = ?", (form_id,)).fetchone()
        return None if row is None else Scan.from_row(row)

    def holding_scan(self, voucher_id: str) -> Scan | None:
        """The latest scan at this terminal that holds this voucher (see HOLDING_STATES)."""
        with self._connect() as conn:
            row = conn.execute(
                "SELECT * FROM scan WHERE voucher_id = ?"
                " AND state IN ('pending', 'redeemed', 'exception', 'held', 'queued')"
                " ORDER BY scanned_at DESC LIMIT 1",
                (voucher_id,),
            ).fetchone()
        return None if row is None else Scan.from_row(row)

    def open_submissions(self, voucher_id: str | None = None) -> list[Submission]:
        """Online submissions still open (no answer known), oldest first."""
        sql = (
            "SELECT s.* FROM submission s JOIN scan c ON c.id = s.scan_id"
            " WHERE s.state = 'open' AND s.kind = 'online'"
        )
        params: tuple[Any, ...] = ()
        if voucher_id is not None:
            sql += " AND c.voucher_id = ?"
            params = (voucher_id,)
        with self._connect() as conn:
            rows = conn.execute(sql + " ORDER BY s.created_at", params).fetchall()
        return [Submission.from_row(r) for r in rows]

    def queued_submissions(self) -> list[Submission]:
        """Offline submissions of queued scans, oldest first."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT s.* FROM submission s JOIN scan c ON c.id = s.scan_id"
                " WHERE s.kind = 'offline' AND s.state = 'open' AND c.state = 'queued'"
                " ORDER BY s.created_at"
            ).fetchall()
        return [Submission.from_row(r) for r in rows]

    def submissions_of(self, scan_id: str) -> list[Submission]:
        """Every submission of a scan, oldest first."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT * FROM submission WHERE scan_id = ? ORDER BY created_at", (scan_id,)
            ).fetchall()
        return [Submission.from_row(r) for r in rows]

    def record_scan(
        self,
        *,
        code: str,
        source: str,
        state: str,
        form_id: str | None = None,
        voucher: Any = None,
        amount: int | None = None,
        reason: str | None = None,
        detail: str | None = None,
        online_body: dict[str, Any] | None = None,
    ) -> tuple[Scan, Submission | None]:
        """Write a new scan and, if ``online_body`` is given, its online submission (with a
        fresh idempotency key added to the body) — one transaction, before anything is sent.

        ``voucher`` is a :class:`shop_terminal.voucher.Voucher` (verified or not) or None.
        """
        scan_id = str(uuid.uuid4())
        now = iso(utc_now())
        submission: Submission | None = None
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO scan (id, form_id, scanned_at, source, code, voucher_id, reference,"
                " face_value, expires_at, amount, state, reason, detail, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    scan_id,
                    form_id,
                    now,
                    source,
                    code,
                    getattr(voucher, "voucher_id", None),
                    getattr(voucher, "reference", None),
                    getattr(voucher, "face_value", None),
                    getattr(voucher, "expires_at", None),
                    amount,
                    state,
                    reason,
                    detail,
                    now,
                ),
            )
            if online_body is not None:
                # Counted as attempted now: the caller sends it right after this commit.
                submission = self._add_submission(
                    conn, scan_id, "online", online_body, now, attempted=True
                )
            row = conn.execute("SELECT * FROM scan WHERE id = ?", (scan_id,)).fetchone()
        return Scan.from_row(row), submission

    @staticmethod
    def _add_submission(
        conn: sqlite3.Connection,
        scan_id: str,
        kind: str,
        body: dict[str, Any],
        now: str,
        *,
        attempted: bool = False,
    ) -> Submission:
        key = new_key("scan" if kind == "online" else "offline")
        text = json.dumps({**body, "idempotency_key": key}, separators=(",", ":"))
        attempts = 1 if attempted else 0
        conn.execute(
            "INSERT INTO submission (idempotency_key, scan_id, kind, body, state, created_at,"
            " attempts, last_attempt_at) VALUES (?, ?, ?, ?, 'open', ?, ?, ?)",
            (key, scan_id, kind, text, now, attempts, now if attempted else None),
        )
        return Submission(key, scan_id, kind, text, "open", attempts, None, None)

    def note_attempt(self, key: str) -> None:
        """Count a send of this submission (written before the request goes out)."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE submission SET attempts = attempts + 1, last_attempt_at = ?"
                " WHERE idempotency_key = ?",
                (iso(utc_now()), key),
            )

    def mark_not_sent(self, key: str) -> None:
        """The connection was never made: the ledger cannot have seen this submission."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE submission SET state = 'not_sent' WHERE idempotency_key = ?"
                " AND state = 'open' AND attempts <= 1",
                (key,),
            )

    def accept_offline(
        self,
        *,
        scan_id: str | None,
        new_scan: dict[str, Any] | None,
        voucher_id: str,
        amount: int,
        floor_limit: int,
        max_count: int,
        max_total: int,
        offline_body: dict[str, Any],
        list_max_age_s: float,
        queue_max_age_s: float,
    ) -> Scan:
        """Accept a voucher offline if the rules allow, in one transaction, and queue it with
        its offline submission. In order:

        1. on the ledger's spent list → :class:`OnSpentList` (refuse it: it is used);
        2. the spent list missing, older than ``list_max_age_s``, or being fetched (or a fetch
           cut short) → ``offline_list_stale``: go online first;
        3. the oldest acceptance still queued older than ``queue_max_age_s`` →
           ``offline_queue_too_old``: go online first;
        4. above the floor limit, or the caps on what is held unsynced (count, credits).

        A refusal (:class:`OnSpentList` or :class:`CapExceeded`) writes nothing. Either
        ``scan_id`` (an existing pending scan) or ``new_scan`` (the arguments of a scan to
        create) is given.
        """
        now_dt = utc_now()
        now = iso(now_dt)
        with self.transaction() as conn:
            listed = conn.execute(
                "SELECT state FROM spent_voucher WHERE voucher_id = ? AND expires_at > ?",
                (voucher_id, int(now_dt.timestamp())),
            ).fetchone()
            if listed is not None:
                raise OnSpentList(str(listed["state"]))
            meta = dict(
                conn.execute(
                    "SELECT key, value FROM meta"
                    " WHERE key IN ('spent_list_fetched_at', 'spent_list_pending')"
                ).fetchall()
            )
            fetched = parse_time(meta.get("spent_list_fetched_at"))
            if (
                "spent_list_pending" in meta
                or fetched is None
                or (now_dt - fetched).total_seconds() > list_max_age_s
            ):
                raise CapExceeded("offline_list_stale")
            oldest = conn.execute(
                "SELECT min(offline_accepted_at) AS t FROM scan WHERE state = 'queued'"
            ).fetchone()["t"]
            if oldest is not None:
                waited = (now_dt - parse_time(oldest)).total_seconds()  # type: ignore[operator]
                if waited > queue_max_age_s:
                    raise CapExceeded("offline_queue_too_old")
            if amount > floor_limit:
                raise CapExceeded("offline_floor_limit")
            row = conn.execute(
                "SELECT count(*) AS n, coalesce(sum(amount), 0) AS total FROM scan"
                " WHERE state = 'queued'"
            ).fetchone()
            if row["n"] + 1 > max_count:
                raise CapExceeded("offline_count_cap")
            if row["total"] + amount > max_total:
                raise CapExceeded("offline_total_cap")
            if scan_id is None:
                assert new_scan is not None
                scan_id = str(uuid.uuid4())
                v = new_scan["voucher"]
                conn.execute(
                    "INSERT INTO scan (id, form_id, scanned_at, source, code, voucher_id,"
                    " reference, face_value, expires_at, amount, state, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
                    (
                        scan_id,
                        new_scan.get("form_id"),
                        now,
                        new_scan["source"],
                        new_scan["code"],
                        v.voucher_id,
                        v.reference,
                        v.face_value,
                        v.expires_at,
                        amount,
                        now,
                    ),
                )
            body = {**offline_body, "offline_accepted_at": iso(now_dt)}
            self._add_submission(conn, scan_id, "offline", body, now)
            conn.execute(
                "UPDATE scan SET state = 'queued', offline_accepted_at = ?, updated_at = ?"
                " WHERE id = ? AND state = 'pending'",
                (now, now, scan_id),
            )
            row = conn.execute("SELECT * FROM scan WHERE id = ?", (scan_id,)).fetchone()
        scan = Scan.from_row(row)
        assert scan.state == "queued", scan
        return scan

    # --- the spent list --------------------------------------------------------------------

    def begin_spent_list_fetch(self) -> bool:
        """Mark a fetch of the spent list as under way — unless an acceptance is queued
        (False: fetch once it is sent, so that the ledger's record of the fetch never passes
        an acceptance made before it). Until :meth:`finish_spent_list_fetch`, nothing is
        accepted offline: the ledger may record the fetch before this terminal has the list.
        """
        with self.transaction() as conn:
            if conn.execute("SELECT 1 FROM scan WHERE state = 'queued' LIMIT 1").fetchone():
                return False
            conn.execute(
                "INSERT INTO meta VALUES ('spent_list_pending', ?, ?) ON CONFLICT (key)"
                " DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                (iso(utc_now()), iso(utc_now())),
            )
        return True

    def spent_list_position(self) -> tuple[str | None, str | None]:
        """(cursor, ETag) of the last complete fetch (None, None: fetch the full list)."""
        m = self.get_meta_many("spent_list_cursor", "spent_list_etag")
        return m["spent_list_cursor"], m["spent_list_etag"]

    def add_spent(self, redeemed: list[tuple[str, int]], cancelled: list[tuple[str, int]]) -> None:
        """Add one page of the spent list (entries never leave it but by expiring)."""
        now_s = int(utc_now().timestamp())
        with self.transaction() as conn:
            conn.executemany(
                "INSERT INTO spent_voucher VALUES (?, ?, ?) ON CONFLICT (voucher_id) DO NOTHING",
                [(v, exp, "redeemed") for v, exp in redeemed if exp > now_s]
                + [(v, exp, "cancelled") for v, exp in cancelled if exp > now_s],
            )

    def finish_spent_list_fetch(self, *, cursor: str | None, etag: str | None) -> None:
        """The fetch is complete: keep its cursor and ETag, drop expired entries, and accept
        offline again (the list counts as fetched when the fetch began)."""
        now = utc_now()
        with self.transaction() as conn:
            started = conn.execute(
                "SELECT value FROM meta WHERE key = 'spent_list_pending'"
            ).fetchone()
            conn.execute("DELETE FROM spent_voucher WHERE expires_at <= ?", (int(now.timestamp()),))
            values = {
                "spent_list_cursor": cursor,
                "spent_list_etag": etag,
                "spent_list_fetched_at": started["value"] if started else iso(now),
            }
            for key, value in values.items():
                if value is None:
                    conn.execute("DELETE FROM meta WHERE key = ?", (key,))
                else:
                    conn.execute(
                        "INSERT INTO meta VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE"
                        " SET value = excluded.value, updated_at = excluded.updated_at",
                        (key, value, iso(now)),
                    )
            conn.execute("DELETE FROM meta WHERE key = 'spent_list_pending'")

    def abandon_spent_list_fetch(self, *, forget_cursor: bool = False) -> None:
        """The fetch failed before the ledger could record it (the connection was never
        made, or its first request was refused): offline acceptances may go on as before.
        ``forget_cursor``: the ledger refused the cursor; fetch the full list next time."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM meta WHERE key = 'spent_list_pending'")
            if forget_cursor:
                conn.execute(
                    "DELETE FROM meta WHERE key IN ('spent_list_cursor', 'spent_list_etag')"
                )

    def spent_list_summary(self) -> tuple[int, datetime | None, bool]:
        """(vouchers on the list, when the last complete fetch began, a fetch under way or
        cut short)."""
        with self._connect() as conn:
            n = conn.execute("SELECT count(*) AS n FROM spent_voucher").fetchone()["n"]
        m = self.get_meta_many("spent_list_fetched_at", "spent_list_pending")
        return int(n), parse_time(m["spent_list_fetched_at"]), m["spent_list_pending"] is not None

    def settle(
        self,
        scan_id: str,
        *,
        submission_key: str | None = None,
        response_status: int | None = None,
        response_body: str | None = None,
        supersede_offline: bool = False,
        **fields: Any,
    ) -> Scan:
        """Record an answer and the scan's new state and fields, in one transaction.

        ``submission_key`` marks that submission answered (with the response kept verbatim);
        ``supersede_offline`` retires the scan's open offline submission (its online one went
        through, so the offline one must never be sent).
        """
        now = iso(utc_now())
        with self.transaction() as conn:
            if submission_key is not None:
                conn.execute(
                    "UPDATE submission SET state = 'answered', response_status = ?,"
                    " response_body = ?, answered_at = ? WHERE idempotency_key = ?",
                    (response_status, response_body, now, submission_key),
                )
            if supersede_offline:
                conn.execute(
                    "UPDATE submission SET state = 'superseded' WHERE scan_id = ?"
                    " AND kind = 'offline' AND state = 'open'",
                    (scan_id,),
                )
            if fields:
                unknown = set(fields) - SETTLABLE
                if unknown:
                    raise ValueError(f"not a settable scan column: {sorted(unknown)}")
                values = {k: iso(v) if isinstance(v, datetime) else v for k, v in fields.items()}
                sets = ", ".join(f"{k} = ?" for k in values)
                # Column names checked against SETTLABLE above; values are parameters.
                sql = f"UPDATE scan SET {sets}, updated_at = ? WHERE id = ?"  # noqa: S608
                conn.execute(sql, (*values.values(), now, scan_id))
            row = conn.execute("SELECT * FROM scan WHERE id = ?", (scan_id,)).fetchone()
        return Scan.from_row(row)

    # --- reports -----------------------------------------------------------------------------

    def scans_between(self, start: datetime, end: datetime, limit: int = 10_000) -> list[Scan]:
        """Scans made in [start, end), newest first (at most ``limit``)."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT * FROM scan WHERE scanned_at >= ? AND scanned_at < ?"
                " ORDER BY scanned_at DESC LIMIT ?",
                (iso(start), iso(end), limit),
            ).fetchall()
        return [Scan.from_row(r) for r in rows]

    def totals(self, start: datetime, end: datetime) -> tuple[int, int, int, int]:
        """(count, credits, offline count, offline credits) taken in [start, end): scans
        redeemed, paid as exceptions, or queued (one query: the screen asks after every scan)."""
        with self._connect() as conn:
            row = conn.execute(
                "SELECT count(*) AS n, coalesce(sum(taken), 0) AS total,"
                " coalesce(sum(offline), 0) AS off_n,"
                " coalesce(sum(CASE WHEN offline THEN taken ELSE 0 END), 0) AS off_total"
                " FROM (SELECT offline_accepted_at IS NOT NULL AS offline,"
                "   CASE WHEN state IN ('redeemed', 'exception')"
                "     THEN coalesce(redeemed_amount, amount, 0) ELSE coalesce(amount, 0) END"
                "     AS taken"
                "   FROM scan WHERE scanned_at >= ? AND scanned_at < ?"
                "   AND state IN ('redeemed', 'exception', 'queued'))",
                (iso(start), iso(end)),
            ).fetchone()
        return int(row["n"]), int(row["total"]), int(row["off_n"]), int(row["off_total"])

    def queue_summary(self) -> tuple[int, int]:
        """(count, credits) of the scans accepted offline and not yet sent."""
        with self._connect() as conn:
            row = conn.execute(
                "SELECT count(*) AS n, coalesce(sum(amount), 0) AS total FROM scan"
                " WHERE state = 'queued'"
            ).fetchone()
        return int(row["n"]), int(row["total"])

    def unresolved_count(self) -> int:
        """Online submissions whose answer is not known yet (sync resolves them)."""
        with self._connect() as conn:
            row = conn.execute(
                "SELECT count(*) AS n FROM submission WHERE kind = 'online' AND state = 'open'"
            ).fetchone()
        return int(row["n"])

    def attention(self) -> list[Scan]:
        """Scans that settled differently from what the screen said, newest first."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT * FROM scan WHERE needs_attention = 1 ORDER BY updated_at DESC"
            ).fetchall()
        return [Scan.from_row(r) for r in rows]

    def acknowledge(self, scan_id: str) -> None:
        """The shopkeeper has seen this scan's changed outcome."""
        with self.transaction() as conn:
            conn.execute("UPDATE scan SET needs_attention = 0 WHERE id = ?", (scan_id,))

    def unreported(self, limit: int = 500) -> list[Scan]:
        """Scans whose current outcome has not been uploaded with the journal yet, oldest
        first (only scans whose code could be read: the journal is about vouchers)."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT * FROM scan WHERE voucher_id IS NOT NULL AND reported_outcome IS NOT"
                " (CASE state WHEN 'redeemed' THEN 'redeemed' WHEN 'exception' THEN 'exception'"
                " WHEN 'held' THEN 'exception'"
                " WHEN 'refused' THEN 'refused' WHEN 'declined' THEN 'refused' ELSE 'queued'"
                " END) ORDER BY scanned_at LIMIT ?",
                (limit,),
            ).fetchall()
        return [Scan.from_row(r) for r in rows]

    def mark_reported(self, reported: list[tuple[str, str]]) -> None:
        """Record which outcome of each scan the ledger has accepted."""
        with self.transaction() as conn:
            conn.executemany(
                "UPDATE scan SET reported_outcome = ? WHERE id = ?",
                [(outcome, scan_id) for scan_id, outcome in reported],
            )
