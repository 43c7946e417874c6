"""The `credits` command: init-db, demo --json (contract shape), verify, refusals."""

import json
import subprocess
import sys

from credits.cli import main as cli


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


def test_demo_again_reuses_people_and_posts_nothing_twice(runner, client):
    first = json.loads(runner.invoke(cli, ["demo", "--json"]).output)
    second = json.loads(runner.invoke(cli, ["demo", "--json"]).output)
    assert [m["email"] for m in first["members"]] == [m["email"] for m in second["members"]]
    assert first["members"][0]["token"] != second["members"][0]["token"]
    for token in (first["members"][0]["token"], second["members"][0]["token"]):
        assert (
            client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code
            == 200
        )
    assert runner.invoke(cli, ["verify"]).exit_code == 0


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
