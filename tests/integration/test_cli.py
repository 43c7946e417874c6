"""The `credits` command: init-db, demo --json (contract shape), verify, refusals."""

import json
import subprocess
import sys

from credits.cli import main as cli


def sign_in(client, email, password):
    """Sign in on the pages; the status code (302 when it worked)."""
    from tests.integration.web_helpers import sign_in as page_sign_in

    return page_sign_in(client, email, password).status_code


def test_demo_json_has_the_contract_shape_and_verify_passes(runner, client):
    result = runner.invoke(cli, ["demo", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) >= {"officer", "coordinator", "members", "shops"}
    for who in [data["officer"], data["coordinator"], *data["members"]]:
        assert set(who) == {"email", "password", "token"}
    assert len(data["members"]) == 3
    assert len(data["shops"]) == 2
    for shop in data["shops"]:
        assert set(shop) >= {"id", "name", "terminal_token"}
        terminal = client.get(
            "/api/v1/terminal", headers={"Authorization": f"Bearer {shop['terminal_token']}"}
        )
        assert terminal.status_code == 200 and terminal.get_json()["shop"]["id"] == shop["id"]
    # Tokens are usable at once.
    me = client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {data['members'][0]['token']}"}
    )
    assert me.status_code == 200 and me.get_json()["role"] == "member"
    assert (
        client.get(
            "/api/v1/me", headers={"Authorization": f"Bearer {data['officer']['token']}"}
        ).get_json()["role"]
        == "officer"
    )
    verify = runner.invoke(cli, ["verify"])
    assert verify.exit_code == 0, verify.output


def test_demo_again_prints_the_same_passwords_and_tokens(runner, client, services):
    """`./dev serve` runs `credits demo`; `credits demo --json` afterwards must print the
    credentials that work (README: "prints them again"), and post nothing twice."""
    first = json.loads(runner.invoke(cli, ["demo", "--json"]).output)
    second = json.loads(runner.invoke(cli, ["demo", "--json"]).output)
    assert first == second
    for who in (first["officer"], first["coordinator"], *first["members"]):
        me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {who['token']}"})
        assert me.status_code == 200
        assert sign_in(client.application.test_client(), who["email"], who["password"]) == 302
    saved = services.settings.instance_path / "demo-credentials.json"
    assert saved.stat().st_mode & 0o777 == 0o600
    assert runner.invoke(cli, ["verify"]).exit_code == 0


def test_demo_replaces_only_what_no_longer_works_and_resets_on_request(runner, client, db):
    from credits.accounts import revoke_token

    first = json.loads(runner.invoke(cli, ["demo", "--json"]).output)
    ann = first["members"][0]
    found = client.get("/api/v1/me/tokens", headers={"Authorization": f"Bearer {ann['token']}"})
    token_id = found.get_json()["items"][0]["id"]
    db.run(lambda s: revoke_token(s, token_id))
    second = json.loads(runner.invoke(cli, ["demo", "--json"]).output)
    assert second["members"][0]["token"] != ann["token"]  # revoked: replaced
    assert second["members"][0]["password"] == ann["password"]  # still works: kept
    assert second["officer"] == first["officer"] and second["shops"] == first["shops"]

    third = json.loads(runner.invoke(cli, ["demo", "--json", "--reset-passwords"]).output)
    for old, new in zip(
        [second["officer"], *second["members"]], [third["officer"], *third["members"]], strict=True
    ):
        assert old["password"] != new["password"] and old["token"] != new["token"]
        gone = client.get("/api/v1/me", headers={"Authorization": f"Bearer {old['token']}"})
        assert gone.status_code == 401
        assert sign_in(client.application.test_client(), new["email"], new["password"]) == 302
    for old, new in zip(second["shops"], third["shops"], strict=True):
        assert old["terminal_token"] != new["terminal_token"]
    assert runner.invoke(cli, ["verify"]).exit_code == 0


def test_demo_passwords_use_the_configured_argon2_profile(settings_overrides, test_database):
    """Demo addresses cannot be told apart by sign-in timing: their hashes cost what
    everyone's do. Load-test members share one password, hashed once."""
    from sqlalchemy import text

    from credits.demo import seed
    from credits.services import Services

    svc = Services.build({**settings_overrides, "PASSWORD_HASH_PROFILE": "default"})
    try:
        data = seed(svc, members=6, credits=10)
        with svc.db.read() as s:
            hashes = dict(s.execute(text("SELECT email, password_hash FROM person")).all())
    finally:
        svc.close()
    # The people this seed handed out (the database may also hold the demo history's people,
    # who have no password, from an earlier test on the same PostgreSQL database).
    handed_out = [data["officer"]["email"], data["coordinator"]["email"]]
    handed_out += [m["email"] for m in data["members"]]
    assert len(set(handed_out)) == 8
    assert all(hashes[e].startswith("$argon2id$v=19$m=65536,t=3,p=4$") for e in handed_out)
    named = [m["email"] for m in data["members"][:3]]
    load = [m for m in data["members"][3:]]
    assert len({hashes[e] for e in named}) == 3
    assert len({m["password"] for m in load}) == 1 and len({hashes[m["email"]] for m in load}) == 1


def test_demo_for_load_tests(runner, db):
    result = runner.invoke(cli, ["demo", "--json", "--members", "25", "--credits", "500"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert len(data["members"]) == 25
    from sqlalchemy import select

    from credits import ledger
    from credits.accounts import Person

    with db.read() as s:
        accounts = (
            s.execute(select(Person.ledger_account_id).where(Person.ledger_account_id.is_not(None)))
            .scalars()
            .all()
        )
        assert sorted(ledger.balances(s, accounts).values()) == [500] * 25


def test_refuses_an_unmigrated_database_with_what_to_run(tmp_path):
    env = {"CREDITS_INSTANCE_PATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    for command in (["verify"], ["serve", "--port", "1"]):
        proc = subprocess.run(
            [sys.executable, "-m", "credits.cli", *command],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 2, proc
        assert "not migrated" in proc.stderr and "credits init-db" in proc.stderr


def test_create_app_refuses_an_unmigrated_database(tmp_path):
    import pytest

    from credits import create_app
    from credits.db import NotMigrated

    with pytest.raises(NotMigrated, match="credits init-db"):
        create_app({"INSTANCE_PATH": str(tmp_path)})


def test_init_db_then_serve_works(tmp_path):
    env = {"CREDITS_INSTANCE_PATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-m", "credits.cli", "init-db"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    # The keys every other app server must copy exist before any server starts.
    assert list((tmp_path / "voucher-keys").glob("*.pem"))
    assert list((tmp_path / "statement-keys").glob("*.pem"))
    from credits import create_app

    app = create_app({"INSTANCE_PATH": str(tmp_path)})
    assert app.test_client().get("/readyz").status_code == 200
    app.extensions["credits"].close()
