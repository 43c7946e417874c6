"""What ``GET /metrics`` reports from the database, read at scrape time.

A handful of index lookups (a scrape every 15–60 s must cost nothing): the vouchers
outstanding account's balance and the number of open vouchers, the offline exceptions still
waiting for an officer, the last closed month, and the latest `credits verify`, backup and
restore runs (credits/operations/runs.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from credits import ledger
from credits.ledger.models import T_CLOSED
from credits.ledger.periods import Month
from credits.operations.runs import LastRun, last_runs


@dataclass(frozen=True)
class HealthFigures:
    """The scheme's state as monitoring sees it."""

    vouchers_outstanding_credits: int
    open_vouchers: int
    open_offline_exceptions: int
    last_closed_month: str | None
    last_closed_month_ends_at: datetime | None
    runs: dict[str, LastRun]


def health_figures(session: Session) -> HealthFigures:
    """Read the figures (see the module docstring) in ``session``."""
    from credits.redemption.models import RedemptionException
    from credits.vouchers.models import Voucher

    t_voucher = Voucher.__table__  # type: ignore[attr-defined]
    t_exception = RedemptionException.__table__  # type: ignore[attr-defined]
    outstanding = ledger.balance(
        session, ledger.scheme_account(session, ledger.VOUCHERS_OUTSTANDING).id
    )
    open_vouchers = session.execute(
        select(func.count()).select_from(t_voucher).where(t_voucher.c.state == "open")
    ).scalar_one()
    open_exceptions = session.execute(
        select(func.count()).select_from(t_exception).where(t_exception.c.resolved_at.is_(None))
    ).scalar_one()
    last = session.execute(select(func.max(T_CLOSED.c.month))).scalar()
    return HealthFigures(
        vouchers_outstanding_credits=int(outstanding),
        open_vouchers=int(open_vouchers),
        open_offline_exceptions=int(open_exceptions),
        last_closed_month=last,
        last_closed_month_ends_at=Month.parse(last).ends_at if last else None,
        runs=last_runs(session),
    )
