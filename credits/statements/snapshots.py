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
from credits.ledger.verify import CheckResult, costs, tune_for_verify


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

# One snapshot checked in one pass over the postings it rests on (``moved``, grouped by
# account; PostgreSQL computes a CTE used three times once): rows (0, account, difference)
# for each account whose snapshot differs from ``base`` plus the postings, then (1, -,
# credits issued) and (2, -, credits redeemed) in the month, as month_figures defines them.
_CHECK_MONTH = """
WITH moved AS (
    SELECT p.account_id, sum(p.amount) AS amount,
           sum(CASE WHEN e.kind = 'earn' AND e.occurred_at >= :starts
                    THEN p.amount ELSE 0 END) AS earned,
           sum(CASE WHEN e.kind = 'redeem' AND e.occurred_at >= :starts
                    THEN p.amount ELSE 0 END) AS redeemed
    FROM posting p JOIN journal_entry e ON e.id = p.entry_id
    WHERE {window}
    GROUP BY p.account_id
)
SELECT 0 AS part, d.account_id, sum(d.x) FROM (
    SELECT account_id, balance AS x FROM month_balance WHERE month = :m
    {base}
    UNION ALL
    SELECT account_id, -amount FROM moved
) d GROUP BY d.account_id HAVING sum(d.x) <> 0
UNION ALL
SELECT 1, NULL, coalesce(sum(-m.earned), 0)
FROM moved m JOIN account a ON a.id = m.account_id WHERE a.type = 'issuance'
UNION ALL
SELECT 2, NULL, coalesce(sum(m.redeemed), 0)
FROM moved m JOIN account a ON a.id = m.account_id WHERE a.type = 'shop'
ORDER BY 1, 2
"""

# A month whose previous month has a snapshot: that snapshot plus the month's own postings
# (read through the month's entry ids).
_AFTER_PREVIOUS = _CHECK_MONTH.format(
    window="e.occurred_at >= :starts AND e.occurred_at < :ends "
    "AND e.id BETWEEN :lo AND :hi AND p.entry_id BETWEEN :lo AND :hi",
    base="UNION ALL SELECT account_id, -balance FROM month_balance WHERE month = :prev",
)

# The earliest snapshot: every posting dated before its month's end.
_FROM_THE_START = _CHECK_MONTH.format(window="e.occurred_at < :ends", base="")


@costs(13)
def check_snapshots(session: Session) -> CheckResult:
    """Every month-close snapshot still equals the postings dated before its month's end,
    and its stored figures equal the month's postings and its liability balances. Each
    closed month's postings are read once."""
    result = CheckResult(
        "month_snapshots", "each month-close snapshot equals the postings before its end"
    )
    tune_for_verify(session)
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
        times = {**month_ids(session, month), "m": str(month)}
        prev = month.previous()
        if prev in with_snapshot:
            sql, against = _AFTER_PREVIOUS, f"the {prev} snapshot plus {month}'s postings"
            times["prev"] = str(prev)
        else:
            sql, against = _FROM_THE_START, "the postings"
        want = {}
        for part, account_id, amount in session.execute(
            text(sql).bindparams(*_params("starts", "ends")), times
        ):
            if part == 0:
                result.add(
                    f"snapshot {month}: account {account_id} differs from {against} "
                    f"by {int(amount)}"
                )
            else:
                want[part] = int(amount)
        want_liability = int(session.execute(text(_LIABILITY), {"m": str(month)}).scalar_one())
        for name, stored, wanted in (
            ("issued", issued, want[1]),
            ("redeemed", redeemed, want[2]),
            ("liability", liability, want_liability),
        ):
            if int(stored) != wanted:
                result.add(f"snapshot {month}: {name} stored {stored}, the ledger says {wanted}")
    return result


SNAPSHOT_CHECKS = (check_snapshots,)
