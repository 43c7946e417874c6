"""Backups that are proven to restore (credits/operations/backup.py, restore.py).

On both engines: a scheme's history is backed up with its signing keys, restored into a
fresh database and instance folder, served, and every member's balance over the API equals
the original's (and a voucher issued before the backup still redeems on the restored
server: its signing key came back). A backup taken while writers commit is one snapshot.
Whatever is wrong with a backup or the target refuses the restore and changes nothing.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from credits import ledger
from credits.accounts import Role
from credits.cli import main as cli
from credits.db import Database, make_engine
from credits.operations import secrets
from credits.operations.backup import MANIFEST, create_backup
from credits.operations.restore import restore_backup
from credits.privileges import setup_statements
from tests.conftest import PG_URL, role_names, start_server

from .test_redemption import issue, make_terminal, redeem

PASS = "correct horse battery staple"


@pytest.fixture(autouse=True)
def cheap_kdf(monkeypatch):
    """scrypt at its lowest accepted cost here (the sealed header records the cost, so the
    restore follows): production's (2**17) takes seconds on a busy machine, and this file
    seals a dozen times. tests/unit/test_sealed_secrets.py uses the real cost."""
    monkeypatch.setattr(secrets, "LOG2_N", 14)


@dataclass
class Target:
    """An empty database and instance folder to restore into."""

    restore_url: str  # as the role that will own the tables (PostgreSQL) / the file
    serve_url: str  # as the app's role
    instance: Path
    app_role: str = ""

    def env(self, base: dict[str, str], *, serve: bool = False) -> dict[str, str]:
        env = dict(base)
        env["CREDITS_DATABASE_URL"] = self.serve_url if serve else self.restore_url
        env["CREDITS_INSTANCE_PATH"] = str(self.instance)
        env.pop("CREDITS_SECRET_KEY", None)  # the restored instance's own key is used
        if self.app_role:
            env["CREDITS_DB_APP_ROLE"] = self.app_role
        return env

    def tables(self) -> int:
        engine = make_engine(self.serve_url)
        try:
            with engine.connect() as conn:
                if engine.dialect.name == "sqlite":
                    return conn.execute(text("SELECT count(*) FROM sqlite_master")).scalar_one()
                return conn.execute(
                    text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
                ).scalar_one()
        finally:
            engine.dispose()


@pytest.fixture
def target(tmp_path, test_database):
    """A new, empty database (PostgreSQL: created for the test, owned by the owner role,
    dropped afterwards; SQLite: a new file) and a new instance folder."""
    instance = tmp_path / "restored-instance"
    if not test_database.url:
        url = f"sqlite:///{tmp_path / 'restored' / 'credits.sqlite3'}"
        (tmp_path / "restored").mkdir()
        yield Target(url, url, instance)
        return
    assert PG_URL is not None
    admin_url = make_url(PG_URL)
    name = f"{admin_url.database}_restore_{uuid.uuid4().hex[:8]}"
    owner, app = role_names(PG_URL)
    server = create_engine(admin_url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    fresh = create_engine(admin_url.set(database=name))
    with fresh.begin() as conn:
        for statement in setup_statements(owner=owner, app=app, database=name):
            conn.execute(text(statement))
    fresh.dispose()
    as_role = lambda role: admin_url.set(database=name, username=role).render_as_string(  # noqa: E731
        hide_password=False
    )
    yield Target(as_role(owner), as_role(app), instance, app)
    with server.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    server.dispose()


@pytest.fixture
def history(client, db, make_person):
    """Four members who earned, spent in full and in part, cancelled, and hold an open
    voucher; a shop with a till."""
    members = [make_person(Role.MEMBER, credits=100 + 10 * i, name=f"Member {i}") for i in range(4)]
    till = make_terminal(db)
    first = issue(client, members[0], 30)
    assert redeem(client, till, first["code"], key="k1").status_code == 201
    second = issue(client, members[1], 40)
    assert redeem(client, till, second["code"], key="k2", amount=25).status_code == 201
    third = issue(client, members[2], 20)
    resp = client.post(f"/api/v1/vouchers/{third['id']}/cancel", headers=members[2].auth)
    assert resp.status_code == 200, resp.get_json()
    still_open = issue(client, members[3], 15)
    return members, till, still_open


def backup(runner, out, *args, passphrase=PASS):
    env = {"CREDITS_BACKUP_PASSPHRASE": passphrase} if passphrase else {}
    return runner.invoke(cli, ["backup", "--out", str(out), *args], env=env)


def restore(cli_env, target, path, *args, passphrase=PASS):
    env = target.env(cli_env)
    if passphrase:
        env["CREDITS_BACKUP_PASSPHRASE"] = passphrase
    return CliRunner(env=env).invoke(cli, ["restore", str(path), *args])


def test_a_backup_restores_into_a_fresh_database_and_serves_the_same_balances(
    client, history, runner, cli_env, target, tmp_path, db
):
    members, till, still_open = history
    before = {m.email: client.get("/api/v1/me/balance", headers=m.auth).get_json() for m in members}
    trust_list = client.get("/api/v1/trust-list").get_json()
    # What an instance without CREDITS_SECRET_KEY generates on first start.
    (Path(cli_env["CREDITS_INSTANCE_PATH"]) / "secret_key").write_text(
        "the instance's own secret\n"
    )

    made = backup(runner, tmp_path / "backup", "--with-keys")
    assert made.exit_code == 0, made.output
    assert "instance secrets sealed" in made.output
    manifest = json.loads((tmp_path / "backup" / MANIFEST).read_text())
    assert manifest["ledger"]["balance_total"] == 0
    with db.read() as s:
        runs = s.execute(text("SELECT kind, ok FROM maintenance_run")).all()
    assert ("backup", True) in [tuple(r) for r in runs]

    done = restore(cli_env, target, tmp_path / "backup")
    assert done.exit_code == 0, done.output
    assert "matches the manifest" in done.output and "restore: all checks passed" in done.output
    assert "voucher-keys/keyring.json" in done.output
    # The generated secret key too (signed sessions and links survive), not a fresh one.
    assert (target.instance / "secret_key").read_text() == "the instance's own secret\n"

    server = start_server(target.env(cli_env, serve=True), tmp_path / "restored.log")
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            after = {
                m.email: http.get("/api/v1/me/balance", headers=m.auth).json() for m in members
            }
            assert after == before
            assert http.get("/api/v1/trust-list").json() == trust_list
            # The open voucher's code was signed before the backup: it verifies and redeems
            # on the restored server, and only once.
            body = {"code": still_open["code"], "idempotency_key": "after-restore"}
            resp = http.post("/api/v1/redemptions", json=body, headers=till["auth"])
            assert resp.status_code == 201, resp.text
            again = {"code": still_open["code"], "idempotency_key": "twice"}
            resp = http.post("/api/v1/redemptions", json=again, headers=till["auth"])
            assert resp.status_code == 409 and resp.json()["code"] == "already_redeemed"
    finally:
        server.stop()


def test_a_backup_under_write_load_is_one_consistent_snapshot(
    db, make_person, settings_overrides, target, tmp_path, dialect
):
    members = [make_person(Role.MEMBER) for _ in range(3)]
    written: list[str] = []
    enough = threading.Event()
    stop = threading.Event()
    failures: list[BaseException] = []

    def earn(key: str, member) -> None:
        def use_case(s):
            issuance = ledger.scheme_account(s, ledger.ISSUANCE).id
            ledger.post_entry(
                s,
                ledger.EntryRequest(
                    kind=ledger.EntryKind.EARN,
                    legs=(ledger.Leg(issuance, -3), ledger.Leg(member.account_id, 3)),
                    memo="load",
                    actor="test",
                    idempotency_key=key,
                ),
            )

        db.run(use_case)

    def writer(n: int) -> None:
        try:
            i = 0
            while not stop.is_set():
                key = f"load-{n}-{i}"
                earn(key, members[n])
                written.append(key)
                i += 1
                if len(written) >= 10:
                    enough.set()
        except BaseException as exc:
            failures.append(exc)
            enough.set()

    after_snapshot: list[str] = []

    def on_snapshot() -> None:
        # Committed after the snapshot, while the backup is being taken: not in it.
        for k in range(3):
            earn(f"after-snapshot-{k}", members[0])
            after_snapshot.append(f"after-snapshot-{k}")
        # And the writers go on meanwhile (at least 10 more of theirs commit).
        goal = len(written) + 10
        while len(written) < goal and not failures:
            stop.wait(0.01)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    try:
        assert enough.wait(60), "the writers did not start"
        result = create_backup(
            database_url=settings_overrides["DATABASE_URL"],
            instance_path=Path(settings_overrides["INSTANCE_PATH"]),
            out=tmp_path / "backup",
            on_snapshot=on_snapshot if dialect == "postgresql" else None,
        )
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not failures, failures
    in_backup = result.manifest["ledger"]["row_counts"]["journal_entry"]
    with db.read() as s:
        now = s.execute(text("SELECT count(*) FROM journal_entry")).scalar_one()
    assert in_backup < now, "writers committed after the backup's snapshot"

    report = restore_backup(
        folder=result.path,
        database_url=target.restore_url,
        instance_path=target.instance,
        app_role=target.app_role,
    )
    assert report.ok, (report.differences, [c.problems for c in report.checks if not c.ok])
    restored = Database(make_engine(target.serve_url))
    try:
        with restored.read() as s:
            keys = {k for (k,) in s.execute(text("SELECT idempotency_key FROM journal_entry"))}
        assert len(keys) == in_backup
        assert not keys & set(after_snapshot)
        assert {k for k in keys if k.startswith("load-")} <= set(written)
    finally:
        restored.engine.dispose()


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage, message",
    [
        ("database", "is damaged: its SHA-256 is"),
        ("secrets", "is damaged: its SHA-256 is"),
        ("truncated", "is damaged: it has"),
        ("manifest", "is damaged: it is not valid JSON"),
        ("no-manifest", "not a backup, or one that did not finish"),
        ("wrong-passphrase", "wrong CREDITS_BACKUP_PASSPHRASE"),
        ("no-passphrase", "set CREDITS_BACKUP_PASSPHRASE"),
    ],
)
def test_a_damaged_backup_is_refused_and_nothing_is_restored(
    history, runner, cli_env, target, tmp_path, damage, message
):
    folder = tmp_path / "backup"
    assert backup(runner, folder, "--with-keys").exit_code == 0
    data = next(folder.glob("database.*"))
    passphrase = PASS
    if damage == "database":
        _flip_a_byte(data)
    elif damage == "secrets":
        _flip_a_byte(folder / "instance-secrets.sealed")
    elif damage == "truncated":
        data.write_bytes(data.read_bytes()[:-100])
    elif damage == "manifest":
        (folder / MANIFEST).write_text((folder / MANIFEST).read_text()[:-20])
    elif damage == "no-manifest":
        (folder / MANIFEST).unlink()
    elif damage == "wrong-passphrase":
        passphrase = "not the right passphrase"
    else:
        passphrase = None
    result = restore(cli_env, target, folder, passphrase=passphrase)
    assert result.exit_code == 2, result.output
    assert "restore refused, nothing changed" in result.output and message in result.output
    assert target.tables() == 0
    assert not (target.instance / "voucher-keys").exists()


def test_a_restore_into_a_database_that_is_not_empty_is_refused(
    history, runner, cli_env, tmp_path, db
):
    assert backup(runner, tmp_path / "backup").exit_code == 0
    with db.read() as s:
        before = s.execute(text("SELECT count(*) FROM journal_entry")).scalar_one()
    result = runner.invoke(cli, ["restore", str(tmp_path / "backup")])
    assert result.exit_code == 2
    assert "is not empty" in result.output and "only into an empty database" in result.output
    with db.read() as s:
        assert s.execute(text("SELECT count(*) FROM journal_entry")).scalar_one() == before


def test_keys_are_not_restored_over_another_instances_keys(
    history, runner, cli_env, target, tmp_path, settings_overrides
):
    assert backup(runner, tmp_path / "backup", "--with-keys").exit_code == 0
    other = target.instance / "voucher-keys" / "keyring.json"
    other.parent.mkdir(parents=True)
    other.write_text("{}")
    result = restore(cli_env, target, tmp_path / "backup")
    assert result.exit_code == 2 and "already holds different voucher-keys/keyring.json" in (
        result.output
    )
    assert target.tables() == 0
    # --skip-keys restores the database alone.
    result = restore(cli_env, target, tmp_path / "backup", "--skip-keys", passphrase=None)
    assert result.exit_code == 0, result.output
    assert "instance secrets NOT restored" in result.output
    assert other.read_text() == "{}"


def test_a_restore_that_does_not_match_its_manifest_fails(
    history, runner, cli_env, target, tmp_path
):
    """The manifest is the witness: a restored ledger that is consistent but not the one
    that was backed up (here, the manifest edited by hand) fails."""
    members, _, _ = history
    folder = tmp_path / "backup"
    assert backup(runner, folder).exit_code == 0
    manifest = json.loads((folder / MANIFEST).read_text())
    code = f"member:{members[2].id}"
    manifest["ledger"]["balances"][code] += 1
    (folder / MANIFEST).write_text(json.dumps(manifest))
    result = restore(cli_env, target, folder, passphrase=None)
    assert result.exit_code == 1, result.output
    assert f"account {code}: balance" in result.output and "restore: FAILED" in result.output


@pytest.mark.parametrize(
    "args, passphrase, message",
    [
        (["--with-keys"], None, "set CREDITS_BACKUP_PASSPHRASE"),
        (["--with-keys"], "short", "too short"),
        ([], None, "already exists and is not an empty folder"),
    ],
)
def test_backup_refusals(history, runner, tmp_path, db, args, passphrase, message):
    out = tmp_path / "backup"
    if "already exists" in message:
        out.mkdir()
        (out / "something").write_text("x")
    result = backup(runner, out, *args, passphrase=passphrase)
    assert result.exit_code == 2 and message in result.output
    assert not (out / MANIFEST).exists()
    # Recorded as a failed backup: monitoring alerts on it (CreditsBackupFailed).
    with db.read() as s:
        runs = s.execute(text("SELECT ok FROM maintenance_run WHERE kind = 'backup'")).all()
    assert [bool(ok) for (ok,) in runs] == [False]


def test_the_backup_folder_is_private(history, runner, tmp_path):
    assert backup(runner, tmp_path / "backup", "--with-keys").exit_code == 0
    assert (tmp_path / "backup").stat().st_mode & 0o777 == 0o700
    for path in (tmp_path / "backup").iterdir():
        assert path.stat().st_mode & 0o077 == 0, path
