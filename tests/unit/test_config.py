"""Settings: embedded defaults, generated secrets, overrides."""

import os
import stat

from credits.config import Settings


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
