"""Month-close snapshots: each account's balance at a closed month's end, and the month's
scheme figures, so a statement or the dashboard never has to read older postings.

Guarantees:

- :func:`snapshot_month` is called by the month close, in the closing transaction, after
  every check passed and after every earlier month holding entries was closed (the close
  refuses otherwise: ``earlier_month_open``). Nothing can then be dated before the month's
  end, so the snapshot stays true for ever.
- A snapshot is computed set-based from the previous month's snapshot plus the month's own
  postings when the previous month has one; otherwise (the first close) from the stored
  balances minus everything dated on or after the month's end — the same arithmetic the
  statements have always used.
- :func:`check_snapshots` (in `credits verify` and so in every close) proves each snapshot
  still equals the postings: each one against the previous snapshot plus that month's
  postings, the earliest against every posting before its end. Every posting is read at
  most once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from credits.db import UTCDateTime
from credits.ledger.periods import Month
from credits.ledger.verify import CheckResult


@dataclass(frozen=True, slots=True)
class MonthSnapshot:
    """The scheme figures stored for a closed month."""

    month: Month
    issued: int
    redeemed: int
    liability: int


def _params(*names: str) -> list[Any]:
    return [bindparam(n, type_=UTCDateTime()) for n in names]


# The month's entry ids (a planner hint, see credits.statements.engine._times). ``id + 0``
# keeps PostgreSQL from answering min(id) by walking the primary key from the journal's very
# first entry until one falls in the month (0.97 s for the last month of 4.4 M entries);
# summing over the month's rows of the occurred_at index instead takes 0.13 s.
_IDS = """
SELECT min(id + 0), max(id + 0) FROM journal_entry
WHERE occurred_at >= :starts AND occurred_at < :ends
"""


def month_ids(session: Session, month: Month) -> dict[str, Any]:
    """``starts``/``ends`` of ``month`` and the range ``lo``..``hi`` of its entry ids (an
    empty range when it has none). The ids only let PostgreSQL read the month's postings
    through the (entry_id, account_id) index; every query still filters on the dates."""
    times: dict[str, Any] = {"starts": month.starts_at, "ends": month.ends_at}
    lo, hi = session.execute(text(_IDS).bindparams(*_params("starts", "ends")), times).one()
    times.update(lo=int(lo) if lo is not None else 0, hi=int(hi) if hi is not None else -1)
    return times


def has_snapshot(session: Session, month: Month) -> bool:
    """Whether ``month`` is closed with a snapshot (closes before snapshots existed have none)."""
    row = session.execute(
        text("SELECT liability FROM month_close WHERE month = :m"), {"m": str(month)}
    ).first()
    return row is not None and row[0] is not None


def stored_figures(session: Session, months: list[Month]) -> dict[Month, MonthSnapshot]:
    """The stored figures of those of ``months`` that are closed with a snapshot."""
    by_text = {str(m): m for m in months}
    rows = session.execute(
        text(
            "SELECT month, issued, redeemed, liability FROM month_close "
            "WHERE liability IS NOT NULL AND month IN :months"
        ).bindparams(bindparam("months", expanding=True)),
        {"months": list(by_text)},
    )
    return {by_text[m]: MonthSnapshot(by_text[m], int(i), int(r), int(li)) for m, i, r, li in rows}


# The previous snapshot plus the month's postings (read through the month's entry ids).
_FROM_PREVIOUS = """
SELECT account_id, sum(x) FROM (
    SELECT account_id, balance AS x FROM month_balance WHERE month = :prev
    UNION ALL
    SELECT p.account_id, p.amount FROM posting p JOIN journal_entry e ON e.id = p.entry_id
    WHERE e.occurred_at >= :starts AND e.occurred_at < :ends
      AND e.id BETWEEN :lo AND :hi AND p.entry_id BETWEEN :lo AND :hi
) d GROUP BY account_id HAVING sum(x) <> 0
"""

# Stored balances minus everything dated on or after the month's end.
_FROM_STORED = """
SELECT account_id, sum(x) FROM (
    SELECT account_id, balance AS x FROM account_balance
    UNION ALL
    SELECT p.account_id, -p.amount FROM posting p JOIN journal_entry e ON e.id = p.entry_id
    WHERE e.occurred_at >= :ends
) d GROUP BY account_id HAVING sum(x) <> 0
"""

_FIGURES = """
SELECT coalesce(sum(CASE WHEN e.kind = 'earn' AND a.type = 'issuance' THEN -p.amount END), 0),
       coalesce(sum(CASE WHEN e.kind = 'redeem' AND a.type = 'shop' THEN p.amount END), 0)
FROM posting p JOIN journal_entry e ON e.id = p.entry_id JOIN account a ON a.id = p.account_id
WHERE e.occurred_at >= :starts AND e.occurred_at < :ends
  AND e.id BETWEEN :lo AND :hi AND p.entry_id BETWEEN :lo AND :hi
"""

_LIABILITY = """
SELECT coalesce(sum(b.balance), 0) FROM month_balance b JOIN account a ON a.id = b.account_id
WHERE b.month = :m AND a.type IN ('member', 'vouchers_outstanding')
"""


def month_figures(session: Session, month: Month, times: dict[str, Any]) -> tuple[int, int]:
    """Credits issued (earn entries, off the issuance account) and redeemed (paid into shop
    accounts by redeem entries) in ``month``: the dashboard's definitions."""
    issued, redeemed = session.execute(
        text(_FIGURES).bindparams(*_params("starts", "ends")), times
    ).one()
    return int(issued), int(redeemed)


def snapshot_month(session: Session, month: Month) -> MonthSnapshot:
    """Store each account's balance at ``month``'s end and the month's figures.

    The caller (:func:`credits.statements.close.close_month`) has written the month's
    ``month_close`` row in this transaction, checked every rule, and made sure no earlier
    month can still take entries. Returns the figures it stored.
    """
    times = month_ids(session, month)
    prev = month.previous()
    if has_snapshot(session, prev):
        sql = text(_FROM_PREVIOUS).bindparams(*_params("starts", "ends"))
        balances = session.execute(sql, {**times, "prev": str(prev)}).all()
    else:
        sql = text(_FROM_STORED).bindparams(*_params("ends"))
        balances = session.execute(sql, {"ends": month.ends_at}).all()
    if balances:
        session.execute(
            text("INSERT INTO month_balance (month, account_id, balance) VALUES (:m, :a, :b)"),
            [{"m": str(month), "a": int(a), "b": int(b)} for a, b in balances],
        )
    issued, redeemed = month_figures(session, month, times)
    liability = int(session.execute(text(_LIABILITY), {"m": str(month)}).scalar_one())
    session.execute(
        text("UPDATE month_close SET issued = :i, redeemed = :r, liability = :l WHERE month = :m"),
        {"i": issued, "r": redeemed, "l": liability, "m": str(month)},
    )
    return MonthSnapshot(month, issued, redeemed, liability)


_OPENING_BY_TYPE = """
SELECT a.type, sum(b.balance) FROM month_balance b JOIN account a ON a.id = b.account_id
WHERE b.month = :m GROUP BY a.type
"""


def balances_by_type(session: Session, month: Month) -> dict[str, int]:
    """The snapshot of ``month``'s end summed per account type."""
    rows = session.execute(text(_OPENING_BY_TYPE), {"m": str(month)})
    return {str(t): int(b) for t, b in rows}


def account_balance_at(session: Session, month: Month, account_id: int) -> int:
    """One account's balance in ``month``'s snapshot (0 when it has no row)."""
    value = session.execute(
        text("SELECT balance FROM month_balance WHERE month = :m AND account_id = :a"),
        {"m": str(month), "a": account_id},
    ).scalar()
    return int(value or 0)


# --- verify ---------------------------------------------------------------------------------

# A snapshot minus (the previous snapshot plus the month's postings), per account: any row
# left is a difference. One grouped pass over the month's postings.
_DIFF_FROM_PREVIOUS = """
SELECT account_id, sum(x) FROM (
    SELECT account_id, balance AS x FROM month_balance WHERE month = :m
    UNION ALL
    SELECT account_id, -balance FROM month_balance WHERE month = :prev
    UNION ALL
    SELECT p.account_id, -p.amount FROM posting p JOIN journal_entry e ON e.id = p.entry_id
    WHERE e.occurred_at >= :starts AND e.occurred_at < :ends
      AND e.id BETWEEN :lo AND :hi AND p.entry_id BETWEEN :lo AND :hi
) d GROUP BY account_id HAVING sum(x) <> 0 ORDER BY account_id
"""

# The earliest snapshot against every posting dated before its month's end.
_DIFF_FROM_POSTINGS = """
SELECT account_id, sum(x) FROM (
    SELECT account_id, balance AS x FROM month_balance WHERE month = :m
    UNION ALL
    SELECT p.account_id, -p.amount FROM posting p JOIN journal_entry e ON e.id = p.entry_id
    WHERE e.occurred_at < :ends
) d GROUP BY account_id HAVING sum(x) <> 0 ORDER BY account_id
"""


def check_snapshots(session: Session) -> CheckResult:
    """Every month-close snapshot still equals the postings dated before its month's end,
    and its stored figures equal the month's postings and its liability balances."""
    result = CheckResult(
        "month_snapshots", "each month-close snapshot equals the postings before its end"
    )
    months = [
        (Month.parse(str(m)), i, r, li)
        for m, i, r, li in session.execute(
            text(
                "SELECT month, issued, redeemed, liability FROM month_close "
                "WHERE liability IS NOT NULL ORDER BY month"
            )
        )
    ]
    with_snapshot = {m for m, *_ in months}
    for month, issued, redeemed, liability in months:
        result.checked += 1
        times = month_ids(session, month)
        prev = month.previous()
        if prev in with_snapshot:
            sql = text(_DIFF_FROM_PREVIOUS).bindparams(*_params("starts", "ends"))
            diffs = session.execute(sql, {**times, "m": str(month), "prev": str(prev)})
            against = f"the {prev} snapshot plus {month}'s postings"
        else:
            sql = text(_DIFF_FROM_POSTINGS).bindparams(*_params("ends"))
            diffs = session.execute(sql, {"m": str(month), "ends": month.ends_at})
            against = "the postings"
        for account_id, diff in diffs:
            result.add(f"snapshot {month}: account {account_id} differs from {against} by {diff}")
        want_issued, want_redeemed = month_figures(session, month, times)
        want_liability = int(session.execute(text(_LIABILITY), {"m": str(month)}).scalar_one())
        for name, stored, want in (
            ("issued", issued, want_issued),
            ("redeemed", redeemed, want_redeemed),
            ("liability", liability, want_liability),
        ):
            if int(stored) != want:
                result.add(f"snapshot {month}: {name} stored {stored}, the ledger says {want}")
    return result


SNAPSHOT_CHECKS = (check_snapshots,)
