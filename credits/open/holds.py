"""Holding back a month's publication, and releasing it (officers).

Guarantees (each tested):

- :func:`hold` records a hold with its reason (1 to 500 characters) and the audit event
  ``publication.hold`` in one unit of work; a month has at most one hold in force (the
  unique (month, active) pair settles two officers holding it at once: the loser gets
  ``already_held``). A month may be held before it is closed (it is then not published when
  it closes) but not before it has started.
- :func:`release` ends the hold in force (``publication.release``, audited with its own
  reason when given); a month that is not held → ``not_held``, changing nothing.
- A held month is left out of every public page and document (credits.open.record): /open
  says that it is held back, and when; the reason stays in the audit log and on the
  officers' pages, because it may name a complaint or a person.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from credits import audit
from credits.db import RetryTransaction, unique_violation, utcnow
from credits.errors import Conflict, ValidationFailed
from credits.ledger.periods import Month
from credits.open.models import T_PUBLICATION_HOLD, PublicationHold

REASON_MAX_CHARS = 500


class AlreadyHeld(Conflict):
    code = "already_held"
    title = "That month's publication is already held back"


class NotHeld(Conflict):
    code = "not_held"
    title = "That month's publication is not held back"


@dataclass(frozen=True, slots=True)
class Hold:
    """A hold in force: when and by whom, and why (never published)."""

    month: str
    reason: str
    held_at: datetime
    held_by: str


def _reason(text_: str, *, required: bool) -> str:
    reason = " ".join((text_ or "").split())
    if required and not reason:
        raise ValidationFailed(
            "give the reason for holding the month back (it is kept in the audit log)",
            errors={"reason": ["Required."]},
        )
    if len(reason) > REASON_MAX_CHARS:
        raise ValidationFailed(
            f"the reason is longer than {REASON_MAX_CHARS} characters",
            errors={"reason": [f"At most {REASON_MAX_CHARS} characters."]},
        )
    return reason


def holds_in_force(session: Session) -> dict[str, Hold]:
    """Every month held back now, by month."""
    rows = session.execute(
        select(
            T_PUBLICATION_HOLD.c.month,
            T_PUBLICATION_HOLD.c.reason,
            T_PUBLICATION_HOLD.c.held_at,
            T_PUBLICATION_HOLD.c.held_by,
        ).where(T_PUBLICATION_HOLD.c.active == 1)
    )
    return {str(m): Hold(str(m), str(r), at, str(by)) for m, r, at, by in rows}


def hold_of(session: Session, month: Month) -> Hold | None:
    """The hold in force on ``month``, if any."""
    return holds_in_force(session).get(str(month))


def hold(
    session: Session, by: Any, month: Month, reason: str, *, now: datetime | None = None
) -> Hold:
    """Hold back ``month``'s publication (see the module docstring). ``by``: the officer's
    Principal, or an audit Actor for the command line."""
    now = now or utcnow()
    reason = _reason(reason, required=True)
    if month.starts_at > now:
        raise ValidationFailed(
            f"{month} has not started yet: there is nothing to hold back",
            errors={"month": ["In the future."]},
        )
    if hold_of(session, month) is not None:
        raise AlreadyHeld(f"{month}'s publication is already held back", month=str(month))
    row = PublicationHold(month=str(month), reason=reason, held_at=now, held_by=by.actor, active=1)
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:
        if unique_violation(exc, "uq_publication_hold_month_active"):
            # Another officer held it at the same moment: the retry reports already_held.
            raise RetryTransaction() from exc
        raise
    audit.record(session, by, "publication.hold", f"month:{month}", reason=reason)
    return Hold(str(month), reason, now, by.actor)


def release(
    session: Session, by: Any, month: Month, reason: str = "", *, now: datetime | None = None
) -> Hold:
    """Release ``month``'s hold: the month is published again from the next request on.
    Returns the hold that was released."""
    now = now or utcnow()
    why = _reason(reason, required=False)
    current = hold_of(session, month)
    if current is None:
        raise NotHeld(f"{month}'s publication is not held back", month=str(month))
    done = session.execute(
        update(T_PUBLICATION_HOLD)
        .where(T_PUBLICATION_HOLD.c.month == str(month), T_PUBLICATION_HOLD.c.active == 1)
        .values(active=None, released_at=now, released_by=by.actor)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise NotHeld(f"{month}'s publication is not held back", month=str(month))
    details: dict[str, Any] = {"held_by": current.held_by}
    if why:
        details["reason"] = why
    audit.record(session, by, "publication.release", f"month:{month}", **details)
    return current
