"""Remittance advice: what a shop is paid in a run, for which credits, and how it was worked
out — as data (API, pages), a PDF, and an email.

A remittance exists for each paid shop of an approved (or paid) run. It lists the payment
(reference, amount, the account masked, the day the bank was asked to pay), the months its
credits were taken in with each month's credits, rate and pence, and every movement on the
shop's account in those months that the credits come from (redemptions, reversals, offline
exceptions the scheme paid) — the shop's own statement lines, so the two always agree.

Who may read one: officers any; a shop's terminal and its staff only their own shop's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from credits.accounts import Role
from credits.errors import Forbidden
from credits.ledger.periods import LONDON, Month
from credits.mail import Attachment, Message, render
from credits.paging import Page, paginate
from credits.settlement import payees
from credits.settlement.errors import RemittanceNotFound
from credits.settlement.models import APPROVED, PAID, PAYABLE, T_LINE, T_RUN, SettlementLine
from credits.shops.models import Shop

T_SHOP = Shop.__table__  # type: ignore[attr-defined]


def pounds(pence: int) -> str:
    """``1450`` → ``"14.50"`` (integers only)."""
    sign = "-" if pence < 0 else ""
    whole, part = divmod(abs(pence), 100)
    return f"{sign}{whole:,}.{part:02d}"


def readable_shop(who: Any, shop_id: int | None) -> int | None:
    """The shop whose remittances the caller may read: an officer any (``shop_id``, which
    may be None for all shops); a terminal or shop staff only their own (``shop_id``
    omitted means their own); anyone else is forbidden."""
    role = getattr(who, "role", None)
    if role is Role.OFFICER:
        return shop_id
    if role in (Role.TERMINAL, Role.SHOP_STAFF):
        scope = getattr(who, "scope_ref", None) or ""
        own = int(scope.split(":", 1)[1]) if scope.startswith("shop:") else None
        if own is None:
            raise Forbidden("this account belongs to no shop")
        if shop_id is not None and shop_id != own:
            raise Forbidden("a shop may read only its own remittances")
        return own
    raise Forbidden("only council officers and a shop's own staff and terminals may read this")


@dataclass(frozen=True, slots=True)
class Movement:
    """One movement on the shop's account that the paid credits come from."""

    month: str
    kind: str  # redemption | reversal | exception
    at: datetime
    voucher: str
    amount: int
    note: str

    @property
    def london_time(self) -> str:
        return self.at.astimezone(LONDON).strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True, slots=True)
class Remittance:
    """One shop's payment in one run."""

    run_id: int
    run_reference: str
    run_month: str
    state: str  # approved | paid (the run's)
    shop_id: int
    shop_name: str
    payee_name: str
    account_masked: str
    payment_reference: str
    credits: int
    amount_pence: int
    breakdown: list[dict[str, Any]]
    execution_date: date | None
    settled_at: datetime | None
    paid_pence: int
    paid_on: date | None
    movements: tuple[Movement, ...] = ()

    @property
    def paid(self) -> bool:
        return self.paid_pence == self.amount_pence

    @property
    def amount_gbp(self) -> str:
        return pounds(self.amount_pence)


_SUMMARY = (
    select(SettlementLine, T_RUN.c.reference, T_RUN.c.month, T_RUN.c.state,
           T_RUN.c.execution_date, T_RUN.c.settled_at, T_SHOP.c.name)
    .join(T_RUN, T_RUN.c.id == T_LINE.c.run_id)
    .join(T_SHOP, T_SHOP.c.id == T_LINE.c.shop_id)
    .where(T_LINE.c.status == PAYABLE, T_RUN.c.state.in_([APPROVED, PAID]))
)  # fmt: skip


def _build(session: Session, row: Any, *, movements: bool) -> Remittance:
    line, reference, month, state, execution_date, settled_at, shop_name = row
    payee = payees.payee_of_id(session, line.payee_id)
    found: list[Movement] = []
    if movements:
        from credits.statements.engine import build_statement

        for part in line.breakdown:
            m = Month.parse(part["month"])
            statement = build_statement(session, m, shop_id=line.shop_id)
            assert statement.shop is not None
            found += [
                Movement(str(m), x.kind, x.at, x.voucher, x.amount, x.note)
                for x in statement.shop.lines
                if x.kind != "settlement"
            ]
    return Remittance(
        run_id=line.run_id,
        run_reference=str(reference),
        run_month=str(month),
        state=str(state),
        shop_id=line.shop_id,
        shop_name=str(shop_name),
        payee_name=payee.legal_name,
        account_masked=payees.details_of(payee).masked,
        payment_reference=str(line.reference),
        credits=line.credits,
        amount_pence=line.amount_pence,
        breakdown=list(line.breakdown),
        execution_date=execution_date,
        settled_at=settled_at,
        paid_pence=line.paid_pence,
        paid_on=line.paid_on,
        movements=tuple(found),
    )


def remittance(session: Session, run_id: int, shop_id: int) -> Remittance:
    """A shop's remittance for a run, with the movements it covers; ``not_found`` unless the
    run is approved and pays that shop."""
    row = session.execute(
        _SUMMARY.where(T_LINE.c.run_id == run_id, T_LINE.c.shop_id == shop_id)
    ).first()
    if row is None:
        raise RemittanceNotFound(f"run {run_id} pays no shop {shop_id}")
    return _build(session, row, movements=True)


def list_remittances(
    session: Session, *, shop_id: int | None, page: int = 1, per_page: int = 25
) -> Page[Remittance]:
    """Remittances newest first (one shop's, or every shop's for an officer), without their
    movements."""
    query = _SUMMARY.order_by(T_RUN.c.id.desc(), T_SHOP.c.name)
    if shop_id is not None:
        query = query.where(T_LINE.c.shop_id == shop_id)
    found = paginate(session, query, page=page, per_page=per_page)
    items = [_build(session, row, movements=False) for row in found.items]
    return Page(items, found.page, found.per_page, found.total)


def as_dict(r: Remittance) -> dict[str, Any]:
    """The remittance as JSON-ready data (the API's body)."""
    return {
        "run_id": r.run_id,
        "run_reference": r.run_reference,
        "month": r.run_month,
        "state": r.state,
        "shop_id": r.shop_id,
        "shop": r.shop_name,
        "payee_name": r.payee_name,
        "account": r.account_masked,
        "payment_reference": r.payment_reference,
        "credits": r.credits,
        "amount_pence": r.amount_pence,
        "amount_gbp": r.amount_gbp.replace(",", ""),
        "breakdown": r.breakdown,
        "execution_date": r.execution_date,
        "settled_at": r.settled_at,
        "paid_pence": r.paid_pence,
        "paid_on": r.paid_on,
        "movements": [
            {
                "month": m.month,
                "kind": m.kind,
                "at": m.at,
                "london_time": m.london_time,
                "voucher": m.voucher,
                "amount": m.amount,
                "note": m.note,
            }
            for m in r.movements
        ],
    }


# --- the PDF ---------------------------------------------------------------------------------


def _latin1(text: str) -> str:
    # The PDF's built-in Helvetica covers Latin-1 (with £); anything else prints as '?'. The
    # page and the JSON carry the exact text.
    return text.encode("latin-1", "replace").decode("latin-1")


def pdf_bytes(r: Remittance, *, council: str) -> bytes:
    """A printable A4 remittance advice (fpdf2, built-in fonts). Deterministic: the same
    remittance gives the same bytes (the creation date is the settlement's)."""
    from fpdf import FPDF

    pdf = FPDF(format="A4", unit="mm")
    pdf.set_title(_latin1(f"Remittance advice {r.payment_reference}"))
    pdf.set_author(_latin1(council))
    pdf.set_creator("Cooperative Credits")
    if r.settled_at is not None:
        pdf.set_creation_date(r.settled_at)
    pdf.set_margins(18, 18, 18)
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin

    def line(text: str, size: float = 10, style: str = "", h: float = 6) -> None:
        pdf.set_font("Helvetica", style=style, size=size)
        pdf.multi_cell(width, h, _latin1(text), new_x="LMARGIN", new_y="NEXT")

    line(council, 11, "B")
    line("Cooperative Credits: remittance advice", 16, "B", 9)
    pdf.ln(2)
    line(f"To: {r.shop_name} ({r.payee_name})")
    line(f"Paid into: {r.account_masked}")
    line(f"Payment reference: {r.payment_reference}   Run: {r.run_reference}")
    when = r.execution_date.strftime("%d %B %Y") if r.execution_date else "-"
    line(f"Payment requested for: {when}")
    line(f"Amount: £{r.amount_gbp} for {r.credits:,} credits", 12, "B", 8)
    if r.paid_on is not None and r.paid:
        line(f"Confirmed paid by the bank on {r.paid_on:%d %B %Y}.")
    pdf.ln(3)
    line("How it was worked out", 11, "B")
    cols = (40, 40, 40, 40)
    pdf.set_font("Helvetica", style="B", size=9)
    for title, w in zip(("Month", "Credits", "Pence a credit", "Pounds"), cols, strict=True):
        pdf.cell(w, 6, title, border="B")
    pdf.ln()
    pdf.set_font("Helvetica", size=9)
    for part in r.breakdown:
        for value, w in zip(
            (part["month"], f"{part['credits']:,}", str(part["rate"]), pounds(part["pence"])),
            cols,
            strict=True,
        ):
            pdf.cell(w, 6, value)
        pdf.ln()
    pdf.set_font("Helvetica", style="B", size=9)
    for value, w in zip(("Total", f"{r.credits:,}", "", r.amount_gbp), cols, strict=True):
        pdf.cell(w, 6, value, border="T")
    pdf.ln(9)
    if r.movements:
        line("The credits it pays for", 11, "B")
        mcols = (34, 24, 26, 18, 72)
        pdf.set_font("Helvetica", style="B", size=8)
        for title, w in zip(("London time", "Kind", "Voucher", "Credits", "Note"), mcols,
                            strict=True):  # fmt: skip
            pdf.cell(w, 5, title, border="B")
        pdf.ln()
        pdf.set_font("Helvetica", size=8)
        for m in r.movements:
            values = (m.london_time, m.kind, m.voucher, str(m.amount), m.note[:60])
            for value, w in zip(values, mcols, strict=True):
                pdf.cell(w, 5, _latin1(value))
            pdf.ln()
    return bytes(pdf.output())


# --- the email -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RemittanceMail:
    """What the remittance emails need: who signs them and a link to a shop's remittance
    page (``link(run_id, shop_id)``)."""

    council: str
    link: Callable[[int, int], str]


def remittance_messages(session: Session, run: Any, ctx: RemittanceMail) -> list[Message]:
    """One email per paid shop of ``run`` that has a contact address, with the PDF."""
    contacts = {
        int(i): e
        for i, e in session.execute(
            select(T_SHOP.c.id, T_SHOP.c.contact_email).where(
                T_SHOP.c.id.in_([x.shop_id for x in run.payable] or [-1])
            )
        )
    }
    out = []
    for line in run.payable:
        to = contacts.get(line.shop_id)
        if not to:
            continue
        r = remittance(session, run.id, line.shop_id)
        message = render(
            "remittance",
            to=to,
            council=ctx.council,
            r=r,
            month_words=Month.parse(r.run_month).starts_at.astimezone(LONDON).strftime("%B %Y"),
            when=r.execution_date.strftime("%d %B %Y") if r.execution_date else "",
            url=ctx.link(run.id, line.shop_id),
            pounds=pounds,
        )
        pdf = pdf_bytes(r, council=ctx.council)
        out.append(
            Message(
                to=message.to,
                subject=message.subject,
                body=message.body,
                kind="remittance",
                attachments=(
                    Attachment(f"remittance-{r.payment_reference}.pdf", "application/pdf", pdf),
                ),
            )
        )
    return out
