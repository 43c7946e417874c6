"""Settings: embedded defaults, generated secrets, overrides."""

import os
import re
import stat
from pathlib import Path
from typing import Optional

import pytest

from credits.config import SettingError, Settings, parse_setting


def test_embedded_default_is_sqlite_in_the_instance_folder(tmp_path, monkeypatch):
    for k in list(os.environ):
        if k.startswith("CREDITS_"):
            monkeypatch.delenv(k)
    monkeypatch.chdir(tmp_path)
    s = Settings.load()
    assert s.instance_path == tmp_path / "instance"
    assert s.database_url == f"sqlite:///{tmp_path / 'instance' / 'credits.sqlite3'}"
    assert s.is_sqlite


def test_secret_key_is_generated_once_private_and_reused(tmp_path):
    s1 = Settings.load({"INSTANCE_PATH": str(tmp_path)})
    key_file = tmp_path / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(s1.secret_key) >= 40
    assert Settings.load({"INSTANCE_PATH": str(tmp_path)}).secret_key == s1.secret_key
    other = tmp_path / "other"
    assert Settings.load({"INSTANCE_PATH": str(other)}).secret_key != s1.secret_key


def test_environment_and_overrides(tmp_path, monkeypatch):
    monkeypatch.setenv("CREDITS_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("CREDITS_SECRET_KEY", "from-env")
    monkeypatch.setenv("CREDITS_HOT_ACCOUNT_SLOTS", "4")
    monkeypatch.setenv("CREDITS_SECURE_COOKIES", "true")
    s = Settings.load({"DATABASE_URL": "postgresql+psycopg://x/y"})
    assert s.secret_key == "from-env"
    assert s.hot_account_slots == 4
    assert s.secure_cookies is True
    assert s.database_url == "postgresql+psycopg://x/y"
    assert not (tmp_path / "secret_key").exists()


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("CREDITS_HOT_ACCOUNT_SLOTS", "four", "CREDITS_HOT_ACCOUNT_SLOTS='four' is not a whole"),
        ("CREDITS_MAX_BODY_BYTES", "1.5", "CREDITS_MAX_BODY_BYTES='1.5' is not a whole"),
        ("CREDITS_SECURE_COOKIES", "ture", "CREDITS_SECURE_COOKIES='ture' is not a yes/no"),
    ],
)
def test_a_bad_value_is_refused_naming_its_variable(
    tmp_path, monkeypatch, variable, value, message
):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingError) as refused:
        Settings.load({"INSTANCE_PATH": str(tmp_path)})
    assert message in str(refused.value)


def test_values_parse_as_their_declared_types(tmp_path, monkeypatch):
    monkeypatch.setenv("CREDITS_TRUSTED_PROXIES", " 2 ")
    monkeypatch.setenv("CREDITS_ECHO_SQL", "off")
    monkeypatch.setenv("CREDITS_SMTP_URL", "smtp://localhost:25")
    s = Settings.load({"INSTANCE_PATH": str(tmp_path), "SECURE_COOKIES": True, "SCHEME_ID": 7})
    assert s.trusted_proxies == 2 and s.echo_sql is False and s.secure_cookies is True
    assert s.scheme_id == 7 and s.smtp_url == "smtp://localhost:25"


@pytest.mark.parametrize(
    ("raw", "declared", "expected"),
    [
        ("2.5", float, 2.5),
        (3, float, 3.0),
        ("yes", bool, True),
        ("0", bool, False),
        ("12", int | None, 12),
        ("", int | None, None),
        ("  ", Optional[float], None),  # noqa: UP045 - the spelling older code uses
        ("1.25", Optional[float], 1.25),  # noqa: UP045
        ("/srv/credits", Path, Path("/srv/credits")),
        ("/srv/credits", Path | None, Path("/srv/credits")),
        ("text", str, "text"),
    ],
)
def test_parse_setting_follows_the_declared_type(raw, declared, expected):
    assert parse_setting("anything", raw, declared) == expected


@pytest.mark.parametrize(
    ("declared", "raw", "message"),
    [
        (float, "fast", "CREDITS_RATE='fast' is not a number"),
        (int | None, "ten", "CREDITS_RATE='ten' is not a whole number"),
        (bool, "maybe", "CREDITS_RATE='maybe' is not a yes/no value"),
        (int, True, "CREDITS_RATE=True is not a whole number"),
    ],
)
def test_parse_setting_names_the_variable_of_a_bad_value(declared, raw, message):
    with pytest.raises(SettingError, match=re.escape(message)):
        parse_setting("rate", raw, declared)
