"""The terminal's store upgrades in place (PRAGMA user_version; shop_terminal/store.py):
a store made by the release before versioning — with an offline acceptance waiting to be
sent and a journal — is opened by this release, synced, and nothing is lost or doubled.

RELEASED_DDL is the store's schema as it was released (git 9c0e46a:shop_terminal/store.py),
kept here as a fixture: it must never change, because stores in shops were made with it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from shop_terminal.config import Config
from shop_terminal.store import SCHEMA_VERSION, Store, StoreTooNew, iso, utc_now
from shop_terminal.terminal import Terminal
from tests.terminal.fake_ledger import FakeLedger

RELEASED_DDL = """
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


def released_store(path: Path, rows: list[tuple[str, tuple]]) -> None:
    """A store as the released code made it (it set no user_version) holding ``rows``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(RELEASED_DDL)
    now = iso(utc_now())
    conn.execute("INSERT INTO meta VALUES ('schema_version', '1', ?)", (now,))
    for sql, params in rows:
        conn.execute(sql, params)
    conn.close()


def scan_row(scan_id: str, state: str, code: str, voucher: str, amount: int, **more: object):
    now = iso(utc_now())
    fields = {
        "id": scan_id,
        "scanned_at": now,
        "source": "scanner",
        "code": code,
        "voucher_id": voucher,
        "reference": "TEST-REF0",
        "face_value": amount,
        "expires_at": int(utc_now().timestamp()) + 3600,
        "amount": amount,
        "state": state,
        "updated_at": now,
        **more,
    }
    columns = ", ".join(fields)
    marks = ", ".join("?" for _ in fields)
    return f"INSERT INTO scan ({columns}) VALUES ({marks})", tuple(fields.values())


def contents(path: Path) -> tuple[list[tuple], list[tuple]]:
    conn = sqlite3.connect(path)
    try:
        scans = conn.execute("SELECT * FROM scan ORDER BY id").fetchall()
        subs = conn.execute("SELECT * FROM submission ORDER BY idempotency_key").fetchall()
    finally:
        conn.close()
    return scans, subs


def schema(path: Path) -> dict[str, list[tuple]]:
    """Every table's columns (name, type, not null, default, pk) and the index names."""
    conn = sqlite3.connect(path)
    try:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        out = {t: [tuple(c[1:]) for c in conn.execute(f"PRAGMA table_info({t})")] for t in tables}
        out["indexes"] = sorted(
            (r[0], r[1])
            for r in conn.execute(
                "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            )
        )
        out["ddl"] = sorted(
            r[0] for r in conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table'")
        )
    finally:
        conn.close()
    return out


def test_an_upgrade_keeps_the_queue_and_the_journal_and_sync_sends_once(
    tmp_path: Path, fake_ledger: FakeLedger, make_config: Callable[..., Config]
):
    config = make_config()
    waiting = fake_ledger.issue(12)
    redeemed_before = fake_ledger.issue(5)
    voucher_waiting = next(v for v in fake_ledger.vouchers.values() if v.face_value == 12)
    voucher_done = next(v for v in fake_ledger.vouchers.values() if v.face_value == 5)
    accepted = iso(utc_now())
    body = json.dumps(
        {
            "code": waiting,
            "amount": 12,
            "idempotency_key": "offline-released",
            "offline_accepted_at": accepted,
        },
        separators=(",", ":"),
    )
    terminal_info = {
        "id": 1,
        "name": "till-a",
        "shop": {"id": 1, "name": "Brixton Bakery"},
        "offline": {"floor_limit": 20, "max_count": 3, "max_total": 50},
    }
    released_store(
        config.store_path,
        [
            (
                "INSERT INTO meta VALUES ('terminal', ?, ?)",
                (json.dumps(terminal_info), iso(utc_now())),
            ),
            scan_row(
                "scan-queued",
                "queued",
                waiting,
                voucher_waiting.voucher_id,
                12,
                offline_accepted_at=accepted,
                reported_outcome="queued",
            ),
            (
                "INSERT INTO submission (idempotency_key, scan_id, kind, body, state,"
                " created_at) VALUES ('offline-released', 'scan-queued', 'offline', ?, 'open', ?)",
                (body, accepted),
            ),
            # The journal: a voucher redeemed online earlier (as recorded then), a refusal.
            scan_row(
                "scan-earlier",
                "redeemed",
                redeemed_before,
                voucher_done.voucher_id,
                5,
                redemption_id="r-0",
                redeemed_amount=5,
                change=0,
                reported_outcome="redeemed",
            ),
            scan_row(
                "scan-refused",
                "refused",
                "CC1:NOPE",
                "ab" * 16,
                3,
                reason="invalid_signature",
                reported_outcome="refused",
            ),
        ],
    )
    before = contents(config.store_path)

    terminal = Terminal(config)  # this release opens it
    try:
        assert terminal.store.version == SCHEMA_VERSION == 2
        conn = sqlite3.connect(config.store_path)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
        conn.close()
        assert contents(config.store_path) == before  # every row, byte for byte
        assert terminal.store.queue_summary() == (1, 12)

        report = terminal.sync()
        assert report.sent == 1 and len(report.redeemed) == 1 and report.still_queued == 0
        assert report.spent_list == "fetched"  # now that nothing waits
        assert [r["amount"] for r in fake_ledger.redemptions] == [12]
        assert fake_ledger.received[-1] == json.loads(body)  # the stored body, as it was
        scan = terminal.store.scan("scan-queued")
        assert scan is not None and scan.state == "redeemed"
        assert terminal.store.scan("scan-earlier").state == "redeemed"  # type: ignore[union-attr]
        assert fake_ledger.journal["scan-queued"]["outcome"] == "redeemed"

        again = terminal.sync()
        assert again.sent == 0 and len(fake_ledger.redemptions) == 1
        assert fake_ledger.balances["shop:1"] == 12
        scans, subs = contents(config.store_path)
        assert len(scans) == 3 and len(subs) == 1
    finally:
        terminal.close()
    # Opening it again changes nothing.
    Store(config.store_path).close()
    assert len(contents(config.store_path)[0]) == 3


def test_a_new_store_and_an_upgraded_one_have_the_same_schema(tmp_path: Path):
    released_store(tmp_path / "old" / "terminal.sqlite3", [])
    Store(tmp_path / "old" / "terminal.sqlite3").close()
    Store(tmp_path / "new" / "terminal.sqlite3").close()
    old, new = (
        schema(tmp_path / "old" / "terminal.sqlite3"),
        schema(tmp_path / "new" / "terminal.sqlite3"),
    )
    assert {"spent_voucher", "scan", "submission"} <= set(new)
    assert old == new  # columns, indexes and each table's DDL (its CHECKs)


def test_a_held_scan_can_be_stored_after_the_upgrade(tmp_path: Path):
    path = tmp_path / "terminal.sqlite3"
    released_store(path, [scan_row("s", "queued", "CC1:X", "cd" * 16, 4)])
    store = Store(path)
    try:
        assert store.settle("s", state="held").state == "held"
    finally:
        store.close()
    with pytest.raises(sqlite3.IntegrityError):  # the released schema could not hold it
        conn = sqlite3.connect(tmp_path / "other.sqlite3")
        conn.executescript(RELEASED_DDL)
        conn.execute(*scan_row("s", "held", "CC1:X", "cd" * 16, 4))


def test_a_store_from_a_newer_release_is_refused(tmp_path: Path):
    path = tmp_path / "terminal.sqlite3"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StoreTooNew, match="newer version"):
        Store(path)


def test_two_processes_opening_a_released_store_at_once(tmp_path: Path):
    path = tmp_path / "terminal.sqlite3"
    released_store(path, [scan_row("s", "queued", "CC1:X", "cd" * 16, 4)])
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def open_it() -> None:
        barrier.wait()
        try:
            Store(path).close()
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert len(contents(path)[0]) == 1
