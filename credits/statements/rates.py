"""The council's reimbursement rate: integer pence paid to a shop per credit it took.

A rate takes effect from a month and stays until a later one replaces it. Setting a rate
from month M never alters a month before M, so a past statement reads the same for ever.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from credits import audit
from credits.db import utcnow
from credits.errors import ValidationFailed
from credits.ledger.periods import Month
from credits.statements.models import T_RATE, ReimbursementRate

#: £1,000 a credit: far above any sensible rate, and a guard against a typo in pounds.
MAX_PENCE_PER_CREDIT = 100_000


def rate_for(session: Session, month: Month) -> int | None:
    """The pence per credit in force in ``month``, or None if the council has set none."""
    row = session.execute(
        select(T_RATE.c.pence_per_credit)
        .where(T_RATE.c.effective_from <= str(month))
        .order_by(T_RATE.c.effective_from.desc())
        .limit(1)
    ).first()
    return None if row is None else int(row[0])


def set_rate(
    session: Session, by: object, pence: int, *, effective_from: Month
) -> ReimbursementRate:
    """Set the rate from ``effective_from`` onwards (replacing one set from that same month),
    audited as ``rate.set``. Refuses a month that is closed: its statement is final."""
    from credits.ledger.periods import closed_months

    if isinstance(pence, bool) or not isinstance(pence, int):
        raise ValidationFailed("the rate is a whole number of pence per credit")
    if not 0 <= pence <= MAX_PENCE_PER_CREDIT:
        raise ValidationFailed(f"the rate must be 0 to {MAX_PENCE_PER_CREDIT} pence per credit")
    if str(effective_from) in closed_months(session):
        raise ValidationFailed(f"{effective_from} is closed: set the rate from a later month")
    row = session.get(ReimbursementRate, str(effective_from))
    previous = None if row is None else row.pence_per_credit
    if row is None:
        row = ReimbursementRate(
            effective_from=str(effective_from),
            pence_per_credit=pence,
            set_at=utcnow(),
            set_by=by.actor,
        )  # type: ignore[attr-defined]
    else:
        row.pence_per_credit = pence
        row.set_at = utcnow()
        row.set_by = by.actor  # type: ignore[attr-defined]
    session.add(row)
    session.flush()
    audit.record(
        session,
        by,
        "rate.set",
        f"rate:{effective_from}",
        pence_per_credit=pence,
        previous=previous,
    )
    return row
