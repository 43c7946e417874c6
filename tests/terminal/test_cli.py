"""The `shop-terminal` command, run as a real process against the fake ledger: setup, the
documented exit codes, --json output, pictures, and a process killed between sending a
redemption and reading its answer."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.terminal.fake_ledger import FakeLedger

ROOT = Path(__file__).resolve().parents[2]


class Cli:
    def __init__(self, data: Path) -> None:
        self.data = data
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SHOP_TERMINAL_")}

    def popen(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "shop_terminal", "--data", str(self.data), *args],
            env=self.env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def __call__(self, *args: str, code: int | None = None) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "shop_terminal", "--data", str(self.data), *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if code is not None:
            assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
        return done

    def tune(self, **settings: Any) -> None:
        path = self.data / "config.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **settings}))


@pytest.fixture
def cli(tmp_path: Path, fake_ledger: FakeLedger) -> Cli:
    """A terminal set up with `shop-terminal init` against the fake ledger."""
    term = fake_ledger.add_terminal(1, "Till 1")
    run = Cli(tmp_path / "till")
    out = run("init", "--ledger", fake_ledger.url, "--token", term.token, code=0)
    assert "Connected: Till 1 at Brixton Bakery." in out.stdout
    assert "up to 20 credits per voucher" in out.stdout
    run.tune(connect_timeout_s=0.5, read_timeout_s=1.0, offline_recheck_s=0)
    return run


def test_init_keeps_the_token_private_and_checks_it(
    tmp_path: Path, fake_ledger: FakeLedger, cli: Cli
):
    mode = stat.S_IMODE((cli.data / "config.json").stat().st_mode)
    assert mode == 0o600
    bad = Cli(tmp_path / "bad")
    out = bad("init", "--ledger", fake_ledger.url, "--token", "cc_wrong", code=2)
    assert "refused this token" in out.stderr
    out = bad("init", "--ledger", "ftp://x", "--token", "t", code=2)
    assert "ledger URL" in out.stderr
    fake_ledger.stop()
    later = Cli(tmp_path / "later")
    out = later("init", "--ledger", fake_ledger.url, "--token", "cc_x", code=3)
    assert "Could not reach the ledger" in out.stdout


def test_not_set_up_is_a_usage_error(tmp_path: Path):
    out = Cli(tmp_path / "nothing")("redeem", "CC1:X", code=2)
    assert "not set up yet" in out.stderr and "shop-terminal init" in out.stderr


def test_exit_codes_online(cli: Cli, fake_ledger: FakeLedger):
    code = fake_ledger.issue(15)
    out = cli("redeem", code, code=0)
    assert out.stdout.startswith("YES - 15 credits") and "Voucher accepted." in out.stdout
    out = cli("redeem", code, code=1)
    assert "This voucher was already used here at" in out.stdout
    tampered = code[:30] + ("Z" if code[30] != "Z" else "Y") + code[31:]
    assert "This is not a valid voucher." in cli("redeem", tampered, code=1).stdout
    other = fake_ledger.issue(10)
    assert "only worth 10 credits" in cli("redeem", other, "--amount", "11", code=1).stdout
    cli("redeem", other, "--amount", "0", code=2)
    out = cli("redeem", other, "--amount", "4", "--json", code=0)
    data = json.loads(out.stdout)
    assert data["outcome"] == "redeemed" and data["amount"] == 4 and data["change"] == 6
    assert data["reference"] and data["face_value"] == 10
    assert fake_ledger.balances["shop:1"] == 19
    expired = fake_ledger.issue(3, expires_in_s=-1)
    assert json.loads(cli("redeem", expired, "--json", code=1).stdout)["reason"] == "expired"


def test_exit_codes_offline_and_sync(cli: Cli, fake_ledger: FakeLedger):
    small, big = fake_ledger.issue(12), fake_ledger.issue(25)
    fake_ledger.stop()
    out = cli("redeem", small, code=3)
    assert "Accepted offline." in out.stdout
    out = cli("redeem", big, code=4)
    assert "Can't accept this voucher now." in out.stdout
    assert "OFFLINE" in cli("status", code=3).stdout
    out = cli("sync", code=3)
    assert "can't be reached" in out.stdout
    fake_ledger.start()
    out = cli("sync", code=0)
    assert "Sent 1 offline voucher(s); 1 confirmed" in out.stdout
    assert fake_ledger.balances["shop:1"] == 12
    status = json.loads(cli("status", "--json", code=0).stdout)
    assert status["online"] and status["queued"] == {"count": 0, "credits": 0}
    assert status["offline_limits"] == {"floor_limit": 20, "max_count": 3, "max_total": 50}
    today = json.loads(cli("today", "--json", code=0).stdout)
    assert today["count"] == 1 and today["credits"] == 12 and today["offline_count"] == 1
    assert len(today["scans"]) == 2
    assert "Today: 1 voucher(s), 12 credits" in cli("today", code=0).stdout


def test_sync_exit_1_when_an_offline_voucher_became_an_exception(
    tmp_path: Path, fake_ledger: FakeLedger, cli: Cli
):
    code = fake_ledger.issue(9)
    fake_ledger.stop()
    cli("redeem", code, code=3)
    fake_ledger.start()
    fake_ledger.cancel(next(iter(fake_ledger.vouchers)))  # meanwhile, by its owner
    out = cli("sync", code=1)
    assert "Accepted offline — but it was used elsewhere." in out.stdout
    assert "still pays your shop" in out.stdout


def test_scan_image(cli: Cli, fake_ledger: FakeLedger, tmp_path: Path):
    import qrcode
    from PIL import Image

    picture = tmp_path / "voucher.png"
    qrcode.make(fake_ledger.issue(6)).save(picture)
    assert "YES - 6 credits" in cli("scan-image", str(picture), code=0).stdout
    blank = tmp_path / "blank.png"
    Image.new("RGB", (100, 100), "white").save(blank)
    assert "No QR code found" in cli("scan-image", str(blank), code=1).stdout
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not a picture")
    assert "not a picture" in cli("scan-image", str(junk), code=2).stderr


def test_a_process_killed_between_send_and_answer_loses_nothing(cli: Cli, fake_ledger: FakeLedger):
    """`redeem` is killed (SIGKILL) after the ledger committed and before its answer
    arrived. `sync` in a new process resends the stored request: the first result, once."""
    cli.tune(read_timeout_s=30.0)
    code = fake_ledger.issue(15)
    fake_ledger.delay_after_commit_s = 20
    process = cli.popen("redeem", code)
    deadline = time.monotonic() + 20
    while not fake_ledger.redemptions and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fake_ledger.redemptions, "the ledger never got the request"
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    fake_ledger.delay_after_commit_s = 0
    status = json.loads(cli("status", "--json", code=0).stdout)
    assert status["unconfirmed"] == 1
    out = cli("sync", "--json", code=0)
    assert json.loads(out.stdout)["resolved"] == 1
    assert len(fake_ledger.redemptions) == 1 and fake_ledger.balances["shop:1"] == 15
    today = json.loads(cli("today", "--json", code=0).stdout)
    (scan,) = today["scans"]
    assert scan["state"] == "redeemed"
    assert scan["redemption_id"] == fake_ledger.redemptions[0]["id"]
    # Scanning it again is refused from the journal, with no new request.
    assert "already used here" in cli("redeem", code, code=1).stdout
    assert len(fake_ledger.redemptions) == 1


def test_redeem_reads_stdin(cli: Cli, fake_ledger: FakeLedger):
    code = fake_ledger.issue(2)
    done = subprocess.run(
        [sys.executable, "-m", "shop_terminal", "--data", str(cli.data), "redeem", "-"],
        input=code + "\r\n",
        env=cli.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
