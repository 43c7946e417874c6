"""Bank statements as a bank would send them, for the settlement bench and the tests: a
camt.053.001.02 document and a CSV export (the column mapping of docs/settlement.md)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from xml.sax.saxutils import escape

NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"


@dataclass(frozen=True, slots=True)
class Tx:
    """One transaction: ``pence`` signed (money out negative), its reference text."""

    booked_on: date
    pence: int
    reference: str
    name: str = ""
    bank_ref: str | None = None
    currency: str = "GBP"
    status: str = "BOOK"


def _amount(pence: int) -> str:
    whole, part = divmod(abs(pence), 100)
    return f"{whole}.{part:02d}"


def camt053(
    txs: Iterable[Tx], *, statement_id: str = "STMT-1", iban: str = "GB70NWBK08999966374958"
) -> bytes:
    """A camt.053.001.02 statement holding ``txs`` (each an entry with one TxDtls)."""
    items = list(txs)
    last = max((t.booked_on for t in items), default=date(2026, 1, 1)).isoformat()
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<Document xmlns="{NS}"><BkToCstmrStmt>',
        f"<GrpHdr><MsgId>{escape(statement_id)}</MsgId><CreDtTm>{last}T18:00:00</CreDtTm></GrpHdr>",
        f"<Stmt><Id>{escape(statement_id)}</Id><CreDtTm>{last}T18:00:00</CreDtTm>",
        f"<Acct><Id><IBAN>{iban}</IBAN></Id><Ccy>GBP</Ccy></Acct>",
        '<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="GBP">0.00</Amt>'
        f"<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>{last}</Dt></Dt></Bal>",
    ]
    for n, t in enumerate(items, start=1):
        side = "DBIT" if t.pence < 0 else "CRDT"
        party = "Cdtr" if t.pence < 0 else "Dbtr"
        ref = escape(t.bank_ref or f"{statement_id}-{n}")
        end_to_end = escape(t.reference.split()[0]) if t.reference else "NOTPROVIDED"
        out.append(
            f'<Ntry><Amt Ccy="{t.currency}">{_amount(t.pence)}</Amt><CdtDbtInd>{side}</CdtDbtInd>'
            f"<Sts>{t.status}</Sts><BookgDt><Dt>{t.booked_on.isoformat()}</Dt></BookgDt>"
            f"<ValDt><Dt>{t.booked_on.isoformat()}</Dt></ValDt><AcctSvcrRef>{ref}</AcctSvcrRef>"
            "<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>ICDT</Cd><SubFmlyCd>DMCT</SubFmlyCd></Fmly>"
            "</Domn></BkTxCd>"
            f"<NtryDtls><TxDtls><Refs><EndToEndId>{end_to_end}</EndToEndId></Refs>"
            f"<RltdPties><{party}><Nm>{escape(t.name or 'Unknown')}</Nm></{party}></RltdPties>"
            f"<RmtInf><Ustrd>{escape(t.reference or '-')}</Ustrd></RmtInf></TxDtls></NtryDtls>"
            "</Ntry>"
        )
    out.append("</Stmt></BkToCstmrStmt></Document>")
    return "".join(out).encode("utf-8")


def csv_statement(txs: Iterable[Tx], *, split_columns: bool = False) -> bytes:
    """A bank's CSV export: ``Date, Description, Amount, Name, Transaction ID`` (UK dates),
    or with ``split_columns`` separate ``Paid out`` and ``Paid in`` columns."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    if split_columns:
        w.writerow(["Date", "Description", "Paid out", "Paid in", "Name", "Transaction ID"])
    else:
        w.writerow(["Date", "Description", "Amount", "Name", "Transaction ID"])
    for t in txs:
        day = t.booked_on.strftime("%d/%m/%Y")
        if split_columns:
            out_, in_ = (_amount(t.pence), "") if t.pence < 0 else ("", _amount(t.pence))
            w.writerow([day, t.reference, out_, in_, t.name, t.bank_ref or ""])
        else:
            sign = "-" if t.pence < 0 else ""
            w.writerow([day, t.reference, sign + _amount(t.pence), t.name, t.bank_ref or ""])
    return out.getvalue().encode("utf-8")
