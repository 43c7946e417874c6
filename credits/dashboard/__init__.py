"""The officer dashboard: monthly figures, shares, expiring vouchers, the exceptions queue
and the latest officer actions (queries.py, review_queue.py), drawn as inline SVG charts
(charts.py). Reads only; no Flask imports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from credits.audit.models import AuditEvent
from credits.dashboard.queries import (
    Expiring,
    MonthFigures,
    Share,
    adjustments_summary,
    expiring_vouchers,
    issued_by_activity,
    last_months,
    monthly_figures,
    officer_actions,
    redeemed_by_shop,
)
from credits.dashboard.review_queue import KINDS, QueueItem, exceptions_queue
from credits.db import utcnow
from credits.ledger import Month

__all__ = [
    "KINDS",
    "Dashboard",
    "Expiring",
    "MonthFigures",
    "QueueItem",
    "Share",
    "build",
    "exceptions_queue",
    "expiring_vouchers",
    "issued_by_activity",
    "last_months",
    "monthly_figures",
    "officer_actions",
    "redeemed_by_shop",
]


@dataclass(frozen=True, slots=True)
class Dashboard:
    """Everything the officer home page shows."""

    now: datetime
    month: Month
    months: list[MonthFigures]
    by_activity: list[Share]
    by_shop: list[Share]
    expiring: Expiring
    queue: list[QueueItem]
    pending_adjustments: tuple[int, int]
    actions: list[AuditEvent]


def build(session: Session, now: datetime | None = None) -> Dashboard:
    """Read the whole dashboard in one session (a handful of bounded queries)."""
    now = now or utcnow()
    month = Month.containing(now)
    return Dashboard(
        now=now,
        month=month,
        months=monthly_figures(session, now),
        by_activity=issued_by_activity(session, month),
        by_shop=redeemed_by_shop(session, month),
        expiring=expiring_vouchers(session, now),
        queue=exceptions_queue(session, limit=10),
        pending_adjustments=adjustments_summary(session),
        actions=officer_actions(session),
    )
