"""The instance secrets in a backup are sealed with a real library, and a wrong passphrase,
a changed byte or a hostile archive is refused (credits/operations/secrets.py)."""

from __future__ import annotations

import io
import tarfile

import pytest

from credits.operations import secrets

PASS = "correct horse battery staple"


@pytest.fixture(scope="module")
def sealed():
    """Sealed once at production cost (scrypt n = 2**17)."""
    return secrets.seal(b"voucher signing keys", PASS)


def test_sealed_at_production_cost_and_opened_with_the_passphrase(sealed):
    assert sealed.startswith(secrets.MAGIC) and sealed[len(secrets.MAGIC)] == 17
    assert b"voucher signing keys" not in sealed
    assert secrets.unseal(sealed, PASS) == b"voucher signing keys"


def test_each_seal_is_different(sealed, monkeypatch):
    monkeypatch.setattr(secrets, "LOG2_N", 14)
    again = secrets.seal(b"voucher signing keys", PASS)
    assert again[len(secrets.MAGIC) + 3 :] != sealed[len(secrets.MAGIC) + 3 :]


def test_a_wrong_passphrase_is_refused(sealed):
    with pytest.raises(secrets.SealError, match="wrong CREDITS_BACKUP_PASSPHRASE"):
        secrets.unseal(sealed, PASS + "!")


@pytest.mark.parametrize("where", ["cost", "salt", "nonce", "ciphertext", "tag"])
def test_any_changed_byte_is_refused(monkeypatch, where):
    monkeypatch.setattr(secrets, "LOG2_N", 14)
    data = bytearray(secrets.seal(b"keys", PASS))
    head = len(secrets.MAGIC)
    offset = {
        "cost": head + 1,  # r: 8 -> 9 (still within the accepted range)
        "salt": head + 3,
        "nonce": head + 3 + secrets.SALT_BYTES,
        "ciphertext": head + 3 + secrets.SALT_BYTES + secrets.NONCE_BYTES,
        "tag": len(data) - 1,
    }[where]
    data[offset] ^= 0x01
    with pytest.raises(secrets.SealError):
        secrets.unseal(bytes(data), PASS)


def test_short_or_missing_passphrases_are_refused():
    with pytest.raises(secrets.SealError, match="set CREDITS_BACKUP_PASSPHRASE"):
        secrets.seal(b"x", "")
    with pytest.raises(secrets.SealError, match="too short"):
        secrets.seal(b"x", "hunter2")


def test_not_a_sealed_file_is_refused():
    with pytest.raises(secrets.SealError, match="not one this program wrote"):
        secrets.unseal(b"PK\x03\x04 a zip file, say", PASS)


def test_only_secrets_are_packed(tmp_path):
    (tmp_path / "secret_key").write_text("s")
    (tmp_path / "voucher-keys").mkdir()
    (tmp_path / "voucher-keys" / "k.pem").write_text("pem")
    (tmp_path / "credits.sqlite3").write_text("db")
    (tmp_path / "credits.sqlite3-wal").write_text("wal")
    (tmp_path / "mail").mkdir()
    (tmp_path / "mail" / "1.eml").write_text("mail")
    (tmp_path / "backups").mkdir()
    (tmp_path / "backups" / "old").write_text("a backup inside the instance")
    data, names = secrets.pack(tmp_path, exclude=tmp_path / "backups")
    assert names == ["secret_key", "voucher-keys/k.pem"]
    assert secrets.unpacked(data) == {
        "secret_key": (b"s", (tmp_path / "secret_key").stat().st_mode & 0o777),
        "voucher-keys/k.pem": (b"pem", (tmp_path / "voucher-keys/k.pem").stat().st_mode & 0o777),
    }


@pytest.mark.parametrize("name", ["../escape", "/etc/cron.d/x", "voucher-keys/../../x"])
def test_an_archive_reaching_outside_the_folder_is_refused(name):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(secrets.SealError, match="unsafe entry"):
        secrets.unpacked(buffer.getvalue())


def test_restored_files_are_private_and_conflicts_are_found(tmp_path):
    files = {"voucher-keys/k.pem": (b"pem", 0o644), "secret_key": (b"new", 0o600)}
    (tmp_path / "secret_key").write_text("generated at first start")
    assert secrets.conflicts(tmp_path, files) == []  # a generated secret key may be replaced
    secrets.write(tmp_path, files)
    assert (tmp_path / "voucher-keys" / "k.pem").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "voucher-keys").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "secret_key").read_bytes() == b"new"
    (tmp_path / "voucher-keys" / "k.pem").write_bytes(b"another instance's key")
    assert secrets.conflicts(tmp_path, files) == ["voucher-keys/k.pem"]
