"""The check `credits verify` (and the month close) runs for manual adjustments.

``adjustments_posted``: every posted adjustment is exactly one ``adjustment`` entry of two
postings — the member's account ± the amount (+ for a credit, − for a debit) and
``scheme:adjustments`` the opposite. The adjustment table has no append-only trigger, so an
edited amount, direction or account would otherwise go unnoticed; this finds it.
"""

from __future__ import annotations

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from credits import ledger
from credits.adjustments.models import CREDIT, POSTED, T_ADJUSTMENT
from credits.ledger import CheckResult
from credits.ledger.models import T_ENTRY, T_POSTING


def check_adjustments_posted(session: Session) -> CheckResult:
    """Posted adjustments match their entries exactly (one grouped query)."""
    result = CheckResult(
        "adjustments_posted", "each posted adjustment is exactly one matching adjustment entry"
    )
    scheme = ledger.account_by_code(session, ledger.ADJUSTMENTS)
    scheme_id = scheme.id if scheme is not None else -1
    a = T_ADJUSTMENT
    rows = session.execute(
        select(
            a.c.id,
            a.c.direction,
            a.c.amount,
            T_ENTRY.c.kind,
            func.count(T_POSTING.c.id),
            func.sum(case((T_POSTING.c.account_id == a.c.account_id, T_POSTING.c.amount), else_=0)),
            func.sum(case((T_POSTING.c.account_id == scheme_id, T_POSTING.c.amount), else_=0)),
        )
        .select_from(a)
        .join(T_ENTRY, T_ENTRY.c.id == a.c.entry_id, isouter=True)
        .join(T_POSTING, T_POSTING.c.entry_id == T_ENTRY.c.id, isouter=True)
        .where(a.c.state == POSTED)
        .group_by(a.c.id, a.c.direction, a.c.amount, T_ENTRY.c.kind)
        .order_by(a.c.id)
    )
    for adj_id, direction, amount, kind, count, member, scheme_amount in rows:
        result.checked += 1
        signed = amount if direction == CREDIT else -amount
        if kind != ledger.EntryKind.ADJUSTMENT.value or int(count) != 2:
            result.add(f"adjustment {adj_id}: its entry is not a two-posting adjustment entry")
        elif int(member or 0) != signed or int(scheme_amount or 0) != -signed:
            result.add(
                f"adjustment {adj_id}: says {direction} {amount}, its entry moved "
                f"{member} to the member and {scheme_amount} to the adjustments account"
            )
    return result


ADJUSTMENT_CHECKS = (check_adjustments_posted,)
