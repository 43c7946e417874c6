"""The payments file for the council's finance system: CSV and ISO 20022 pain.001, signed.

Only an approved (or paid) run has a payments file: finance is never handed a run that a
second officer may still refuse. Both formats carry one payment per paid shop, with the
run's reference and each payment's own reference (what the bank statement will show, and
what credits.settlement.reconciliation matches on). Both are deterministic — the same run
gives the same bytes — and signed exactly like statements (credits.statements.signing: a
detached Ed25519 signature with the statement key), so `credits verify-statement FILE SIG`
proves a copy is what the ledger produced.

**CSV** (UTF-8, CRLF, one header row, one row per payee): ``run_reference,
payment_reference, shop_id, shop, payee_name, sort_code, account_number, iban,
amount_pence, amount_gbp, credits, execution_date``.

**pain.001.001.03** (CustomerCreditTransferInitiation), one ``PmtInf`` in GBP with the
requested execution date and one ``CdtTrfTxInf`` per payment (``EndToEndId`` and the
unstructured remittance text are the payment reference; ``BtchBookg`` false, so each
payment shows on the bank statement on its own). A UK payee is addressed the way UK banks'
pain.001 guides ask for Faster Payments/Bacs: the sort code as a clearing-system member
(``ClrSysMmbId``, system ``GBDSC``) of the creditor's agent and the account number as
``CdtrAcct/Id/Othr/Id``; an IBAN payee by ``CdtrAcct/Id/IBAN``. The council's account
(``CREDITS_SETTLEMENT_PAYER_ACCOUNT``) is the debtor account, the same way.

*Why not sepaxml to write it:* sepaxml builds SEPA transfers — every creditor account must
be an IBAN (it writes ``CdtrAcct/Id/IBAN`` unconditionally) — so it cannot express a UK
domestic payment to a sort code and account number, and it stamps the message id and
creation time from the clock and a random source, which would make a signed file
unrepeatable. The file is therefore written here with the standard library's ElementTree,
and validated, every time it is produced, against the pain.001.001.03 XSD that sepaxml
ships (with lxml): an invalid file is never served.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from sqlalchemy.orm import Session

from credits.errors import ValidationFailed
from credits.ledger.periods import LONDON
from credits.settlement import bankdetails, payees
from credits.settlement.errors import PayerAccountMissing, RunNotApproved
from credits.settlement.models import APPROVED, PAID
from credits.settlement.remittance import pounds
from credits.settlement.runs import RunView, load_run
from credits.statements import signing
from credits.statements.render import csv_writer

FORMATS = ("csv", "pain.001")
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "pain.001": "application/xml"}
EXTENSIONS = {"csv": "csv", "pain.001": "xml"}
PAIN_NS = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"
CSV_HEADER = (
    "run_reference",
    "payment_reference",
    "shop_id",
    "shop",
    "payee_name",
    "sort_code",
    "account_number",
    "iban",
    "amount_pence",
    "amount_gbp",
    "credits",
    "execution_date",
)


@dataclass(frozen=True, slots=True)
class PaymentsFile:
    """A run's payments file in one format: the exact bytes, media type and file name."""

    data: bytes
    media_type: str
    filename: str


@dataclass(frozen=True, slots=True)
class Payment:
    reference: str
    shop_id: int
    shop: str
    payee: bankdetails.BankDetails
    amount_pence: int
    credits: int


def _payments(session: Session, run: RunView) -> list[Payment]:
    out = []
    for line in run.payable:
        assert line.reference is not None
        row = payees.payee_of_id(session, line.payee_id)
        out.append(
            Payment(
                line.reference,
                line.shop_id,
                line.shop_name,
                payees.details_of(row),
                line.amount_pence,
                line.credits,
            )
        )
    return out


def payments_file(session: Session, run_id: Any, fmt: str, *, settings: Any) -> PaymentsFile:
    """The payments file of an approved run in ``fmt`` (``csv`` or ``pain.001``)."""
    if fmt not in FORMATS:
        raise ValidationFailed(
            f"format must be one of {', '.join(FORMATS)}", errors={"format": ["Unknown."]}
        )
    run = load_run(session, run_id)
    if run.state not in (APPROVED, PAID):
        raise RunNotApproved(
            f"run {run.reference} is {run.state}: a payments file exists once it is approved",
            run_id=run.id,
            state=run.state,
        )
    payments = _payments(session, run)
    if fmt == "csv":
        data = csv_bytes(run, payments)
    else:
        data = pain001_bytes(run, payments, payer=payer(settings))
    return PaymentsFile(data, MEDIA_TYPES[fmt], f"payments-{run.reference}.{EXTENSIONS[fmt]}")


def sign_file(instance_path: Path | str, file: PaymentsFile) -> str:
    """The detached signature line of a payments file (the statement key)."""
    return signing.sign(instance_path, file.data)


def csv_bytes(run: RunView, payments: list[Payment]) -> bytes:
    """The CSV payments file (see the module docstring)."""
    out = io.StringIO()
    w = csv_writer(out)
    w.writerow(CSV_HEADER)
    day = run.execution_date.isoformat() if run.execution_date else ""
    for p in payments:
        w.writerow(
            [
                run.reference,
                p.reference,
                p.shop_id,
                p.shop,
                p.payee.legal_name,
                p.payee.sort_code or "",
                p.payee.account_number or "",
                p.payee.iban or "",
                p.amount_pence,
                pounds(p.amount_pence).replace(",", ""),
                p.credits,
                day,
            ]
        )
    return out.getvalue().encode("utf-8")


def payer(settings: Any) -> bankdetails.BankDetails:
    """The council's own account, the debtor of the transfers
    (``CREDITS_SETTLEMENT_PAYER_NAME``, ``CREDITS_SETTLEMENT_PAYER_ACCOUNT``: a sort code
    and account number, ``12-34-56 12345678``, or an IBAN)."""
    name = getattr(settings, "settlement_payer_name", "") or getattr(settings, "council_name", "")
    account = (getattr(settings, "settlement_payer_account", "") or "").strip()
    if not account:
        raise PayerAccountMissing(
            "the council's bank account is not configured: set "
            "CREDITS_SETTLEMENT_PAYER_ACCOUNT (sort code and account number, or an IBAN)"
        )
    parts = account.split()
    try:
        if account[:2].isalpha():
            return bankdetails.check(legal_name=name, iban=account)
        if len(parts) != 2:
            raise ValidationFailed("expected 'sort code' 'account number'")
        return bankdetails.check(legal_name=name, sort_code=parts[0], account_number=parts[1])
    except ValidationFailed as exc:
        raise PayerAccountMissing(
            f"CREDITS_SETTLEMENT_PAYER_ACCOUNT is not a valid account: {exc.extra.get('errors')}"
        ) from None


def _text(value: str, limit: int) -> str:
    """Printable text for an XML element, at most ``limit`` characters."""
    cleaned = "".join(c for c in value if c.isprintable())
    return " ".join(cleaned.split())[:limit]


def _el(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    node = ET.SubElement(parent, f"{{{PAIN_NS}}}{tag}", attrs)
    if text is not None:
        node.text = text
    return node


def _account(parent: ET.Element, tag: str, details: bankdetails.BankDetails) -> None:
    ident = _el(_el(parent, tag), "Id")
    if details.iban:
        _el(ident, "IBAN", details.iban)
    else:
        assert details.account_number is not None
        _el(_el(ident, "Othr"), "Id", details.account_number)


def _agent(parent: ET.Element, tag: str, details: bankdetails.BankDetails) -> None:
    institution = _el(_el(parent, tag), "FinInstnId")
    if details.sort_code:
        member = _el(institution, "ClrSysMmbId")
        _el(_el(member, "ClrSysId"), "Cd", "GBDSC")
        _el(member, "MmbId", details.sort_code)
    else:
        # An IBAN identifies the bank itself; pain.001.001.03 still wants an agent element.
        _el(_el(institution, "Othr"), "Id", "NOTPROVIDED")


def pain001_bytes(
    run: RunView, payments: list[Payment], *, payer: bankdetails.BankDetails
) -> bytes:
    """The pain.001.001.03 payments file (see the module docstring), validated against the
    XSD before it is returned."""
    ET.register_namespace("", PAIN_NS)
    root = ET.Element(f"{{{PAIN_NS}}}Document")
    initiation = _el(root, "CstmrCdtTrfInitn")
    total = sum(p.amount_pence for p in payments)
    created = (run.approved_at or run.created_at).astimezone(LONDON)
    header = _el(initiation, "GrpHdr")
    _el(header, "MsgId", run.reference)
    _el(header, "CreDtTm", created.strftime("%Y-%m-%dT%H:%M:%S"))
    _el(header, "NbOfTxs", str(len(payments)))
    _el(header, "CtrlSum", pounds(total).replace(",", ""))
    _el(_el(header, "InitgPty"), "Nm", _text(payer.legal_name, 140))
    info = _el(initiation, "PmtInf")
    _el(info, "PmtInfId", run.reference)
    _el(info, "PmtMtd", "TRF")
    _el(info, "BtchBookg", "false")
    _el(info, "NbOfTxs", str(len(payments)))
    _el(info, "CtrlSum", pounds(total).replace(",", ""))
    day = run.execution_date or created.date()
    _el(info, "ReqdExctnDt", day.isoformat())
    _el(_el(info, "Dbtr"), "Nm", _text(payer.legal_name, 140))
    account = _el(info, "DbtrAcct")
    ident = _el(account, "Id")
    if payer.iban:
        _el(ident, "IBAN", payer.iban)
    else:
        assert payer.account_number is not None
        _el(_el(ident, "Othr"), "Id", payer.account_number)
    _el(account, "Ccy", "GBP")
    _agent(info, "DbtrAgt", payer)
    _el(info, "ChrgBr", "SHAR")
    for p in payments:
        tx = _el(info, "CdtTrfTxInf")
        ids = _el(tx, "PmtId")
        _el(ids, "InstrId", p.reference)
        _el(ids, "EndToEndId", p.reference)
        _el(_el(tx, "Amt"), "InstdAmt", pounds(p.amount_pence).replace(",", ""), Ccy="GBP")
        if p.payee.sort_code:
            _agent(tx, "CdtrAgt", p.payee)
        _el(_el(tx, "Cdtr"), "Nm", _text(p.payee.legal_name, 140))
        _account(tx, "CdtrAcct", p.payee)
        _el(_el(tx, "RmtInf"), "Ustrd", p.reference)
    data = ET.tostring(root, encoding="UTF-8", xml_declaration=True)
    problems = pain001_problems(data)
    if problems:  # a bug here, never the officer's doing: refuse to hand finance a bad file
        raise AssertionError(f"the pain.001 file does not validate: {problems}")
    return data


@cache
def _pain001_schema() -> Any:
    from lxml import etree

    xsd = resources.files("sepaxml") / "schemas" / "pain.001.001.03.xsd"
    return etree.XMLSchema(etree.parse(str(xsd)))


def pain001_problems(data: bytes) -> list[str]:
    """Every way ``data`` breaks the pain.001.001.03 XSD (empty: it validates)."""
    from lxml import etree

    schema = _pain001_schema()
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    doc = etree.fromstring(data, parser)
    if schema.validate(doc):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]
