"""The shop terminal under faults, against the real ledger (gunicorn) through a TCP proxy
that cuts the network: an answer lost after the ledger committed, the network down (offline
acceptance), and the terminal process SIGKILLed mid-request — once while redeeming, once
while syncing with vouchers still queued. After a restart and a sync nothing is lost and
nothing doubled: every voucher the terminal accepted is redeemed exactly once.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from credits.bench.servers import AppServer
from credits.db import Database, make_engine
from tests.faults import workload
from tests.faults.conftest import app_env
from tests.faults.proxy import CuttingProxy

pytestmark = [pytest.mark.faults]


def terminal(data: Path, *args: str, wait: bool = True) -> Any:
    cmd = [sys.executable, "-m", "shop_terminal", "--data", str(data), *args]
    if not wait:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def state(result: subprocess.CompletedProcess[str]) -> str:
    return str(json.loads(result.stdout)["state"])


REDEEM = b"POST /api/v1/redemptions"


def kill_mid_request(proxy: CuttingProxy, data: Path, *args: str) -> None:
    """Run the terminal, hold back the answer to its first redemption (the ledger has
    committed), and SIGKILL it while it waits for that answer."""
    proxy.hold(1, only=REDEEM)
    process = terminal(data, *args, wait=False)
    try:
        assert proxy.holding.wait(60), "the terminal never sent its request"
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        proxy.release()
        process.stdout.close()
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL


def test_terminal_killed_and_cut_off_loses_and_doubles_nothing(
    tmp_path: Path, say: Callable[[str], None]
) -> None:
    instance = tmp_path / "instance"
    url = f"sqlite:///{tmp_path / 'credits.sqlite3'}"
    scheme = workload.prepare(url, instance, members=2, credits=200, expirable=0)
    server = AppServer(app_env(url, instance), tmp_path / "server.log", workers=2).start()
    proxy = CuttingProxy(server.port).start()
    data = tmp_path / "till"
    try:
        shop_id, token = scheme.shops[0]
        member = scheme.members[0]
        vouchers = []
        for n in range(5):
            r = httpx.post(
                f"{server.url}/api/v1/vouchers",
                json={"amount": 10, "idempotency_key": f"till-{n}"},
                headers={"Authorization": f"Bearer {member.token}"},
                timeout=30,
            )
            assert r.status_code == 201, r.text
            vouchers.append(r.json())
        init = terminal(data, "init", "--ledger", proxy.url, "--token", token)
        assert init.returncode == 0, init.stdout + init.stderr
        # Try the network on every scan (by default an offline terminal waits 10 s).
        from shop_terminal.config import CONFIG_FILE

        settings = json.loads((data / CONFIG_FILE).read_text())
        (data / CONFIG_FILE).write_text(json.dumps({**settings, "offline_recheck_s": 0}))

        # 1. The answer is lost after the ledger committed: resent with the same key.
        proxy.cut(1, only=REDEEM)
        first = terminal(data, "redeem", vouchers[0]["code"], "--json")
        assert state(first) == "redeemed", first.stdout + first.stderr
        assert proxy.cut_count == 1

        # 2. The network is down: accepted offline, within the floor limit.
        proxy.down()
        for v in vouchers[1:3]:
            queued = terminal(data, "redeem", v["code"], "--json")
            assert state(queued) == "queued", queued.stdout + queued.stderr
        proxy.up()

        # 3. Killed while redeeming: the ledger committed, the terminal never heard.
        kill_mid_request(proxy, data, "redeem", vouchers[3]["code"], "--json")
        # 4. Killed while syncing, with two vouchers still queued.
        kill_mid_request(proxy, data, "sync", "--json")

        # Restarted: one sync settles everything.
        final = terminal(data, "sync", "--json")
        report = json.loads(final.stdout)
        say(f"\n== shop terminal under faults: final sync {report}")
        assert report["still_queued"] == 0 and report["still_unresolved"] == 0, report
        assert not report["exceptions"] and not report["refused"], report

        from shop_terminal.config import STORE_FILE

        with sqlite3.connect(data / STORE_FILE) as conn:
            states = dict(conn.execute("SELECT state, count(*) FROM scan GROUP BY state"))
        assert states == {"redeemed": 4}, states

        db = Database(make_engine(url))
        with db.read() as s:
            per_voucher = {
                str(v): int(n)
                for v, n in s.execute(
                    text("SELECT voucher_id, count(*) FROM redemption GROUP BY voucher_id")
                ).all()
            }
            shop_balance = s.execute(
                text(
                    "SELECT sum(b.balance) FROM account a JOIN account_balance b "
                    "ON b.account_id = a.id WHERE a.code = :code"
                ),
                {"code": f"shop:{shop_id}"},
            ).scalar_one()
        db.engine.dispose()
        accepted = {v["id"] for v in vouchers[:4]}
        assert per_voucher == dict.fromkeys(accepted, 1)  # nothing lost, nothing doubled
        assert shop_balance == 40
        status, output = workload.verify(app_env(url, instance))
        assert status == 0, output
    finally:
        proxy.stop()
        server.stop()
