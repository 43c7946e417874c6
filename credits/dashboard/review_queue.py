"""The exceptions queue: what an officer must look at, newest first, with who/when/why.

"Exceptions" here are redemption problems and other irregular events, not Python exceptions
(this module was credits/dashboard/exceptions.py).

Three kinds of item, each read from its own table with a bounded, indexed query and merged
by time:

- ``double_spend``: an offline claim on a voucher that had already been spent or cancelled
  (``redemption_exception``), whatever became of it — paid by the scheme (state ``open``
  until an officer records how it was followed up), ``held`` for an officer's decision,
  ``refused`` by the bounding rule (docs/redemption.md), ``declined`` by an officer; the
  member is flagged;
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

from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from credits.accounts.models import Person
from credits.adjustments.models import T_ADJUSTMENT
from credits.errors import ValidationFailed
from credits.i18n import T, translate
from credits.ledger import Month
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
    "double_spend": T("Offline double spend"),
    "reversal": T("Reversed redemption"),
    "adjustment": T("Manual adjustment"),
    "bank_mismatch": T("Bank reconciliation"),
}
#: The most items of each kind one page reads.
MAX_ITEMS = 200
#: An offline claim's status in words, first in its "why".
_STATUS_WORDS = {
    "paid": T("Paid to the shop by the scheme"),
    "held": T("Held: above the till's monthly exception ceiling, waiting for a decision"),
    "refused": T("Refused: the shop could have known, or the voucher already had an exception"),
    "declined": T("Declined by an officer: nothing paid"),
    "overpaid": T("Paid twice before the one-exception rule: recover it from the shop"),
}
#: What an officer's decision on a claim did, in the queue's "why" line.
_STATUS_DONE = {"held": T("held"), "refused": T("refused"), "declined": T("declined")}


class Joined(str):
    """Sentences shown one after another ("Paid to the shop …; Voucher …; resolved by …"):
    its ``str`` is English (the API, tests); on a page each part is in the reader's language
    (the parts may be marked messages or plain text)."""

    parts: tuple[Any, ...]

    def __new__(cls, parts: tuple[Any, ...]) -> Joined:
        kept = tuple(p for p in parts if p)
        self = super().__new__(cls, "; ".join(str(p) for p in kept))
        self.parts = kept
        return self

    def __html__(self) -> Markup:
        return Markup("; ").join(escape(translate(p)) for p in self.parts)


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
            T_PERSON.c.name.label("person_name"),
            e.c.shop_id,
            T_SHOP.c.name.label("shop_name"),
            e.c.voucher_id,
            e.c.offline_accepted_at,
            T_TERMINAL.c.name.label("terminal_name"),
            e.c.status,
            e.c.decided_by,
            e.c.decision_reason,
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
        status = r.status
        why_parts: list[Any] = [_STATUS_WORDS.get(status, status), r.detail]
        if r.decided_by is not None:
            how = T("paid") if status == "paid" else _STATUS_DONE.get(status, status)
            why_parts.append(
                T(
                    "%(how)s by %(who)s: %(reason)s",
                    how=how,
                    who=r.decided_by,
                    reason=r.decision_reason,
                )
                if r.decision_reason
                else T("%(how)s by %(who)s", how=how, who=r.decided_by)
            )
        if r.resolved_at is not None:
            why_parts.append(
                T("resolved by %(who)s: %(resolution)s", who=r.resolved_by, resolution=r.resolution)
            )
            state = "resolved"
        elif status in ("paid", "overpaid"):
            state = "open"
        else:
            state = status
        out.append(
            QueueItem(
                kind="double_spend",
                id=r.id,
                at=r.submitted_at,
                who=T(
                    "%(terminal)s at %(shop)s (terminal %(id)s), accepted offline %(when)s "
                    "London time",
                    terminal=r.terminal_name,
                    shop=r.shop_name,
                    id=str(r.terminal_id),
                    when=r.offline_accepted_at,
                ),
                why=Joined(tuple(why_parts)),
                amount=int(r.amount),
                state=state,
                person_id=int(r.person_id),
                person_name=r.person_name,
                shop_id=int(r.shop_id),
                shop_name=r.shop_name,
                voucher_id=r.voucher_id,
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
            T_SHOP.c.name.label("shop_name"),
            r_.c.voucher_id,
            T_VOUCHER.c.person_id,
            T_PERSON.c.name.label("person_name"),
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
            id=r.id,
            at=r.reversed_at,
            who=r.reversed_by or "",
            why=r.reversal_reason or "",
            amount=int(r.amount),
            state="reversed",
            shop_id=int(r.shop_id),
            shop_name=r.shop_name,
            voucher_id=r.voucher_id,
            redemption_id=r.id,
            person_id=int(r.person_id),
            person_name=r.person_name,
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
            T_PERSON.c.name.label("person_name"),
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
        # The record's own words (English).
        decided = f" — {r.state} by {r.decided_by}" if r.decided_by else ""
        rejected = f": {r.decision_reason}" if r.decision_reason else ""
        out.append(
            QueueItem(
                kind="adjustment",
                id=str(r.id),
                at=r.requested_at,
                who=r.requested_by,
                why=f"{r.reason}{decided}{rejected}",
                amount=int(r.amount),
                state=r.state,
                person_id=int(r.person_id),
                person_name=r.person_name,
                direction=r.direction,
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
            T("kind must be one of %(list)s", list=", ".join(KINDS)),
            errors={"kind": [T("unknown kind")]},
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
