"""The worked month settled and paid, end to end, with the amounts worked out by hand
(helpers.py): a run, its approval (one balanced entry per shop), the payments files, the
remittances, the bank statement that pays it, and the statements that report it."""

from __future__ import annotations

import csv
import io
from datetime import date

from freezegun import freeze_time
from lxml import etree
from sqlalchemy import text

from credits import ledger, verify_checks
from credits.accounts import Role
from credits.bench.bankfiles import Tx, camt053
from credits.ledger import Month
from credits.mail import read_outbox
from credits.statements import build_statement, signing

from ..statements.worked_month import london
from .helpers import (
    A_CREDITS,
    A_PENCE,
    B_CREDITS,
    B_PENCE,
    get,
    reference,
    settle_october,
)

PAID_AT = london(2026, 11, 28, 9)


def _balances(db, month) -> dict[str, int]:
    with db.read() as s:
        settled = ledger.scheme_account(s, ledger.SETTLED).id
        return {
            "a": ledger.balance(s, month.shop_a["account"]),
            "b": ledger.balance(s, month.shop_b["account"]),
            "settled": ledger.balance(s, settled),
        }


def test_the_worked_month_settled_and_paid(client, db, month, make_person, services):
    second = make_person(Role.OFFICER, name="Second Officer")
    a, b = month.shop_a["shop_id"], month.shop_b["shop_id"]
    assert _balances(db, month) == {"a": A_CREDITS, "b": B_CREDITS, "settled": 0}

    run = settle_october(client, db, month, second)

    # The run: each shop's credits at October's 50p, worked out by hand.
    assert run["state"] == "approved" and run["month"] == "2026-10"
    assert (run["payments"], run["total_credits"], run["total_pence"]) == (2, 52, 2600)
    assert run["total_gbp"] == "26.00" and not run["needs_second_approver"]
    lines = {x["shop_id"]: x for x in run["lines"]}
    assert lines[a]["breakdown"] == [{"month": "2026-10", "credits": 29, "rate": 50, "pence": 1450}]
    assert (lines[a]["amount_pence"], lines[b]["amount_pence"]) == (A_PENCE, B_PENCE)
    assert reference(run, a) == f"CC202610R{run['id']}S{a}"
    assert run["settled_at"].startswith("2026-11-25T12:00")

    # Approval moved each shop's credits to settled: every shop's balance is what is unpaid.
    assert _balances(db, month) == {"a": 0, "b": 0, "settled": 52}
    with db.read() as s:
        entries = s.execute(
            text(
                "SELECT e.id, e.kind, count(*), sum(p.amount) FROM journal_entry e "
                "JOIN posting p ON p.entry_id = e.id WHERE e.kind = 'settlement' "
                "GROUP BY e.id, e.kind"
            )
        ).all()
    assert [(kind, n, total) for _, kind, n, total in entries] == [("settlement", 2, 0)] * 2
    with db.read() as s:
        results = ledger.run_checks(s, verify_checks.all_checks())
    assert [r.name for r in results if not r.ok] == []
    assert {"settlement_entries", "settlement_runs"} <= {r.name for r in results}

    # The payments files: CSV (one row per payee) and pain.001, both signed.
    resp = get(client, month.officer, f"/api/v1/settlements/{run['id']}/files/csv")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    assert [(r["shop"], r["amount_pence"], r["amount_gbp"]) for r in rows] == [
        ("Brixton Bakery", "1450", "14.50"),
        ("Market Grocer", "1150", "11.50"),
    ]
    assert {r["run_reference"] for r in rows} == {run["reference"]}
    assert rows[0]["sort_code"] == "089999" and rows[0]["account_number"] == "66374958"
    assert rows[1]["iban"] == "GB89NWBK93861107806039"
    assert rows[0]["execution_date"] == "2026-11-25"
    trust = {"statement_keys": signing.trust_list_entries(services.settings.instance_path)}
    signing.verify(resp.data, resp.headers[signing.HEADER], trust)

    resp = get(client, month.officer, f"/api/v1/settlements/{run['id']}/files/pain.001")
    assert resp.status_code == 200 and resp.mimetype == "application/xml"
    signing.verify(resp.data, resp.headers[signing.HEADER], trust)
    _valid_pain001(resp.data)
    doc = etree.fromstring(resp.data)
    ns = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"}
    assert doc.findtext(".//p:GrpHdr/p:CtrlSum", namespaces=ns) == "26.00"
    assert doc.findtext(".//p:GrpHdr/p:NbOfTxs", namespaces=ns) == "2"
    txs = doc.findall(".//p:CdtTrfTxInf", namespaces=ns)
    assert [t.findtext("p:PmtId/p:EndToEndId", namespaces=ns) for t in txs] == [
        reference(run, a),
        reference(run, b),
    ]
    assert [t.find("p:Amt/p:InstdAmt", namespaces=ns).get("Ccy") for t in txs] == ["GBP"] * 2
    # A UK payee by sort code (GBDSC) and account number; an IBAN payee by IBAN.
    assert txs[0].findtext(".//p:ClrSysMmbId/p:MmbId", namespaces=ns) == "089999"
    assert txs[0].findtext(".//p:CdtrAcct/p:Id/p:Othr/p:Id", namespaces=ns) == "66374958"
    assert txs[1].findtext(".//p:CdtrAcct/p:Id/p:IBAN", namespaces=ns) == "GB89NWBK93861107806039"
    # The same run gives the same bytes (a signed file can be produced again).
    again = get(client, month.officer, f"/api/v1/settlements/{run['id']}/files/pain.001")
    assert again.data == resp.data

    # Each shop's remittance: its payment, how it was worked out, the redemptions it covers.
    resp = client.get(
        f"/api/v1/settlements/{run['id']}/remittances/{b}", headers=month.shop_b["auth"]
    )
    assert resp.status_code == 200, resp.get_json()
    rem = resp.get_json()
    assert (rem["amount_pence"], rem["credits"], rem["amount_gbp"]) == (1150, 23, "11.50")
    assert rem["account"].startswith("GB") and "9386" not in rem["account"]
    assert [(m["kind"], m["amount"]) for m in rem["movements"]] == [
        ("redemption", 18),
        ("redemption", 10),
        ("exception", 5),
        ("reversal", -10),
    ]
    assert sum(m["amount"] for m in rem["movements"]) == rem["credits"]
    pdf = client.get(
        f"/api/v1/settlements/{run['id']}/remittances/{b}?format=pdf", headers=month.shop_b["auth"]
    )
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF-")
    # ...and by email (the shops of the worked month have no contact address: none sent).
    assert read_outbox(services.settings.instance_path / "mail", kind="remittance") == []

    # The bank pays both: the run is paid, every line matched.
    statement = camt053(
        [
            Tx(date(2026, 11, 27), -1450, reference(run, a), "Brixton Bakery Ltd"),
            Tx(date(2026, 11, 27), -1150, reference(run, b), "Market Grocer"),
            Tx(date(2026, 11, 27), 500_000, "COUNCIL FUNDING NOV", "Lambeth"),
        ]
    )
    with freeze_time(PAID_AT):
        resp = client.post(
            "/api/v1/settlements/bank-statements?filename=nov.xml",
            data=statement,
            content_type="application/xml",
            headers=month.officer.auth,
        )
    assert resp.status_code == 201, resp.get_json()
    result = resp.get_json()
    assert result["summary"] == {
        "matched": 2,
        "amount_differs": 0,
        "unexpected": 0,
        "ignored": 1,
        "duplicate": 0,
        "missing": 0,
        "payments_matched": 2,
        "runs_paid": [run["id"]],
    }
    assert result["mismatches"] == []
    run = get(client, month.officer, f"/api/v1/settlements/{run['id']}").get_json()
    assert run["state"] == "paid"
    assert {x["paid_on"] for x in run["lines"]} == {"2026-11-27"}

    # The statements report it. November: 52 credits settled (£26), £26 paid, nothing owed.
    with db.read() as s:
        nov = build_statement(s, Month(2026, 11))
        oct_ = build_statement(s, Month(2026, 10))
        shop_b_nov = build_statement(s, Month(2026, 11), shop_id=b)
    st = nov.settlement
    assert (st.settled_credits, st.settled_pence, st.paid_pence) == (52, 2600, 2600)
    assert (st.unpaid_settled_pence, st.unsettled_credits, st.unpaid_owed_pence) == (0, 0, 0)
    tb = {x.account_type: x for x in nov.trial_balance.lines}
    assert (tb["settled"].opening, tb["settled"].closing) == (0, 52)
    assert (tb["shop"].opening, tb["shop"].closing) == (52, 0)
    assert nov.trial_balance.total == 0
    assert {x.name: x.settled for x in nov.scheme.by_shop} == {
        "Brixton Bakery": 29,
        "Market Grocer": 23,
    }
    assert {x.name: x.net for x in nov.scheme.by_shop} == {"Brixton Bakery": 0, "Market Grocer": 0}
    # October (closed before the run): owed £26 at its end, unpaid; it reads as it did.
    st = oct_.settlement
    assert (st.settled_credits, st.paid_pence, st.unsettled_credits) == (0, 0, 52)
    assert (st.unsettled_pence, st.unpaid_owed_pence) == (2600, 2600)
    # Shop B's November: one settlement line of -23, and its balance goes from 23 to 0.
    shop = shop_b_nov.shop
    assert [(x.kind, x.amount) for x in shop.lines] == [("settlement", -23)]
    assert (shop.opening_balance, shop.closing_balance, shop.totals.settled) == (23, 0, 23)
    assert shop_b_nov.settlement.paid_pence == 1150

    # The public figures' function gives the same numbers.
    from credits.settlement import month_figures

    with db.read() as s:
        figures = month_figures(s, Month(2026, 11))
    assert (figures.settled_pence, figures.paid_pence, figures.unpaid_owed_pence) == (2600, 2600, 0)


def _valid_pain001(data: bytes) -> None:
    """Validate against the pain.001.001.03 XSD shipped by sepaxml, with lxml (not through
    the code under test)."""
    from importlib import resources

    xsd = resources.files("sepaxml") / "schemas" / "pain.001.001.03.xsd"
    schema = etree.XMLSchema(etree.parse(str(xsd)))
    doc = etree.fromstring(data)
    assert schema.validate(doc), [str(e) for e in schema.error_log]
