"""The terminal's configuration: config.json read with the declared types, the environment's
overrides, and where the data folder is."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from shop_terminal import config as config_mod
from shop_terminal.config import ConfigError


@pytest.fixture(autouse=True)
def _no_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("SHOP_TERMINAL_LEDGER_URL", "SHOP_TERMINAL_TOKEN", "SHOP_TERMINAL_DATA"):
        monkeypatch.delenv(variable, raising=False)


def write(data_dir: Path, **values: object) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / config_mod.CONFIG_FILE).write_text(json.dumps(values))


def test_settings_are_read_as_their_declared_types(tmp_path: Path) -> None:
    write(tmp_path, port="8800", retries=3, read_timeout_s=5, offline_recheck_s="2.5")
    config = config_mod.load(tmp_path)
    assert config.port == 8800 and config.retries == 3
    assert config.read_timeout_s == 5.0 and isinstance(config.read_timeout_s, float)
    assert config.offline_recheck_s == 2.5


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"port": "eighty"}, "port in {path}: 'eighty' is not a whole number"),
        ({"retries": 2.5}, "retries in {path}: 2.5 is not a whole number"),
        ({"read_timeout_s": "soon"}, "read_timeout_s in {path}: 'soon' is not a number"),
        ({"connect_timeout_s": True}, "connect_timeout_s in {path}: True is not a number"),
        ({"timezone": 1}, "timezone in {path}: 1 is not text"),
    ],
)
def test_a_bad_value_in_the_file_is_refused_naming_the_setting(
    tmp_path: Path, values: dict[str, object], message: str
) -> None:
    write(tmp_path, **values)
    with pytest.raises(ConfigError) as refused:
        config_mod.load(tmp_path)
    assert message.format(path=tmp_path / config_mod.CONFIG_FILE) in str(refused.value)


def test_the_environment_overrides_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, ledger_url="https://old.example", terminal_token="cc_old")
    monkeypatch.setenv("SHOP_TERMINAL_LEDGER_URL", "https://ledger.example/")
    monkeypatch.setenv("SHOP_TERMINAL_TOKEN", "cc_new")
    config = config_mod.load(tmp_path)
    assert config.ledger_url == "https://ledger.example" and config.terminal_token == "cc_new"


def test_the_data_folder_setting_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_TERMINAL_DATA", str(tmp_path / "till"))
    assert config_mod.default_data_dir() == tmp_path / "till"


@pytest.mark.skipif(sys.platform != "linux", reason="the Linux places")
def test_the_data_folder_on_linux_is_where_it_always_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    assert config_mod.default_data_dir() == tmp_path / ".local" / "share" / "shop-terminal"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert config_mod.default_data_dir() == tmp_path / "data" / "shop-terminal"
