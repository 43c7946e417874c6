"""What deploy/ gives an operator: the nightly backup script really backs up, prunes by its
retention rule and copies off-site; the units and the proxy example agree with the app."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from credits.config import Settings
from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"
PASS = "correct horse battery staple"


def test_the_nightly_backup_script_backs_up_prunes_and_copies_off_site(cli_env, tmp_path):
    backups, offsite = tmp_path / "backups", tmp_path / "offsite"
    offsite.mkdir()
    kept = ["2026-11-20T0130Z", "2026-10-01T0130Z", "2020-01-01T0130Z", "2026-11-01T0130Z"]
    pruned = ["2026-10-20T0130Z", "2026-10-02T0130Z", "2019-11-01T0130Z", "2019-11-03T0130Z"]
    for name in kept + pruned:
        (backups / name).mkdir(parents=True)
        (backups / name / "manifest.json").write_text("{}")
    env = {
        **cli_env,
        "CREDITS_BIN": str(Path(sys.executable).parent / "credits"),
        "CREDITS_BACKUP_DIR": str(backups),
        "CREDITS_BACKUP_NOW": "2026-12-01T01:30:00Z",
        "CREDITS_BACKUP_PASSPHRASE": PASS,
        "CREDITS_BACKUP_OFFSITE_COMMAND": f"cp -a -t {offsite}",
    }
    done = subprocess.run(
        ["bash", str(DEPLOY / "credits-backup")], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    made = backups / "2026-12-01T0130Z"
    assert (made / "manifest.json").exists() and (made / "instance-secrets.sealed").exists()
    left = sorted(p.name for p in backups.iterdir())
    assert left == sorted([*kept, "2026-12-01T0130Z"])
    for name in pruned:
        assert f"pruned {name}" in done.stdout
    assert (offsite / "2026-12-01T0130Z" / "manifest.json").read_bytes() == (
        made / "manifest.json"
    ).read_bytes()


def test_a_failed_backup_fails_the_script_and_prunes_nothing(cli_env, tmp_path):
    backups = tmp_path / "backups"
    (backups / "2020-01-05T0130Z").mkdir(parents=True)
    env = {
        **cli_env,
        "CREDITS_BIN": str(Path(sys.executable).parent / "credits"),
        "CREDITS_BACKUP_DIR": str(backups),
        "CREDITS_BACKUP_NOW": "2026-12-01T01:30:00Z",
    }  # no passphrase: --with-keys is refused
    done = subprocess.run(
        ["bash", str(DEPLOY / "credits-backup")], env=env, capture_output=True, text=True
    )
    assert done.returncode == 2 and "CREDITS_BACKUP_PASSPHRASE" in done.stderr
    assert (backups / "2020-01-05T0130Z").exists()


def _units() -> dict[str, dict[str, list[str]]]:
    units: dict[str, dict[str, list[str]]] = {}
    for path in DEPLOY.glob("*.service"):
        keys: dict[str, list[str]] = {}
        for line in path.read_text().splitlines():
            if "=" in line and not line.startswith(("#", "[")):
                key, _, value = line.partition("=")
                keys.setdefault(key.strip(), []).append(value.strip())
        units[path.name] = keys
    return units


def test_every_timer_starts_a_unit_that_exists_and_units_run_what_ships():
    units = _units()
    for timer in DEPLOY.glob("*.timer"):
        assert timer.name.replace(".timer", ".service") in units, timer.name
    commands = {c for u in units.values() for c in u.get("ExecStart", [])}
    known = {"credits", "gunicorn", "credits-backup"}
    for command in commands:
        program = Path(command.split()[0]).name
        assert program in known, command
        if program == "credits":
            sub = command.split()[1]
            assert sub in {"verify", "expire-vouchers", "expire-inactive"}, command
    service = units["credits.service"]
    assert "credits.wsgi:app" in service["ExecStart"][0]
    assert "/deploy/gunicorn.conf.py" in service["ExecStart"][0]
    assert service["RuntimeDirectory"] == ["credits"]  # the metrics files' folder
    for unit in units.values():
        assert unit["User"] == ["credits"] and unit["NoNewPrivileges"] == ["true"]


def test_the_proxy_example_matches_the_app():
    conf = (DEPLOY / "nginx-credits.conf").read_text()
    size = re.search(r"client_max_body_size (\d+)k;", conf)
    assert (
        size
        and int(size.group(1)) * 1024 == Settings.__dataclass_fields__["max_body_bytes"].default
    )
    hsts = re.search(r'Strict-Transport-Security "max-age=(\d+)[^"]*" always', conf)
    assert hsts and int(hsts.group(1)) >= 365 * 86400
    metrics = re.search(r"location = /metrics \{(.*?)\}", conf, re.S)
    assert metrics and "deny all;" in metrics.group(1)
    assert conf.count("proxy_set_header X-Request-ID $request_id;") == 2
    assert "return 301 https://" in conf
