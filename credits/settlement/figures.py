"""A month's settlement figures: what was settled, what was paid, what is still owed.

These are the figures the monthly statement reports (credits.statements) and the public
record may publish (``month_figures`` is the one function to call; it reads only, and has
no personal data: shops are businesses). Definitions, for a London month M:

- **settled** — credits (and their pence) of settlement entries dated in M: runs approved
  in M (settling earlier months' credits);
- **paid** — pence the bank statements show paid against settlement payments, counted in
  the month each payment was booked (or imported, when that month was already closed:
  credits.settlement.reconciliation);
- **unpaid owed at M's end** — what the council owed the shops at the end of M and had not
  paid: settled but not yet shown paid (settled up to M's end − paid up to M), plus the
  credits not yet settled (every shop's balance at M's end, the trial balance's ``shop``
  line) valued at the rates of the months they were taken in (None when a month has no
  rate).

Each figure depends only on entries dated up to M's end and payments counted up to M, so a
closed month's figures never change — its statement stays the one that was hashed at close.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from credits.db import UTCDateTime
from credits.ledger.periods import Month
from credits.settlement.amounts import pence_for
from credits.settlement.unsettled import Rates, unsettled


@dataclass(frozen=True, slots=True)
class ShopSettlement:
    """One shop's settlement figures for a month (see the module docstring)."""

    shop_id: int
    name: str
    settled_credits: int
    settled_pence: int
    paid_pence: int
    unpaid_settled_pence: int
    unsettled_credits: int
    unsettled_pence: int | None

    @property
    def unpaid_owed_pence(self) -> int | None:
        if self.unsettled_pence is None:
            return None
        return self.unpaid_settled_pence + self.unsettled_pence


@dataclass(frozen=True, slots=True)
class MonthSettlement:
    """The month's settlement figures, in total and per shop."""

    month: Month
    per_shop: tuple[ShopSettlement, ...]

    @property
    def settled_credits(self) -> int:
        return sum(s.settled_credits for s in self.per_shop)

    @property
    def settled_pence(self) -> int:
        return sum(s.settled_pence for s in self.per_shop)

    @property
    def paid_pence(self) -> int:
        return sum(s.paid_pence for s in self.per_shop)

    @property
    def unpaid_settled_pence(self) -> int:
        return sum(s.unpaid_settled_pence for s in self.per_shop)

    @property
    def unsettled_credits(self) -> int:
        return sum(s.unsettled_credits for s in self.per_shop)

    @property
    def unsettled_pence(self) -> int | None:
        values = [s.unsettled_pence for s in self.per_shop]
        return None if any(v is None for v in values) else sum(v or 0 for v in values)

    @property
    def unpaid_owed_pence(self) -> int | None:
        unsettled = self.unsettled_pence
        return None if unsettled is None else self.unpaid_settled_pence + unsettled


_SETTLED = """
SELECT l.shop_id,
       sum(CASE WHEN e.occurred_at >= :starts THEN l.credits ELSE 0 END),
       sum(CASE WHEN e.occurred_at >= :starts THEN l.amount_pence ELSE 0 END),
       sum(l.amount_pence)
FROM settlement_line l JOIN journal_entry e ON e.id = l.entry_id
WHERE l.entry_id IS NOT NULL AND e.occurred_at < :ends
GROUP BY l.shop_id
"""

_PAID = """
SELECT l.shop_id,
       sum(CASE WHEN b.counted_month = :m THEN -b.amount_pence ELSE 0 END),
       sum(-b.amount_pence)
FROM bank_line b JOIN settlement_line l ON l.id = b.settlement_line_id
WHERE b.counted_month <= :m
GROUP BY l.shop_id
"""


def month_figures(
    session: Session,
    month: Month,
    *,
    shop_id: int | None = None,
    known: dict[Month, dict[int, int]] | None = None,
) -> MonthSettlement:
    """The settlement figures of ``month`` for every shop (or one). ``known``: shop accounts'
    nets (settlements left out) the caller has read already (the statement's own month)."""
    times = {"starts": month.starts_at, "ends": month.ends_at}
    settled = {
        int(s): (int(c), int(p), int(total))
        for s, c, p, total in session.execute(
            text(_SETTLED).bindparams(
                bindparam("starts", type_=UTCDateTime()), bindparam("ends", type_=UTCDateTime())
            ),
            times,
        )
    }
    paid = {
        int(s): (int(p), int(total))
        for s, p, total in session.execute(text(_PAID), {"m": str(month)})
    }
    rates = Rates(session)
    out = []
    owed = unsettled(session, month, dated_before=month.ends_at, known=known, shop_id=shop_id)
    for u in sorted(owed.values(), key=lambda x: (x.name, x.shop_id)):
        credits, pence, settled_total = settled.get(u.shop_id, (0, 0, 0))
        paid_now, paid_total = paid.get(u.shop_id, (0, 0))
        parts: list[tuple[int, Any]] = []
        value: int | None = 0
        for m, c in u.by_month.items():
            rate = rates(m)
            if rate is None:
                value = None
                break
            parts.append((c, rate))
        if value is not None:
            value = pence_for(parts)
        out.append(
            ShopSettlement(
                shop_id=u.shop_id,
                name=u.name,
                settled_credits=credits,
                settled_pence=pence,
                paid_pence=paid_now,
                unpaid_settled_pence=settled_total - paid_total,
                unsettled_credits=u.credits,
                unsettled_pence=value,
            )
        )
    return MonthSettlement(month, tuple(out))


def as_dict(figures: MonthSettlement, *, per_shop: bool = True) -> dict[str, Any]:
    """JSON-ready figures (pounds as text alongside the pence)."""
    from credits.statements.render import pounds

    def part(x: Any) -> dict[str, Any]:
        return {
            "settled_credits": x.settled_credits,
            "settled_pence": x.settled_pence,
            "settled_gbp": pounds(x.settled_pence),
            "paid_pence": x.paid_pence,
            "paid_gbp": pounds(x.paid_pence),
            "unpaid_settled_pence": x.unpaid_settled_pence,
            "unsettled_credits": x.unsettled_credits,
            "unsettled_pence": x.unsettled_pence,
            "unpaid_owed_pence": x.unpaid_owed_pence,
            "unpaid_owed_gbp": pounds(x.unpaid_owed_pence),
        }

    out = part(figures)
    if per_shop:
        out["per_shop"] = [
            {"shop_id": s.shop_id, "name": s.name, **part(s)} for s in figures.per_shop
        ]
    return out
