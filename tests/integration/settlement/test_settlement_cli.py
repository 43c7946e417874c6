"""The settled month in the journals (checked by hledger and beancount themselves), in the
statement's CSV, and `credits settlement-file` checked by `credits verify-statement`."""

from __future__ import annotations

import csv
import io
import os
import subprocess

from freezegun import freeze_time

from credits.accounts import Role
from credits.cli import main as cli
from tests.conftest import need

from ..statements.test_statements_cli import BEAN_CHECK, HLEDGER, _by_type, _hledger_balances
from .helpers import SETTLE_AT, settle_october


def run(runner, *args):
    return runner.invoke(cli, list(args), catch_exceptions=False)


def test_the_settled_month_in_the_journals(runner, client, db, month, make_person, tmp_path):
    second = make_person(Role.OFFICER)
    settle_october(client, db, month, second)
    # November: the shops' 52 credits move to settled; the trial balance still totals 0.
    want = {"issuance": -165, "member": 116, "expired": 2, "adjustments": -5, "settled": 52}
    need(os.path.exists(HLEDGER), "hledger is not installed (apt-get install hledger)")
    with freeze_time(SETTLE_AT):
        path = tmp_path / "nov.journal"
        args = ["statement", "--month", "2026-11", "--format", "hledger", "--out", str(path)]
        assert run(runner, *args).exit_code == 0
    subprocess.run([HLEDGER, "-f", str(path), "check"], check=True, capture_output=True)
    assert _by_type(_hledger_balances(path)) == want
    assert "Expenses:Settled" in path.read_text()

    need(os.path.exists(BEAN_CHECK), "beancount is not installed (pip install '.[test]')")
    from beancount import loader
    from beancount.core import realization

    with freeze_time(SETTLE_AT):
        path = tmp_path / "nov.beancount"
        args = ["statement", "--month", "2026-11", "--format", "beancount", "--out", str(path)]
        assert run(runner, *args).exit_code == 0
    checked = subprocess.run([BEAN_CHECK, str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    entries, errors, _ = loader.load_file(str(path))
    assert errors == []
    balances = {
        r.account: int(r.balance.get_currency_units("CREDITS").number)
        for r in realization.iter_children(realization.realize(entries))
        if not r.balance.is_empty()
    }
    assert _by_type(balances) == want


def test_the_statement_csv_reports_the_settlement(runner, client, db, month, make_person):
    second = make_person(Role.OFFICER)
    settle_october(client, db, month, second)
    with freeze_time(SETTLE_AT):
        result = run(runner, "statement", "--month", "2026-11", "--format", "csv")
    rows = list(csv.reader(io.StringIO(result.stdout)))
    header = rows.index(
        [
            "settlement",
            "settled_credits",
            "settled_pence",
            "paid_pence",
            "unpaid_settled_pence",
            "unsettled_credits",
            "unsettled_pence",
            "unpaid_owed_pence",
        ]
    )
    assert rows[header + 1] == ["total", "52", "2600", "0", "2600", "0", "0", "2600"]
    assert ["settled", "0", "52", "0", "52", "52"] in rows


def test_the_payments_file_from_the_command_line_verifies(
    runner, client, db, month, make_person, tmp_path
):
    second = make_person(Role.OFFICER)
    settled = settle_october(client, db, month, second)
    data, sig = tmp_path / "payments.xml", tmp_path / "payments.sig"
    args = ["settlement-file", str(settled["id"]), "--format", "pain.001"]
    result = run(runner, *args, "--out", str(data), "--signature", str(sig))
    assert result.exit_code == 0, result.output
    api = client.get(
        f"/api/v1/settlements/{settled['id']}/files/pain.001", headers=month.officer.auth
    )
    assert data.read_bytes() == api.data
    assert run(runner, "verify-statement", str(data), str(sig)).exit_code == 0
    raw = bytearray(data.read_bytes())
    raw[raw.index(b"14.50")] = ord("9")
    data.write_bytes(bytes(raw))
    bad = run(runner, "verify-statement", str(data), str(sig))
    assert bad.exit_code == 1 and "does not match" in bad.output
    assert run(runner, "settlement-file", "999").exit_code == 2
