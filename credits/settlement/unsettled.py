"""What each shop has not been settled for yet, by the month the credits were taken in.

**Why by month.** A settlement run for month R pays, for each shop, every credit taken up to
the end of R that no earlier run paid — including months a shop rolled over because it was
below the minimum payment — and each month's credits at that month's rate
(credits.settlement.amounts). Approving a run settles *everything* of a paid shop up to
the end of R (its whole balance there), so for each shop the unsettled credits are exactly
those taken in the months after the last run month it was paid in: ``(L, R]``. Nothing can
be dated in a closed month, so those months' figures never change afterwards.

**How it is computed** (set-based; never a loop over postings). A month's *net* for a shop
is the sum of the postings on its account dated in the month, settlement entries left out
(redemptions, less reversals, plus offline exceptions the scheme paid). For a closed month
with a close snapshot (credits.statements.snapshots) whose previous month has one too, it is
the difference of the two snapshots plus the settlements dated in the month (a few rows of
``settlement_line``): no posting is read. Any other month (the open month; a month closed
before snapshots existed) is read from its postings on the shop accounts, through the month's
range of entry ids and the ``(account_id, entry_id)`` index.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from credits.db import UTCDateTime
from credits.ledger.periods import Month
from credits.statements import snapshots
from credits.statements.rates import rate_for


@dataclass(frozen=True, slots=True)
class Unsettled:
    """One shop's credits not yet settled at the end of a month, by the month taken in."""

    shop_id: int
    name: str
    account_id: int
    #: The last run month this shop was paid in (None: never).
    last_settled: Month | None
    by_month: dict[Month, int] = field(default_factory=dict)

    @property
    def credits(self) -> int:
        return sum(self.by_month.values())


def _aware(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


_LAST_SETTLED = """
SELECT l.shop_id, max(r.month)
FROM settlement_line l
JOIN settlement_run r ON r.id = l.run_id
JOIN journal_entry e ON e.id = l.entry_id
WHERE l.entry_id IS NOT NULL AND e.occurred_at < :before
GROUP BY l.shop_id
"""

_SETTLED_IN = """
SELECT l.shop_id, e.occurred_at, l.credits
FROM settlement_line l JOIN journal_entry e ON e.id = l.entry_id
WHERE l.entry_id IS NOT NULL AND e.occurred_at >= :starts AND e.occurred_at < :ends
"""

_MONTH_NET = """
SELECT p.account_id, sum(p.amount)
FROM posting p JOIN journal_entry e ON e.id = p.entry_id
WHERE p.account_id IN :accounts AND p.entry_id BETWEEN :lo AND :hi
  AND e.id BETWEEN :lo AND :hi AND e.occurred_at >= :starts AND e.occurred_at < :ends
  AND e.kind <> 'settlement'
GROUP BY p.account_id
"""

_SNAPSHOT_ROWS = """
SELECT b.month, b.account_id, b.balance
FROM month_balance b JOIN account a ON a.id = b.account_id
WHERE a.type = 'shop' AND b.month IN :months
"""

_FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)


def last_settled(session: Session, *, dated_before: datetime | None = None) -> dict[int, Month]:
    """Each shop's latest run month it was paid in, counting settlement entries dated before
    ``dated_before`` (None: every approved run)."""
    rows = session.execute(
        text(_LAST_SETTLED).bindparams(bindparam("before", type_=UTCDateTime())),
        {"before": dated_before or _FAR_FUTURE},
    )
    return {int(s): Month.parse(str(m)) for s, m in rows}


def first_month(session: Session) -> Month | None:
    """The month of the first entry of the ledger (None: no entry yet)."""
    first = session.execute(text("SELECT min(occurred_at) FROM journal_entry")).scalar()
    return None if first is None else Month.containing(_aware(first))


def _months(start: Month, end: Month) -> list[Month]:
    out = []
    m = start
    while m <= end:
        out.append(m)
        m = m.next()
    return out


def _postings_net(session: Session, month: Month, accounts: list[int]) -> dict[int, int]:
    """Each shop account's net of non-settlement postings dated in ``month``."""
    if not accounts:
        return {}
    times = snapshots.month_ids(session, month)
    if times["hi"] < times["lo"]:
        return {}
    sql = text(_MONTH_NET).bindparams(
        bindparam("accounts", expanding=True),
        bindparam("starts", type_=UTCDateTime()),
        bindparam("ends", type_=UTCDateTime()),
    )
    rows = session.execute(sql, {**times, "accounts": accounts})
    return {int(a): int(n) for a, n in rows}


def monthly_nets(
    session: Session,
    months: list[Month],
    accounts: list[int],
    *,
    first: Month,
    known: dict[Month, dict[int, int]] | None = None,
) -> dict[Month, dict[int, int]]:
    """``month -> shop account -> net`` for ``months`` (see the module docstring); the
    nets of months in ``known`` are taken as given (a statement has read them already)."""
    known = known or {}
    closed = {
        m
        for m in set(months) | {m.previous() for m in months}
        if m >= first and snapshots.has_snapshot(session, m)
    }
    by_snapshot = [
        m
        for m in months
        if m not in known and m in closed and (m == first or m.previous() in closed)
    ]
    out: dict[Month, dict[int, int]] = {m: dict(v) for m, v in known.items() if m in months}
    if by_snapshot:
        wanted = sorted({str(m) for m in by_snapshot} | {str(m.previous()) for m in by_snapshot})
        snap: dict[str, dict[int, int]] = defaultdict(dict)
        rows = session.execute(
            text(_SNAPSHOT_ROWS).bindparams(bindparam("months", expanding=True)),
            {"months": wanted},
        )
        for m, account, balance in rows:
            snap[str(m)][int(account)] = int(balance)
        # Settlements dated in those months are added back: a net leaves them out.
        settled: dict[tuple[Month, int], int] = defaultdict(int)
        lo, hi = min(by_snapshot), max(by_snapshot)
        shop_accounts = {
            int(i): int(a)
            for i, a in session.execute(text("SELECT id, ledger_account_id FROM shop"))
        }
        rows = session.execute(
            text(_SETTLED_IN).bindparams(
                bindparam("starts", type_=UTCDateTime()), bindparam("ends", type_=UTCDateTime())
            ),
            {"starts": lo.starts_at, "ends": hi.ends_at},
        )
        for shop_id, at, credits in rows:
            settled[(Month.containing(_aware(at)), int(shop_accounts[int(shop_id)]))] += int(
                credits
            )
        for m in by_snapshot:
            now, before = snap[str(m)], snap[str(m.previous())]
            out[m] = {
                a: now.get(a, 0) - before.get(a, 0) + settled.get((m, a), 0)
                for a in accounts
                if now.get(a, 0) - before.get(a, 0) + settled.get((m, a), 0)
            }
    for m in months:
        if m not in out:
            out[m] = _postings_net(session, m, accounts)
    return out


def unsettled(
    session: Session,
    through: Month,
    *,
    dated_before: datetime | None = None,
    known: dict[Month, dict[int, int]] | None = None,
    shop_id: int | None = None,
) -> dict[int, Unsettled]:
    """Every shop's (or one shop's) unsettled credits at the end of ``through``, by month
    taken in. ``dated_before``: count only settlements dated before it (a statement of a
    past month asks as of that month's end; a new run counts every approved run)."""
    query = "SELECT id, name, ledger_account_id FROM shop"
    params: dict[str, Any] = {}
    if shop_id is not None:
        query += " WHERE id = :id"
        params["id"] = shop_id
    shops = [(int(i), str(n), int(a)) for i, n, a in session.execute(text(query), params)]
    first = first_month(session)
    last = last_settled(session, dated_before=dated_before)
    out: dict[int, Unsettled] = {}
    if first is None or through < first:
        return {sid: Unsettled(sid, name, acct, last.get(sid)) for sid, name, acct in shops}
    starts = {sid: max(first, last[sid].next()) if sid in last else first for sid, _, _ in shops}
    earliest = min(starts.values(), default=through)
    months = _months(earliest, through) if earliest <= through else []
    nets = monthly_nets(session, months, [a for _, _, a in shops], first=first, known=known)
    for sid, name, acct in shops:
        by_month = {
            m: nets[m][acct]
            for m in months
            if m >= starts[sid] and nets.get(m, {}).get(acct, 0) != 0
        }
        out[sid] = Unsettled(sid, name, acct, last.get(sid), by_month)
    return out


class Rates:
    """Each month's reimbursement rate, read once."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._cache: dict[Month, int | None] = {}

    def __call__(self, month: Month) -> int | None:
        if month not in self._cache:
            self._cache[month] = rate_for(self.session, month)
        return self._cache[month]
