"""Reconciling the bank: each kind of mismatch, the exceptions queue, re-imports, returns,
and `credits reconcile-bank`.

October's run (helpers.py) pays shop A £14.50 and shop B £11.50, requested for 25 November.
"""

from __future__ import annotations

import json
from datetime import date

from freezegun import freeze_time
from sqlalchemy import text

from credits import dashboard
from credits.accounts import Role
from credits.bench.bankfiles import Tx, camt053, csv_statement
from credits.ledger import Month
from credits.settlement import month_figures
from tests.problems import assert_problem

from ..people_helpers import snapshot
from ..statements.worked_month import london
from .helpers import get, post, reference, settle_october

NOV_28 = london(2026, 11, 28, 9)


def _import(client, who, data: bytes, name: str, content_type: str = "application/xml"):
    return client.post(
        f"/api/v1/settlements/bank-statements?filename={name}",
        data=data,
        content_type=content_type,
        headers=who.auth,
    )


def _run(client, who, run_id):
    return get(client, who, f"/api/v1/settlements/{run_id}").get_json()


def test_a_bank_statement_with_each_kind_of_mismatch(client, db, month, make_person):
    second = make_person(Role.OFFICER)
    run = settle_october(client, db, month, second)
    a, b = month.shop_a["shop_id"], month.shop_b["shop_id"]
    ref_a, ref_b = reference(run, a), reference(run, b)
    day = date(2026, 11, 27)

    # 1. A is paid; B is not on the statement (missing); an unknown payment, and one quoting a
    #    run that does not exist (both unexpected); money in (ignored).
    first = camt053(
        [
            Tx(day, -1450, ref_a, "Brixton Bakery Ltd", bank_ref="B-1"),
            Tx(day, -3000, "ACME SUPPLIES INV 77", "Acme Ltd", bank_ref="B-2"),
            Tx(day, -999, "CC202610R99S1", "Somebody", bank_ref="B-3"),
            Tx(day, 500_000, "FUNDING", "Council", bank_ref="B-4"),
        ],
        statement_id="NOV-A",
    )
    with freeze_time(NOV_28):
        resp = _import(client, month.officer, first, "nov-a.xml")
    assert resp.status_code == 201, resp.get_json()
    result = resp.get_json()
    assert {k: result["summary"][k] for k in ("matched", "unexpected", "ignored", "missing")} == {
        "matched": 1,
        "unexpected": 2,
        "ignored": 1,
        "missing": 1,
    }
    kinds = sorted((m["kind"], m["expected_pence"], m["seen_pence"]) for m in result["mismatches"])
    assert kinds == [("missing", 1150, 0), ("unexpected", None, -3000), ("unexpected", None, -999)]
    outcomes = {t["line_no"]: t["outcome"] for t in _transactions(client, month, result["id"])}
    assert outcomes == {1: "matched", 2: "unexpected", 3: "unexpected", 4: "ignored"}
    assert _run(client, month.officer, run["id"])["state"] == "approved"

    # The same file again: the first import's result, nothing written.
    before = snapshot(db)
    with freeze_time(NOV_28):
        again = _import(client, month.officer, first, "nov-a-again.xml")
    assert again.status_code == 200 and again.get_json()["replayed"] is True
    assert again.get_json()["id"] == result["id"]
    assert snapshot(db) == before

    # 2. An overlapping statement: A's payment again (a duplicate, not counted twice) and B
    #    paid 50p short (amount differs). The missing item is superseded.
    second_file = camt053(
        [
            Tx(day, -1450, ref_a, "Brixton Bakery Ltd", bank_ref="B-1"),
            Tx(date(2026, 11, 30), -1100, ref_b, "Market Grocer", bank_ref="B-5"),
        ],
        statement_id="NOV-B",
    )
    with freeze_time(london(2026, 12, 1, 9)):
        resp = _import(client, month.officer, second_file, "nov-b.xml")
    summary = resp.get_json()["summary"]
    assert (summary["duplicate"], summary["matched"], summary["amount_differs"]) == (1, 0, 1)
    (differs,) = resp.get_json()["mismatches"]
    assert (differs["kind"], differs["expected_pence"], differs["seen_pence"]) == (
        "amount_differs",
        1150,
        1100,
    )
    assert "11.50 pounds" in differs["detail"] and "11.00 pounds" in differs["detail"]
    run_now = _run(client, month.officer, run["id"])
    assert run_now["state"] == "approved"
    assert {x["shop_id"]: x["paid_pence"] for x in run_now["lines"]} == {a: 1450, b: 1100}

    # 3. The bank's CSV export: the missing 50p, with the same reference. B now matches, the
    #    run is paid, and the open items about B are resolved by the import.
    third = csv_statement(
        [Tx(date(2026, 12, 2), -50, f"Top-up {ref_b}", "Market Grocer")], split_columns=True
    )
    with freeze_time(london(2026, 12, 3, 9)):
        resp = _import(client, month.officer, third, "dec.csv", "text/csv")
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["summary"]["matched"] == 1
    assert resp.get_json()["summary"]["runs_paid"] == [run["id"]]
    assert _run(client, month.officer, run["id"])["state"] == "paid"

    # The exceptions queue: two unexpected payments still open; B's items resolved, saying
    # by which import and why.
    with db.read() as s:
        queue = dashboard.exceptions_queue(s, kind="bank_mismatch", limit=50)
    states = sorted((q.state, q.why.split(":")[0]) for q in queue)
    assert [st for st, _ in states] == ["open", "open", "resolved", "resolved"]
    resolved = [q for q in queue if q.state == "resolved"]
    assert any("resolved by bank import" in q.why and "matched" in q.why for q in resolved)
    assert any("superseded" in q.why for q in resolved)
    b_items = [q for q in queue if q.shop_id == b]
    assert {q.pounds for q in b_items} == {"0.00", "11.00"}

    # An officer resolves an unexpected payment: who, when, why.
    acme = next(m for m in result["mismatches"] if m["seen_pence"] == -3000)
    path = f"/api/v1/settlements/mismatches/{acme['id']}/resolve"
    assert_problem(post(client, second, path, {"resolution": ""}), 422, "validation_error")
    with freeze_time(london(2026, 12, 3, 10)):
        resp = post(
            client, second, path, {"resolution": "Acme invoice paid from the wrong account"}
        )
    body = resp.get_json()
    assert resp.status_code == 200
    assert body["resolved_by"].startswith(f"person:{second.id} ")
    assert body["resolution"] == "Acme invoice paid from the wrong account"
    assert body["resolved_at"].startswith("2026-12-03T10:00")
    assert_problem(
        post(client, month.officer, path, {"resolution": "again"}), 409, "mismatch_resolved"
    )
    open_items = get(client, month.officer, "/api/v1/settlements/mismatches?open=true").get_json()
    assert [m["seen_pence"] for m in open_items] == [-999]
    with db.read() as s:
        audited = s.execute(
            text("SELECT count(*) FROM audit_event WHERE action = 'bank_mismatch.resolve'")
        ).scalar_one()
    assert audited == 1

    # Paid figures: £14.50 + £11.00 booked in November; the 50p booked in December.
    with db.read() as s:
        nov, dec = month_figures(s, Month(2026, 11)), month_figures(s, Month(2026, 12))
    assert (nov.paid_pence, nov.unpaid_settled_pence) == (2550, 50)
    assert (dec.paid_pence, dec.unpaid_settled_pence, dec.unpaid_owed_pence) == (50, 0, 0)

    # 4. The bank returns A's payment (money in quoting its reference): A no longer matches
    #    and the run is no longer paid.
    returned = camt053(
        [Tx(date(2026, 12, 4), 1450, f"RETURN {ref_a}", "Brixton Bakery Ltd", bank_ref="R-1")],
        statement_id="DEC-R",
    )
    with freeze_time(london(2026, 12, 5, 9)):
        resp = _import(client, month.officer, returned, "return.xml")
    (item,) = resp.get_json()["mismatches"]
    assert (item["kind"], item["seen_pence"]) == ("amount_differs", 0)
    run_now = _run(client, month.officer, run["id"])
    assert run_now["state"] == "approved"
    assert {x["shop_id"]: x["paid_on"] for x in run_now["lines"]} == {a: None, b: "2026-12-02"}


def _transactions(client, month, import_id):
    body = get(client, month.officer, f"/api/v1/settlements/bank-statements/{import_id}")
    return body.get_json()["transactions"]


def test_a_file_that_cannot_be_read_is_refused_whole(client, db, month, make_person):
    second = make_person(Role.OFFICER)
    settle_october(client, db, month, second)
    before = snapshot(db)
    bad = b"Date,Description,Amount\r\n27/11/2026,CC202610R1S1,-14.50\r\n28/11/2026,x,fourteen\r\n"
    body = assert_problem(_import(client, month.officer, bad, "bad.csv", "text/csv"), 422,
                          "bank_file_invalid")  # fmt: skip
    assert body["errors"]["file"] == ["line 3: 'fourteen' is not an amount of pounds"]
    no_columns = b"When,What\r\n27/11/2026,x\r\n"
    assert_problem(
        _import(client, month.officer, no_columns, "cols.csv", "text/csv"), 422, "bank_file_invalid"
    )
    assert_problem(
        _import(client, month.officer, b"<not-camt/>", "x.xml"), 422, "bank_file_invalid"
    )
    assert_problem(_import(client, month.officer, b"<oops", "x.xml"), 422, "bank_file_invalid")
    assert_problem(_import(client, month.officer, b"", "empty.csv"), 422, "bank_file_invalid")
    assert snapshot(db) == before


def test_a_large_statement_is_accepted_past_the_api_body_limit(client, db, month, make_person):
    """A bank file is far bigger than the 64 KB the rest of the API accepts."""
    second = make_person(Role.OFFICER)
    run = settle_october(client, db, month, second)
    day = date(2026, 11, 27)
    filler = [Tx(day, 100 + n, f"FUNDING {n}", "Council", bank_ref=f"F-{n}") for n in range(2000)]
    ref_a = reference(run, month.shop_a["shop_id"])
    data = camt053([*filler, Tx(day, -1450, ref_a, "Brixton Bakery", bank_ref="P-1")])
    assert len(data) > 200_000
    with freeze_time(NOV_28):
        resp = _import(client, month.officer, data, "big.xml")
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["summary"]["ignored"] == 2000
    assert resp.get_json()["summary"]["matched"] == 1


def test_credits_reconcile_bank(runner, client, db, month, make_person, tmp_path):
    from credits.cli import main

    second = make_person(Role.OFFICER)
    run = settle_october(client, db, month, second)
    a, b = month.shop_a["shop_id"], month.shop_b["shop_id"]
    partial = tmp_path / "partial.xml"
    partial.write_bytes(camt053([Tx(date(2026, 11, 27), -1450, reference(run, a), "A")]))
    with freeze_time(NOV_28):
        result = runner.invoke(main, ["reconcile-bank", str(partial), "--json"])
    assert result.exit_code == 1, result.output
    out = json.loads(result.output)
    assert out["summary"]["matched"] == 1 and out["summary"]["missing"] == 1
    assert [m["kind"] for m in out["mismatches"]] == ["missing"]
    rest = tmp_path / "rest.csv"
    rest.write_bytes(csv_statement([Tx(date(2026, 11, 27), -1150, reference(run, b), "B")]))
    with freeze_time(NOV_28):
        result = runner.invoke(main, ["reconcile-bank", str(rest)])
    assert result.exit_code == 0, result.output
    assert f"run {run['id']} is paid" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("nothing,useful\n1,2\n")
    result = runner.invoke(main, ["reconcile-bank", str(bad)])
    assert result.exit_code == 2 and "bank_file_invalid" in result.output
