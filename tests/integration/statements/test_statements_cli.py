"""`credits statement`, the journals (checked by hledger and beancount themselves),
`credits verify-statement` and `credits set-rate`."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from freezegun import freeze_time
from sqlalchemy import text

from credits.cli import main as cli
from credits.vouchers.keys import b64url
from tests.conftest import need

from .worked_month import EXPECTED, build_worked_month, london

HLEDGER = "/usr/bin/hledger"
BEAN_CHECK = str(Path(sys.executable).with_name("bean-check"))


@pytest.fixture
def month(db, client, make_person):
    return build_worked_month(db, client, make_person)


def run(runner, *args):
    result = runner.invoke(cli, list(args), catch_exceptions=False)
    return result


def test_cli_and_api_serve_the_same_bytes(runner, client, month, tmp_path):
    for fmt in ("json", "csv"):
        for shop in (None, month.shop_b["shop_id"]):
            query = f"?format={fmt}" + (f"&shop={shop}" if shop else "")
            with freeze_time(london(2026, 11, 25, 12)):
                api = client.get(f"/api/v1/statements/2026-10{query}", headers=month.officer.auth)
            assert api.status_code == 200
            args = ["statement", "--month", "2026-10", "--format", fmt]
            if shop:
                args += ["--shop", str(shop)]
            printed = run(runner, *args)
            assert printed.exit_code == 0, printed.output
            assert printed.stdout_bytes == api.get_data()
            out = tmp_path / f"s.{fmt}"
            assert run(runner, *args, "--out", str(out)).exit_code == 0
            assert out.read_bytes() == api.get_data()


def test_bad_input_is_refused_with_exit_2(runner, month):
    for args in (
        ["statement", "--month", "2026-13"],
        ["statement", "--month", "2099-01"],
        ["statement", "--month", "2026-10", "--shop", "999999"],
    ):
        result = run(runner, *args)
        assert result.exit_code == 2, (args, result.output)


def _hledger_balances(path: Path) -> dict[str, int]:
    out = subprocess.run(
        [HLEDGER, "-f", str(path), "bal", "-O", "csv", "--no-total", "--flat"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0][0] == "account"
    return {r[0]: int(r[1].split()[0]) for r in rows[1:] if r and r[0]}


def _by_type(balances: dict[str, int]) -> dict[str, int]:
    roots = {
        "Equity:Issuance": "issuance",
        "Liabilities:Vouchers": "vouchers_outstanding",
        "Income:Expired": "expired",
        "Expenses:Adjustments": "adjustments",
        "Expenses:Settled": "settled",
    }
    out: dict[str, int] = {}
    for account, amount in balances.items():
        if account.startswith("Liabilities:Members:"):
            key = "member"
        elif account.startswith("Liabilities:Shops:"):
            key = "shop"
        else:
            key = roots[account]
        out[key] = out.get(key, 0) + amount
    return out


def test_the_hledger_journal_checks_and_balances_to_the_statement(runner, month, tmp_path):
    need(os.path.exists(HLEDGER), "hledger is not installed (apt-get install hledger)")
    path = tmp_path / "oct.journal"
    assert (
        run(
            runner, "statement", "--month", "2026-10", "--format", "hledger", "--out", str(path)
        ).exit_code
        == 0
    )
    subprocess.run([HLEDGER, "-f", str(path), "check"], check=True, capture_output=True)
    closing = {k: v[3] for k, v in EXPECTED["trial_balance"].items()}
    assert _by_type(_hledger_balances(path)) == {k: v for k, v in closing.items() if v}
    members = _hledger_balances(path)
    assert members[f"Liabilities:Members:Member-{month.scheme.ann.id}"] == 53
    # A shop's journal: its opening balance and its month.
    shop = tmp_path / "b.journal"
    assert (
        run(
            runner,
            "statement",
            "--month",
            "2026-10",
            "--format",
            "hledger",
            "--shop",
            str(month.shop_b["shop_id"]),
            "--out",
            str(shop),
        ).exit_code
        == 0
    )
    subprocess.run([HLEDGER, "-f", str(shop), "check"], check=True, capture_output=True)
    assert _hledger_balances(shop)[f"Liabilities:Shops:Shop-{month.shop_b['shop_id']}"] == 23


def test_the_beancount_journal_checks_and_balances_to_the_statement(runner, db, month, tmp_path):
    need(os.path.exists(BEAN_CHECK), "beancount is not installed (pip install '.[test]')")
    from beancount import loader
    from beancount.core import realization

    path = tmp_path / "oct.beancount"
    assert (
        run(
            runner, "statement", "--month", "2026-10", "--format", "beancount", "--out", str(path)
        ).exit_code
        == 0
    )
    checked = subprocess.run([BEAN_CHECK, str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    entries, errors, _ = loader.load_file(str(path))
    assert errors == []
    real = realization.realize(entries)
    balances = {
        r.account: int(r.balance.get_currency_units("CREDITS").number)
        for r in realization.iter_children(real)
        if not r.balance.is_empty()
    }
    closing = {k: v[3] for k, v in EXPECTED["trial_balance"].items()}
    assert _by_type(balances) == {k: v for k, v in closing.items() if v}
    # September's journal opens empty and ends where October's opening is.
    sep = tmp_path / "sep.beancount"
    assert (
        run(
            runner, "statement", "--month", "2026-09", "--format", "beancount", "--out", str(sep)
        ).exit_code
        == 0
    )
    assert subprocess.run([BEAN_CHECK, str(sep)], capture_output=True).returncode == 0


def test_a_signed_statement_verifies_and_nothing_else_does(runner, client, month, tmp_path):
    data, sig = tmp_path / "oct.json", tmp_path / "oct.sig"
    args = ["statement", "--month", "2026-10", "--out", str(data), "--signature", str(sig)]
    assert run(runner, *args).exit_code == 0
    good = run(runner, "verify-statement", str(data), str(sig))
    assert good.exit_code == 0, good.output
    # Against the published trust list too (a file saved from the API).
    trust = client.get("/api/v1/trust-list").get_json()
    trust_file = tmp_path / "trust.json"
    trust_file.write_text(json.dumps(trust))
    assert (
        run(
            runner, "verify-statement", str(data), str(sig), "--trust-list", str(trust_file)
        ).exit_code
        == 0
    )

    # One byte changed.
    changed = tmp_path / "changed.json"
    raw = bytearray(data.read_bytes())
    raw[10] ^= 0x01
    changed.write_bytes(bytes(raw))
    bad = run(runner, "verify-statement", str(changed), str(sig))
    assert bad.exit_code == 1 and "does not match" in bad.output

    # Signed by another key that claims the statement key's kid.
    kid = trust["statement_keys"][0]["kid"]
    forged = tmp_path / "forged.sig"
    other = Ed25519PrivateKey.generate()
    forged.write_text(f"kid={kid}; sig={b64url(other.sign(data.read_bytes()))}\n")
    assert run(runner, "verify-statement", str(data), str(forged)).exit_code == 1

    # A kid the trust list does not have as a statement key — a voucher key included.
    for unknown in ("0123456789abcdef", trust["keys"][0]["kid"]):
        line = sig.read_text().replace(kid, unknown)
        (tmp_path / "unknown.sig").write_text(line)
        result = run(runner, "verify-statement", str(data), str(tmp_path / "unknown.sig"))
        assert result.exit_code == 1 and "not a statement key" in result.output


def test_set_rate_is_audited_and_leaves_earlier_months_alone(runner, db, month):
    result = run(runner, "set-rate", "75", "--from", "2026-12")
    assert result.exit_code == 0, result.output
    with db.read() as s:
        rows = s.execute(
            text("SELECT actor, details FROM audit_event WHERE action = 'rate.set' ORDER BY id")
        ).all()
    assert len(rows) == 4 and rows[-1][0].startswith("cli:")
    details = rows[-1][1] if isinstance(rows[-1][1], dict) else json.loads(rows[-1][1])
    assert details["pence_per_credit"] == 75
    assert run(runner, "set-rate", "12", "--from", "2026-1").exit_code == 2
    printed = run(runner, "statement", "--month", "2026-10")
    assert json.loads(printed.stdout_bytes)["rate_pence_per_credit"] == 50


def test_verify_statement_reads_the_trust_list_from_a_url(runner, live_server, month, tmp_path):
    data, sig = tmp_path / "oct.csv", tmp_path / "oct.sig"
    args = ["statement", "--month", "2026-10", "--format", "csv", "--out", str(data)]
    assert run(runner, *args, "--signature", str(sig)).exit_code == 0
    url = live_server.url + "/api/v1/trust-list"
    ok = run(runner, "verify-statement", str(data), str(sig), "--trust-list", url)
    assert ok.exit_code == 0, ok.output
    data.write_bytes(data.read_bytes().replace(b"Market Grocer", b"Market Grocex"))
    assert run(runner, "verify-statement", str(data), str(sig), "--trust-list", url).exit_code == 1
