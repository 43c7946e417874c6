"""The exceptions queue: what an officer must look at, newest first, with who/when/why.

Three kinds of item, each read from its own table with a bounded, indexed query and merged
by time:

- ``double_spend``: a voucher a shop accepted offline that had already been spent or
  cancelled (``redemption_exception``); the scheme paid the shop, the member is flagged;
- ``reversal``: a redemption an officer reversed (``redemption.reversed_at``);
- ``adjustment``: a manual adjustment, pending or decided (``adjustment``);
- ``bank_mismatch``: a settlement payment missing at the bank, an unexpected payment, or one
  whose amount differs (``bank_mismatch``, credits.settlement.reconciliation).

Filters: kind, shop (adjustments have no shop, so a shop filter leaves them out) and London
month (of when the item happened: offline acceptance submitted, reversal, request).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from credits.accounts.models import Person
from credits.adjustments.models import T_ADJUSTMENT
from credits.errors import ValidationFailed
from credits.ledger import LONDON, Month
from credits.redemption.models import Redemption, RedemptionException
from credits.shops.models import Shop, Terminal
from credits.vouchers.code import reference
from credits.vouchers.models import Voucher

T_PERSON = Person.__table__  # type: ignore[attr-defined]
T_SHOP = Shop.__table__  # type: ignore[attr-defined]
T_REDEMPTION = Redemption.__table__  # type: ignore[attr-defined]
T_EXCEPTION = RedemptionException.__table__  # type: ignore[attr-defined]
T_VOUCHER = Voucher.__table__  # type: ignore[attr-defined]
T_TERMINAL = Terminal.__table__  # type: ignore[attr-defined]

KINDS = {
    "double_spend": "Offline double spend",
    "reversal": "Reversed redemption",
    "adjustment": "Manual adjustment",
    "bank_mismatch": "Bank reconciliation",
}
#: The most items of each kind one page reads.
MAX_ITEMS = 200


@dataclass(frozen=True, slots=True)
class QueueItem:
    """One exception, with what it concerns (for links) and who/when/why."""

    kind: str
    id: str
    at: datetime
    who: str
    why: str
    amount: int
    state: str
    person_id: int | None = None
    person_name: str | None = None
    shop_id: int | None = None
    shop_name: str | None = None
    voucher_id: str | None = None
    redemption_id: str | None = None
    direction: str | None = None
    #: Money rather than credits (a bank mismatch): pounds as text, e.g. "14.50".
    pounds: str | None = None

    @property
    def label(self) -> str:
        """The kind in words."""
        return KINDS[self.kind]

    @property
    def voucher_reference(self) -> str | None:
        """The voucher's XXXX-XXXX reference, if the item concerns a voucher."""
        return reference(bytes.fromhex(self.voucher_id)) if self.voucher_id else None


def _range(column: Any, month: Month | None) -> list[Any]:
    if month is None:
        return []
    return [column >= month.starts_at, column < month.ends_at]


def _double_spends(
    session: Session, shop_id: int | None, month: Month | None, limit: int
) -> list[QueueItem]:
    e = T_EXCEPTION
    query = (
        select(
            e.c.id,
            e.c.submitted_at,
            e.c.terminal_id,
            e.c.detail,
            e.c.amount,
            e.c.resolved_at,
            e.c.resolved_by,
            e.c.resolution,
            e.c.person_id,
            T_PERSON.c.name,
            e.c.shop_id,
            T_SHOP.c.name,
            e.c.voucher_id,
            e.c.offline_accepted_at,
            T_TERMINAL.c.name,
        )
        .join(T_PERSON, T_PERSON.c.id == e.c.person_id)
        .join(T_SHOP, T_SHOP.c.id == e.c.shop_id)
        .join(T_TERMINAL, T_TERMINAL.c.id == e.c.terminal_id)
        .where(*_range(e.c.submitted_at, month))
        .order_by(e.c.submitted_at.desc())
        .limit(limit)
    )
    if shop_id is not None:
        query = query.where(e.c.shop_id == shop_id)
    out = []
    for r in session.execute(query):
        resolved = f"; resolved by {r[6]}: {r[7]}" if r[5] is not None else ""
        out.append(
            QueueItem(
                kind="double_spend",
                id=r[0],
                at=r[1],
                who=(
                    f"{r[14]} at {r[11]} (terminal {r[2]}), accepted offline "
                    f"{r[13].astimezone(LONDON):%d %b %Y %H:%M} London time"
                ),
                why=f"{r[3]}{resolved}",
                amount=int(r[4]),
                state="resolved" if r[5] is not None else "open",
                person_id=int(r[8]),
                person_name=r[9],
                shop_id=int(r[10]),
                shop_name=r[11],
                voucher_id=r[12],
            )
        )
    return out


def _reversals(
    session: Session, shop_id: int | None, month: Month | None, limit: int
) -> list[QueueItem]:
    r_ = T_REDEMPTION
    query = (
        select(
            r_.c.id,
            r_.c.reversed_at,
            r_.c.reversed_by,
            r_.c.reversal_reason,
            r_.c.amount,
            r_.c.shop_id,
            T_SHOP.c.name,
            r_.c.voucher_id,
            T_VOUCHER.c.person_id,
            T_PERSON.c.name,
        )
        .join(T_SHOP, T_SHOP.c.id == r_.c.shop_id)
        .join(T_VOUCHER, T_VOUCHER.c.id == r_.c.voucher_id)
        .join(T_PERSON, T_PERSON.c.id == T_VOUCHER.c.person_id)
        .where(r_.c.reversed_at.is_not(None), *_range(r_.c.reversed_at, month))
        .order_by(r_.c.reversed_at.desc())
        .limit(limit)
    )
    if shop_id is not None:
        query = query.where(r_.c.shop_id == shop_id)
    return [
        QueueItem(
            kind="reversal",
            id=r[0],
            at=r[1],
            who=r[2] or "",
            why=r[3] or "",
            amount=int(r[4]),
            state="reversed",
            shop_id=int(r[5]),
            shop_name=r[6],
            voucher_id=r[7],
            redemption_id=r[0],
            person_id=int(r[8]),
            person_name=r[9],
        )
        for r in session.execute(query)
    ]


def _adjustments(session: Session, month: Month | None, limit: int) -> list[QueueItem]:
    a = T_ADJUSTMENT
    query = (
        select(
            a.c.id,
            a.c.requested_at,
            a.c.requested_by,
            a.c.reason,
            a.c.amount,
            a.c.state,
            a.c.person_id,
            T_PERSON.c.name,
            a.c.direction,
            a.c.decided_by,
            a.c.decision_reason,
        )
        .join(T_PERSON, T_PERSON.c.id == a.c.person_id)
        .where(*_range(a.c.requested_at, month))
        .order_by(a.c.requested_at.desc())
        .limit(limit)
    )
    out = []
    for r in session.execute(query):
        decided = f" — {r[5]} by {r[9]}" if r[9] else ""
        rejected = f": {r[10]}" if r[10] else ""
        out.append(
            QueueItem(
                kind="adjustment",
                id=str(r[0]),
                at=r[1],
                who=r[2],
                why=f"{r[3]}{decided}{rejected}",
                amount=int(r[4]),
                state=r[5],
                person_id=int(r[6]),
                person_name=r[7],
                direction=r[8],
            )
        )
    return out


def _bank_mismatches(
    session: Session, shop_id: int | None, month: Month | None, limit: int
) -> list[QueueItem]:
    from credits.settlement.reconciliation import mismatches
    from credits.settlement.remittance import pounds

    out = []
    for m in mismatches(session, shop_id=shop_id, month=month, limit=limit):
        resolved = f"; resolved by {m.resolved_by}: {m.resolution}" if m.resolved_at else ""
        money = m.seen_pence if m.seen_pence is not None else m.expected_pence
        out.append(
            QueueItem(
                kind="bank_mismatch",
                id=str(m.id),
                at=m.found_at,
                who=f"bank statement {m.import_filename}, imported by {m.imported_by}",
                why=f"{m.detail}{resolved}",
                amount=0,
                state="resolved" if m.resolved_at else "open",
                shop_id=m.shop_id,
                shop_name=m.shop_name,
                pounds=None if money is None else pounds(money),
            )
        )
    return out


def exceptions_queue(
    session: Session,
    *,
    kind: str | None = None,
    shop_id: int | None = None,
    month: Month | None = None,
    limit: int = 50,
) -> list[QueueItem]:
    """The queue, newest first, at most ``limit`` items (1..MAX_ITEMS)."""
    if kind is not None and kind not in KINDS:
        raise ValidationFailed(
            f"kind must be one of {', '.join(KINDS)}", errors={"kind": ["unknown kind"]}
        )
    if not 1 <= limit <= MAX_ITEMS:
        raise ValidationFailed(f"limit must be 1 to {MAX_ITEMS}")
    items: list[QueueItem] = []
    if kind in (None, "double_spend"):
        items += _double_spends(session, shop_id, month, limit)
    if kind in (None, "reversal"):
        items += _reversals(session, shop_id, month, limit)
    if kind in (None, "adjustment") and shop_id is None:
        items += _adjustments(session, month, limit)
    if kind in (None, "bank_mismatch"):
        items += _bank_mismatches(session, shop_id, month, limit)
    items.sort(key=lambda x: x.at, reverse=True)
    return items[:limit]
