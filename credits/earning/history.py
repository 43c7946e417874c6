"""A member's history: their ledger entries, newest first, described plainly.

Each item is one journal entry that touched the member's account, with the net amount for
the member. Entries posted by an award also say the activity, the quantity and who approved
it; other entries are described by kind through :data:`DESCRIBERS`, which other capabilities
(vouchers, redemption) may extend with something more specific (the shop's name...).

Paging is by cursor (credits/paging.py): the history is append-only and keeps growing, so
``before`` is an entry id and the next page starts below the last id returned. Entry ids
only grow, so a page never repeats or skips an entry even while new ones are being posted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from credits import ledger
from credits.accounts.models import Person
from credits.earning.awards import load_awards
from credits.earning.models import T_AWARD
from credits.earning.quantities import describe
from credits.i18n import T
from credits.ledger.models import T_ENTRY, T_POSTING
from credits.paging import cursor_page

MAX_PAGE = 100


@dataclass(frozen=True, slots=True)
class EntryRow:
    """What a describer gets: one entry as it touched this member."""

    id: int
    kind: str
    memo: str
    occurred_at: datetime
    recorded_at: datetime
    amount: int
    reverses_entry_id: int | None


@dataclass(frozen=True, slots=True)
class HistoryItem:
    id: int
    kind: str
    occurred_at: datetime
    recorded_at: datetime
    amount: int
    description: str
    activity_slug: str | None = None
    activity_name: str | None = None
    quantity: str | None = None
    unit: str | None = None
    award_id: int | None = None
    approved_by: tuple[str, ...] = ()


def _generic(text: str) -> Callable[[Session, EntryRow], str]:
    return lambda _s, _row: text


#: Plain descriptions of entries by kind. A capability may replace one with a function
#: that says more (``DESCRIBERS["redeem"] = describe_redemption``).
DESCRIBERS: dict[str, Callable[[Session, EntryRow], str]] = {
    ledger.EntryKind.EARN.value: lambda _s, row: row.memo or T("Credits earned"),
    ledger.EntryKind.VOUCHER_ISSUE.value: _generic(T("Credits put into a voucher")),
    ledger.EntryKind.REDEEM.value: _generic(T("Change returned from a voucher spent at a shop")),
    ledger.EntryKind.CANCEL.value: _generic(T("Voucher cancelled: its credits came back")),
    ledger.EntryKind.EXPIRE.value: _generic(T("Credits expired")),
    ledger.EntryKind.REVERSAL.value: lambda _s, row: (
        T("Correction of entry %(entry)s", entry=str(row.reverses_entry_id))
        if row.reverses_entry_id
        else T("Correction")
    ),
    ledger.EntryKind.ADJUSTMENT.value: _generic(T("Adjustment by the council")),
}


def member_history(
    session: Session, person_id: int, *, before: int | None = None, limit: int = 20
) -> tuple[list[HistoryItem], int | None]:
    """The member's entries newest first, and the cursor for the next page (None at the end).

    Only the member's own account is read: the caller passes the signed-in person's id.
    """
    assert 1 <= limit <= MAX_PAGE
    person = session.get(Person, person_id)
    if person is None or person.ledger_account_id is None:
        return [], None
    query = (
        select(
            T_ENTRY.c.id,
            T_ENTRY.c.kind,
            T_ENTRY.c.memo,
            T_ENTRY.c.occurred_at,
            T_ENTRY.c.recorded_at,
            T_POSTING.c.amount,
            T_ENTRY.c.reverses_entry_id,
        )
        .join(T_ENTRY, T_ENTRY.c.id == T_POSTING.c.entry_id)
        .where(T_POSTING.c.account_id == person.ledger_account_id)
    )
    found = cursor_page(session, query, T_POSTING.c.entry_id, before=before, limit=limit)
    # The columns are UTCDateTime: the times come back aware, in UTC.
    rows = [
        EntryRow(
            id=int(r[0]),
            kind=r[1],
            memo=r[2],
            occurred_at=r[3],
            recorded_at=r[4],
            amount=int(r[5]),
            reverses_entry_id=r[6],
        )
        for r in found.items
    ]
    award_ids = dict(
        session.execute(
            select(T_AWARD.c.entry_id, T_AWARD.c.id).where(
                T_AWARD.c.entry_id.in_([r.id for r in rows])
            )
        ).all()
    )
    awards = {a.id: a for a in load_awards(session, [int(i) for i in award_ids.values()])}
    items = []
    for row in rows:
        award = awards.get(award_ids.get(row.id, -1))
        if award is None:
            describer = DESCRIBERS.get(row.kind, _generic(row.kind.replace("_", " ").title()))
            items.append(
                HistoryItem(
                    id=row.id,
                    kind=row.kind,
                    occurred_at=row.occurred_at,
                    recorded_at=row.recorded_at,
                    amount=row.amount,
                    description=describer(session, row),
                )
            )
            continue
        mine = next((x for x in award.lines if x.member.id == person_id), None)
        quantity = describe(mine.quantity_centi, award.unit) if mine else ""
        items.append(
            HistoryItem(
                id=row.id,
                kind=row.kind,
                occurred_at=row.occurred_at,
                recorded_at=row.recorded_at,
                amount=row.amount,
                description=T(
                    "%(activity)s: %(quantity)s", activity=award.activity.name, quantity=quantity
                )
                if quantity
                else award.activity.name,
                activity_slug=award.activity.slug,
                activity_name=award.activity.name,
                quantity=mine.quantity if mine else None,
                unit=award.unit,
                award_id=award.id,
                approved_by=tuple(p.name for p in award.approvers),
            )
        )
    return items, found.next_before
