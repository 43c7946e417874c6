"""Settlement's pure parts: the rounding rule, bank details, reading bank statements."""

from __future__ import annotations

from datetime import date
from fractions import Fraction

import pytest

from credits.bench.bankfiles import Tx, camt053, csv_statement
from credits.settlement import bankdetails, bankfile
from credits.settlement.amounts import pence_for
from credits.settlement.errors import BankFileInvalid, InvalidBankDetails
from credits.settlement.reconciliation import find_reference


def test_whole_penny_rates_are_exact():
    assert pence_for([(29, 50)]) == 1450
    assert pence_for([(23, 50), (10, 60)]) == 1750
    assert pence_for([]) == 0
    assert pence_for([(-10, 50), (30, 50)]) == 1000


def test_a_fractional_rate_is_rounded_once_per_payment_half_up():
    # 3 credits at 12.5p = 37.5p -> 38p; each month rounded alone would give 38 + 38 = 76p,
    # rounded once: 3 × 12.5 + 3 × 12.5 = 75p exactly.
    assert pence_for([(3, Fraction(25, 2))]) == 38
    assert pence_for([(3, Fraction(25, 2)), (3, Fraction(25, 2))]) == 75
    assert pence_for([(1, Fraction(1, 3))]) == 0
    assert pence_for([(1, Fraction(2, 3))]) == 1


@pytest.mark.parametrize("bad", [(1.0, 50), (1, 0.5), (True, 50), (1, True)])
def test_floats_near_money_are_refused(bad):
    with pytest.raises(TypeError):
        pence_for([bad])


# Vocalink's published modulus-checking test cases (valid, then invalid), as ukmodulus runs
# them with Vocalink's own weight table.
@pytest.mark.parametrize(
    "sort_code, account, valid",
    [
        ("089999", "66374958", True),
        ("107999", "88837491", True),
        ("202959", "63748472", True),
        ("871427", "46238510", True),
        ("872427", "46238510", True),
        ("871427", "09123496", True),
        ("871427", "99123496", True),
        ("820000", "73688637", True),
        ("827999", "73988638", True),
        ("827101", "28748352", True),
        ("134020", "63849203", True),
        ("118765", "64371389", True),
        ("200915", "41011166", True),
        ("938611", "07806039", True),
        ("086090", "06774744", True),
        ("309070", "02355688", True),
        ("089999", "66374959", False),
        ("107999", "88837493", False),
        ("203099", "66831036", False),
        ("203099", "58716970", False),
        ("089999", "66374959", False),
    ],
)
def test_the_vocalink_modulus_check(sort_code, account, valid):
    assert bankdetails.modulus_ok(sort_code, account) is valid


def test_bank_details_are_cleaned_and_masked():
    d = bankdetails.check(legal_name="  Brixton   Bakery Ltd ", sort_code="08-99-99",
                          account_number="6637 4958")  # fmt: skip
    assert (d.legal_name, d.sort_code, d.account_number) == (
        "Brixton Bakery Ltd",
        "089999",
        "66374958",
    )
    assert d.full == "08-99-99 66374958" and d.masked == "**-**-99 ****4958"
    i = bankdetails.check(legal_name="Market Grocer", iban="gb89 nwbk 9386 1107 8060 39")
    assert i.iban == "GB89NWBK93861107806039"
    assert i.masked == "GB** **** **** **** **60 39"
    with pytest.raises(InvalidBankDetails) as exc:
        bankdetails.check(legal_name="", sort_code="1", iban="x")
    assert set(exc.value.extra["errors"]) == {"legal_name", "iban"}


def test_references_are_found_in_what_banks_do_to_them():
    assert find_reference("cc202610r7s12") == "CC202610R7S12"
    assert find_reference("Payment CC202610R7S12 Cooperative Credits") == "CC202610R7S12"
    assert find_reference("XCC202610R7S12") is None
    assert find_reference("CC202610R7S121X") is None
    assert find_reference("CC2026-10R7S12") is None


@pytest.mark.parametrize(
    "text, pence",
    [("14.50", 1450), ("14.5", 1450), ("-14.50", -1450), ("£1,234.05", 123405), ("7", 700),
     ("0.01", 1)],
)  # fmt: skip
def test_amounts_become_pence_without_floats(text, pence):
    assert bankfile.pence(text) == pence


@pytest.mark.parametrize("text", ["14.505", "1,23.00", "14,50", "abc", "", "1e3", "--1"])
def test_anything_else_is_not_an_amount(text):
    with pytest.raises(ValueError):
        bankfile.pence(text)


def test_a_camt053_statement():
    data = camt053(
        [
            Tx(date(2026, 11, 27), -1450, "CC202610R1S1", "Brixton Bakery", bank_ref="A-1"),
            Tx(date(2026, 11, 27), 1450, "CC202610R1S1", "Brixton Bakery", bank_ref="A-2"),
            Tx(date(2026, 11, 28), -100, "PENDING", "X", status="PDNG"),
            Tx(date(2026, 11, 28), -200, "EUROS", "Y", currency="EUR"),
        ]
    )
    st = bankfile.parse(data)
    assert st.format == "camt053" and st.covers_to == date(2026, 11, 28)
    got = [(t.amount_pence, t.currency, t.bank_ref) for t in st.transactions]
    assert got == [(-1450, "GBP", "A-1"), (1450, "GBP", "A-2"), (-200, "EUR", "STMT-1-4")]
    assert "CC202610R1S1" in st.transactions[0].text
    assert st.transactions[0].counterparty == "Brixton Bakery"
    # The same statement read again gives the same fingerprints (so a re-import is seen).
    assert [t.fingerprint for t in bankfile.parse(data).transactions] == [
        t.fingerprint for t in st.transactions
    ]


def test_csv_statements_signed_or_split_uk_dates_and_windows_encoding():
    txs = [Tx(date(2026, 11, 27), -1450, "CC202610R1S1", "Café"), Tx(date(2026, 11, 27), 99, "in")]
    for split in (False, True):
        st = bankfile.parse(csv_statement(txs, split_columns=split))
        assert [(t.booked_on, t.amount_pence) for t in st.transactions] == [
            (date(2026, 11, 27), -1450),
            (date(2026, 11, 27), 99),
        ]
    cp1252 = "Date,Reference,Amount,Name\r\n2026-11-27,CC202610R1S1,-14.50,Café\r\n"
    st = bankfile.parse(cp1252.encode("cp1252"))
    assert st.transactions[0].counterparty == "Café"
    # Two identical payments on one day are two payments.
    twice = "Date,Reference,Amount\r\n27/11/2026,x,-1.00\r\n27/11/2026,x,-1.00\r\n"
    prints = [t.fingerprint for t in bankfile.parse(twice.encode()).transactions]
    assert len(set(prints)) == 2


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"Date,Amount\r\n27/11/2026,-1.00\r\n", "reference column"),
        (b"Date,Reference,Amount\r\n31/02/2026,x,-1.00\r\n", "line 2"),
        (b"<?xml version='1.0'?><Document xmlns='urn:x'/>", "not a camt.053"),
        (b"<Document", "could not be read"),
    ],
)
def test_unreadable_statements_are_refused(data, message):
    with pytest.raises(BankFileInvalid) as exc:
        bankfile.parse(data)
    assert message in exc.value.detail + str(exc.value.extra.get("errors"))


CAMT_08 = b"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>
<GrpHdr><MsgId>M</MsgId><CreDtTm>2026-11-28T09:00:00</CreDtTm></GrpHdr>
<Stmt><Id>S</Id><Acct><Id><IBAN>GB70NWBK08999966374958</IBAN></Id></Acct>
<Ntry><Amt Ccy="GBP">26.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
 <BookgDt><DtTm>2026-11-27T10:15:00</DtTm></BookgDt><AcctSvcrRef>BATCH-1</AcctSvcrRef>
 <NtryDtls>
  <TxDtls><Refs><AcctSvcrRef>T-1</AcctSvcrRef><EndToEndId>CC202610R1S1</EndToEndId></Refs>
   <Amt Ccy="GBP">14.50</Amt>
   <RltdPties><Cdtr><Pty><Nm>Brixton Bakery</Nm></Pty></Cdtr></RltdPties></TxDtls>
  <TxDtls><Refs><AcctSvcrRef>T-2</AcctSvcrRef></Refs>
   <AmtDtls><TxAmt><Amt Ccy="GBP">11.50</Amt></TxAmt></AmtDtls>
   <RmtInf><Strd><CdtrRefInf><Ref>CC202610R1S2</Ref></CdtrRefInf></Strd></RmtInf></TxDtls>
 </NtryDtls></Ntry>
<Ntry><Amt Ccy="GBP">5.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><RvslInd>true</RvslInd>
 <Sts><Cd>BOOK</Cd></Sts>
 <BookgDt><Dt>2026-11-28</Dt></BookgDt><AddtlNtryInf>RETURN CC202610R1S3</AddtlNtryInf></Ntry>
</Stmt></BkToCstmrStmt></Document>"""


def test_a_camt053_version_08_statement_with_a_batch_entry():
    st = bankfile.parse(CAMT_08)
    got = [(t.booked_on, t.amount_pence, t.bank_ref, t.counterparty) for t in st.transactions]
    assert got == [
        (date(2026, 11, 27), -1450, "T-1", "Brixton Bakery"),
        (date(2026, 11, 27), -1150, "T-2", ""),
        (date(2026, 11, 28), 500, None, ""),
    ]
    assert [find_reference(t.text) for t in st.transactions] == [
        "CC202610R1S1",
        "CC202610R1S2",
        "CC202610R1S3",
    ]


def test_entities_are_not_expanded():
    bomb = b"""<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">
<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>
<Stmt><Ntry><Amt Ccy="GBP">1.00</Amt><CdtDbtInd>DBIT</CdtDbtInd>
<BookgDt><Dt>2026-11-27</Dt></BookgDt><AddtlNtryInf>&b;</AddtlNtryInf></Ntry></Stmt>
</BkToCstmrStmt></Document>"""
    st = bankfile.parse(bomb)
    assert "aaaaaaaaaa" not in st.transactions[0].text
