"""Signing keys: made on first run (0600, never in the database or the logs), rotated,
retired keys verifying until their vouchers expire, revoked keys verifying nothing."""

import base64
import logging
import stat
import threading
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from freezegun import freeze_time
from sqlalchemy import text

from credits.accounts import Role
from credits.cli import main as cli
from credits.vouchers.code import verify_code
from credits.vouchers.errors import UnknownKey, VoucherExpired
from credits.vouchers.keys import KeyRing
from credits.vouchers.runtime import runtime

from .test_vouchers_api import trust_from
from .voucher_helpers import issue, verify_all


@pytest.fixture
def ring(services, app):
    return runtime(services.settings).keyring


def test_the_first_run_makes_one_private_key_file(services, app, ring):
    folder = services.settings.instance_path / "voucher-keys"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    pems = list(folder.glob("*.pem"))
    assert len(pems) == 1
    assert stat.S_IMODE(pems[0].stat().st_mode) == 0o600
    assert stat.S_IMODE((folder / "keyring.json").stat().st_mode) == 0o600
    info, _ = ring.active()
    assert pems[0].name == f"{info.kid}.pem"
    # The key id is derived from the public key.
    import hashlib

    raw = base64.urlsafe_b64decode(info.public_key_b64 + "=")
    assert hashlib.sha256(raw).digest()[:8].hex() == info.kid


def test_processes_starting_together_make_one_key(tmp_path):
    rings = [KeyRing(tmp_path) for _ in range(8)]
    kids = [None] * 8
    barrier = threading.Barrier(8)

    def start(i):
        barrier.wait()
        kids[i] = rings[i].ensure().kid

    threads = [threading.Thread(target=start, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(set(kids)) == 1
    assert len(list((tmp_path / "voucher-keys").glob("*.pem"))) == 1


def _secret_forms(ring):
    """Every way the active private key could be written down."""
    forms = []
    for kid in [k.kid for k in ring.list_keys() if k.status != "revoked"]:
        key = ring.signer(kid)
        seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
        body = "".join(pem.strip().splitlines()[1:-1])
        forms += [
            seed.hex(),
            seed.hex().upper(),
            base64.b64encode(seed).decode().rstrip("="),
            base64.urlsafe_b64encode(seed).decode().rstrip("="),
            body,
        ]
    return forms


def test_private_keys_never_reach_the_database_or_the_logs(
    client, db, ring, make_person, runner, caplog
):
    caplog.set_level(logging.DEBUG)
    ann = make_person(Role.MEMBER, credits=100)
    vid = issue(client, ann, 10).get_json()["id"]
    client.get(f"/api/v1/vouchers/{vid}/qr.png", headers=ann.auth)
    outputs = [
        runner.invoke(cli, ["keys", "list"]).output,
        runner.invoke(cli, ["keys", "list", "--json"]).output,
        runner.invoke(cli, ["keys", "rotate"]).output,
        client.get("/api/v1/trust-list").get_data(as_text=True),
    ]
    secrets = _secret_forms(ring)
    assert len(secrets) >= 10  # two keys now
    dump = []
    with db.read() as s:
        tables = [
            t
            for (t,) in s.execute(
                text(
                    "SELECT name FROM sqlite_master WHERE type = 'table'"
                    if db.dialect == "sqlite"
                    else "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                )
            )
        ]
        for table in tables:
            dump += [repr(tuple(row)) for row in s.execute(text(f'SELECT * FROM "{table}"'))]
    haystacks = {"database": "\n".join(dump), "logs": caplog.text, "output": "\n".join(outputs)}
    assert "voucher" in haystacks["database"] or vid in haystacks["database"]
    for where, haystack in haystacks.items():
        for secret in secrets:
            assert secret not in haystack, f"a private key appears in the {where}"
    assert repr(ring).startswith("KeyRing(") and "PRIVATE" not in repr(ring)


def test_rotation_retires_the_old_key_which_verifies_until_its_vouchers_expire(
    client, db, ring, make_person, runner
):
    ann = make_person(Role.MEMBER, credits=100)
    old = issue(client, ann, 10).get_json()
    old_kid = ring.active()[0].kid
    result = runner.invoke(cli, ["keys", "rotate"])
    assert result.exit_code == 0 and "retired: " + old_kid in result.output
    new_kid = ring.active()[0].kid
    assert new_kid != old_kid
    new = issue(client, ann, 20).get_json()
    trust = trust_from(client)
    assert trust[old_kid][1] == "retired" and trust[new_kid][1] == "active"
    now = datetime.now(UTC)
    assert verify_code(old["code"], trust, now=now).kid == old_kid
    assert verify_code(new["code"], trust, now=now).kid == new_kid
    # The old voucher still shows the same code, signed by the retired key.
    assert (
        client.get(f"/api/v1/vouchers/{old['id']}", headers=ann.auth).get_json()["code"]
        == (old["code"])
    )
    # The trust list says until when the retired key is good: its last voucher's expiry.
    listed = {k["kid"]: k for k in client.get("/api/v1/trust-list").get_json()["keys"]}
    assert listed[old_kid]["valid_until"] == old["expires_at"].replace("+00:00", "Z")
    expires = datetime.fromisoformat(old["expires_at"])
    with pytest.raises(VoucherExpired):
        verify_code(old["code"], trust, now=expires)
    assert verify_all(db) == []


def test_revocation_refuses_the_key_and_re_signs_open_vouchers(
    client, db, ring, make_person, runner, services
):
    ann = make_person(Role.MEMBER, credits=100)
    open_one = issue(client, ann, 10).get_json()
    spent = issue(client, ann, 5).get_json()
    client.post(f"/api/v1/vouchers/{spent['id']}/cancel", headers=ann.auth)
    kid = ring.active()[0].kid
    refused = runner.invoke(cli, ["keys", "revoke", "not-a-kid", "--yes"])
    assert refused.exit_code == 2
    result = runner.invoke(cli, ["keys", "revoke", kid, "--yes"])
    assert result.exit_code == 0, result.output
    assert "1 open vouchers re-signed" in result.output
    trust = trust_from(client)
    assert trust[kid][1] == "revoked"
    with pytest.raises(UnknownKey):
        verify_code(open_one["code"], trust, now=datetime.now(UTC))
    assert not (services.settings.instance_path / "voucher-keys" / f"{kid}.pem").exists()
    # The holder's voucher keeps working: same id, value and expiry; a new signature.
    fresh = client.get(f"/api/v1/vouchers/{open_one['id']}", headers=ann.auth).get_json()
    assert fresh["code"] != open_one["code"]
    claims = verify_code(fresh["code"], trust, now=datetime.now(UTC))
    assert claims.voucher_id.hex() == open_one["id"] and claims.face_value == 10
    assert claims.kid == ring.active()[0].kid != kid
    again = runner.invoke(cli, ["keys", "revoke", kid, "--yes"])
    assert again.exit_code == 2 and "already revoked" in again.output
    assert verify_all(db) == []


def test_keys_list_shows_status_and_validity(runner, ring, app):
    result = runner.invoke(cli, ["keys", "list"])
    assert result.exit_code == 0 and ring.active()[0].kid in result.output
    assert "active" in result.output


def test_workers_see_a_rotation_made_by_another_process(services, app, ring):
    other = KeyRing(services.settings.instance_path)  # as `credits keys rotate` would
    with freeze_time(datetime.now(UTC) + timedelta(seconds=1)):
        new, _ = other.rotate()
    assert ring.active()[0].kid == new.kid


def test_a_loosened_key_file_is_put_back_to_0600(services, app, ring, caplog):
    import os

    kid = ring.active()[0].kid
    path = services.settings.instance_path / "voucher-keys" / f"{kid}.pem"
    os.chmod(path, 0o644)
    fresh = KeyRing(services.settings.instance_path)
    assert fresh.active()[0].kid == kid
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "readable by others" in caplog.text
