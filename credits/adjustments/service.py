"""Manual adjustments: an officer credits or debits a member against the scheme's
adjustments account, saying why.

**Entries.** A credit is ``scheme:adjustments −n, member +n``; a debit is ``member −n,
scheme:adjustments +n``: one balanced entry of kind ``adjustment``, posted with
``ledger.post_entry`` in the use case's unit of work, its memo carrying the reason (the
member reads it in their history).

**Guarantees**

1. Amounts are whole credits from 1 to :data:`MAX_ADJUSTMENT_CREDITS`; a reason is required.
2. A member's balance never goes negative: a debit of more than they hold is refused
   (``insufficient_funds``) when asked and again, by the ledger, when posted.
3. Four eyes: an adjustment of more than the threshold (setting
   ``CREDITS_ADJUSTMENT_FOUR_EYES_CREDITS``, default 50) is a request (state ``pending``)
   that another officer approves (posted) or rejects; the requester can do neither. At or
   below the threshold it posts at once. Nobody adjusts their own balance. The database
   repeats the four-eyes rule (``ck_adjustment_four_eyes``, ``ck_adjustment_posted_four_eyes``).
4. Idempotency: the officer's key is namespaced (``adjustment:<person id>:<key>``); the
   same key and request return the first adjustment (as it now is) and write nothing; a
   different request under the key is ``idempotency_conflict``. An approval or rejection
   repeated by the officer who made it returns the adjustment as it is.
5. Dating: an adjustment is dated when it is posted, or on the London date given
   (``occurred_on``: not in the future, at most 60 days back, never in a closed month —
   ``period_closed``, checked when asked and again when posted).
6. Every request, approval, rejection and posting is in the audit log (who, when, why),
   written in the same transaction as the change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from credits import audit, ledger
from credits.accounts import Principal, Role
from credits.accounts.models import Person
from credits.adjustments.errors import (
    AdjustmentNotFound,
    AdjustmentNotPending,
    SecondOfficerRequired,
    SelfAdjustment,
    UnknownMember,
)
from credits.adjustments.models import (
    CREDIT,
    DEBIT,
    PENDING,
    POSTED,
    REJECTED,
    T_ADJUSTMENT,
    Adjustment,
)
from credits.db import RetryTransaction, unique_violation, utcnow
from credits.earning import dates
from credits.earning.request_checks import (
    Problems,
    check_client_key,
    fingerprint,
    int_field,
    require_role,
    text_field,
)
from credits.errors import ValidationFailed
from credits.i18n import T, Tn
from credits.paging import Page, paginate

#: The most one adjustment may move (the database repeats it).
MAX_ADJUSTMENT_CREDITS = 10_000
#: The default four-eyes threshold: above it a second officer must approve.
DEFAULT_FOUR_EYES_CREDITS = 50
MAX_REASON_CHARS = 300
DIRECTIONS = (CREDIT, DEBIT)
STATES = (PENDING, POSTED, REJECTED)

T_PERSON = Person.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class AdjustmentView:
    """An adjustment as the API and pages show it."""

    id: int
    person_id: int
    person_name: str
    direction: str
    amount: int
    reason: str
    occurred_on: date | None
    state: str
    needs_approval: bool
    requested_by_person_id: int
    requested_by_name: str
    requested_by: str
    requested_at: datetime
    decided_by_person_id: int | None
    decided_by_name: str | None
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    entry_id: int | None
    posted_at: datetime | None
    replayed: bool = False

    @property
    def signed_amount(self) -> int:
        """The change to the member's balance (negative for a debit)."""
        return self.amount if self.direction == CREDIT else -self.amount


def get_threshold(settings: Any) -> int:
    """The four-eyes threshold in credits (``CREDITS_ADJUSTMENT_FOUR_EYES_CREDITS``)."""
    value = int(getattr(settings, "adjustment_four_eyes_credits", DEFAULT_FOUR_EYES_CREDITS))
    return max(0, value)


def memo_for(direction: str, reason: str) -> str:
    """The entry's memo, which the member reads in their history."""
    word = "credited" if direction == CREDIT else "debited"
    return f"Adjustment by the council ({word}): {reason}"[:500]


def _member(session: Session, person_id: Any) -> Person:
    person = session.get(Person, person_id) if type(person_id) is int else None
    if person is None or person.ledger_account_id is None:
        raise UnknownMember(
            T("there is no member %(id)s", id=repr(person_id)),
            errors={"person_id": [T("not a member with a credits account")]},
        )
    return person


def _parse(
    direction: Any, amount: Any, reason: Any, occurred_on: Any, key: Any
) -> tuple[str, int, str, date | None, str]:
    problems = Problems()
    if direction not in DIRECTIONS:
        problems.add("direction", T("must be credit or debit"))
    number = int_field(problems, "amount", amount, lo=1, hi=MAX_ADJUSTMENT_CREDITS)
    why = " ".join(text_field(problems, "reason", reason, max_chars=MAX_REASON_CHARS).split())
    day: date | None = None
    if occurred_on not in (None, ""):
        try:
            day = dates.parse_date(occurred_on)
        except ValidationFailed as exc:
            problems.take(exc)
    client_key = ""
    try:
        client_key = check_client_key(key)
    except ValidationFailed as exc:
        problems.take(exc)
    problems.raise_if_any()
    return str(direction), number, why, day, client_key


def request_adjustment(
    session: Session,
    who: Principal,
    *,
    person_id: Any,
    direction: Any,
    amount: Any,
    reason: Any,
    idempotency_key: Any,
    occurred_on: Any = None,
    threshold: int = DEFAULT_FOUR_EYES_CREDITS,
    now: datetime | None = None,
) -> AdjustmentView:
    """An officer asks to credit or debit a member: posted at once up to ``threshold``
    credits, otherwise left ``pending`` for another officer. See the module docstring."""
    officer_id = require_role(who, Role.OFFICER)
    kind, number, why, day, client_key = _parse(
        direction, amount, reason, occurred_on, idempotency_key
    )
    namespaced = f"adjustment:{officer_id}:{client_key}"
    request_hash = fingerprint(
        {
            "person_id": person_id,
            "direction": kind,
            "amount": number,
            "reason": why,
            "occurred_on": day.isoformat() if day else None,
        }
    )
    replayed = _replay(session, namespaced, request_hash)
    if replayed is not None:
        return replayed
    person = _member(session, person_id)
    assert person.id is not None and person.ledger_account_id is not None
    if person.id == officer_id:
        raise SelfAdjustment(T("you cannot adjust your own balance: ask another officer"))
    if day is not None:
        dates.check_window(day, now)
        dates.ensure_open(session, day)
    if kind == DEBIT:
        _check_funds(session, person.ledger_account_id, number)
    now = now or utcnow()
    needs_approval = number > threshold
    row = Adjustment(
        person_id=person.id,
        account_id=person.ledger_account_id,
        direction=kind,
        amount=number,
        reason=why,
        occurred_on=day,
        state=PENDING,
        needs_approval=needs_approval,
        idempotency_key=namespaced,
        request_hash=request_hash,
        requested_by_person_id=officer_id,
        requested_by=who.actor,
        requested_at=now,
    )
    session.add(row)
    try:
        session.flush()
    except Exception as exc:
        if unique_violation(exc, "idempotency_key"):
            raise RetryTransaction("adjustment requested concurrently with one key") from exc
        raise
    assert row.id is not None
    audit.record(
        session,
        who,
        "adjustment.request",
        f"adjustment:{row.id}",
        person_id=person.id,
        direction=kind,
        amount=number,
        reason=why,
        needs_approval=needs_approval,
    )
    if not needs_approval:
        _post(session, who, row, now)
    return load_adjustment(session, row.id)


def _check_funds(session: Session, account_id: int, amount: int) -> None:
    held = ledger.balance(session, account_id)
    if held < amount:
        raise ledger.InsufficientFunds(
            Tn(
                "the member holds %(num)s credit: %(amount)s cannot be taken back",
                "the member holds %(num)s credits: %(amount)s cannot be taken back",
                held,
                amount=amount,
            ),
            account_id=account_id,
        )


def _post(session: Session, who: Principal, row: Adjustment, now: datetime) -> None:
    """Post the adjustment's one balanced entry and mark it posted (in the caller's unit of
    work)."""
    assert row.id is not None
    occurred_at = dates.entry_time(row.occurred_on) if row.occurred_on else None
    if occurred_at is not None:
        ledger.ensure_open(session, occurred_at)
    adjustments = ledger.scheme_account(session, ledger.ADJUSTMENTS).id
    sign = 1 if row.direction == CREDIT else -1
    entry = ledger.post_entry(
        session,
        ledger.EntryRequest(
            kind=ledger.EntryKind.ADJUSTMENT,
            legs=(
                ledger.Leg(adjustments, -sign * row.amount),
                ledger.Leg(row.account_id, sign * row.amount),
            ),
            memo=memo_for(row.direction, row.reason),
            actor=who.actor,
            idempotency_key=f"adjustment-entry:{row.id}",
            occurred_at=occurred_at,
        ),
        now=now,
    )
    row.state = POSTED
    row.entry_id = entry.id
    row.posted_at = now
    session.add(row)
    session.flush()
    audit.record(
        session,
        who,
        "adjustment.post",
        f"adjustment:{row.id}",
        person_id=row.person_id,
        direction=row.direction,
        amount=row.amount,
        reason=row.reason,
        entry_id=entry.id,
    )


def _replay(session: Session, namespaced: str, request_hash: str) -> AdjustmentView | None:
    found = session.execute(
        select(T_ADJUSTMENT.c.id, T_ADJUSTMENT.c.request_hash).where(
            T_ADJUSTMENT.c.idempotency_key == namespaced
        )
    ).first()
    if found is None:
        return None
    if found[1] != request_hash:
        raise ledger.IdempotencyConflict(
            "this idempotency_key was already used for a different adjustment"
        )
    return replace(load_adjustment(session, int(found[0])), replayed=True)


def _lock(session: Session, adjustment_id: Any) -> Adjustment:
    if type(adjustment_id) is not int:
        raise AdjustmentNotFound(f"no adjustment {adjustment_id!r}")
    row = session.execute(
        select(Adjustment)
        .where(T_ADJUSTMENT.c.id == adjustment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if row is None:
        raise AdjustmentNotFound(f"no adjustment {adjustment_id}")
    return row


def _decided(row: Adjustment) -> AdjustmentNotPending:
    values = {"id": str(row.id), "who": row.decided_by or "?"}
    if row.state == POSTED and not row.needs_approval:
        text = T("adjustment %(id)s was already posted without needing approval", **values)
    elif row.state == POSTED:
        text = T("adjustment %(id)s was already approved and posted by %(who)s", **values)
    else:
        text = T("adjustment %(id)s was already rejected by %(who)s", **values)
    return AdjustmentNotPending(text, state=row.state, adjustment_id=row.id)


def _check_decider(row: Adjustment, officer_id: int) -> None:
    if row.requested_by_person_id == officer_id:
        raise SecondOfficerRequired(
            T("you asked for this adjustment: a different officer must approve or reject it")
        )
    if row.person_id == officer_id:
        raise SelfAdjustment(T("you cannot decide on an adjustment to your own balance"))


def approve(
    session: Session, who: Principal, adjustment_id: Any, *, now: datetime | None = None
) -> AdjustmentView:
    """A second officer approves a pending adjustment: its entry is posted now (refused with
    ``insufficient_funds`` or ``period_closed`` if it no longer fits, leaving it pending)."""
    officer_id = require_role(who, Role.OFFICER)
    row = _lock(session, adjustment_id)
    assert row.id is not None
    if row.state == POSTED and row.decided_by_person_id == officer_id:
        return replace(load_adjustment(session, row.id), replayed=True)
    if row.state != PENDING:
        raise _decided(row)
    _check_decider(row, officer_id)
    now = now or utcnow()
    row.decided_by_person_id = officer_id
    row.decided_by = who.actor
    row.decided_at = now
    audit.record(
        session,
        who,
        "adjustment.approve",
        f"adjustment:{row.id}",
        person_id=row.person_id,
        amount=row.amount,
        direction=row.direction,
        requested_by=row.requested_by,
    )
    _post(session, who, row, now)
    return load_adjustment(session, row.id)


def reject(session: Session, who: Principal, adjustment_id: Any, *, reason: Any) -> AdjustmentView:
    """A second officer rejects a pending adjustment, saying why. Nothing is posted."""
    officer_id = require_role(who, Role.OFFICER)
    problems = Problems()
    why = " ".join(text_field(problems, "reason", reason, max_chars=MAX_REASON_CHARS).split())
    problems.raise_if_any()
    row = _lock(session, adjustment_id)
    assert row.id is not None
    if row.state == REJECTED and row.decided_by_person_id == officer_id:
        return replace(load_adjustment(session, row.id), replayed=True)
    if row.state != PENDING:
        raise _decided(row)
    _check_decider(row, officer_id)
    row.state = REJECTED
    row.decided_by_person_id = officer_id
    row.decided_by = who.actor
    row.decided_at = utcnow()
    row.decision_reason = why
    session.add(row)
    session.flush()
    audit.record(
        session,
        who,
        "adjustment.reject",
        f"adjustment:{row.id}",
        person_id=row.person_id,
        amount=row.amount,
        direction=row.direction,
        reason=why,
    )
    return load_adjustment(session, row.id)


# --- reading --------------------------------------------------------------------------------


def load_adjustments(session: Session, rows: Sequence[Adjustment]) -> list[AdjustmentView]:
    """Views of adjustment rows, with the names of the people involved (one query)."""
    ids: set[int] = set()
    for r in rows:
        ids.update(x for x in (r.person_id, r.requested_by_person_id, r.decided_by_person_id) if x)
    names = (
        dict(
            session.execute(
                select(T_PERSON.c.id, T_PERSON.c.name).where(T_PERSON.c.id.in_(ids))
            ).all()
        )
        if ids
        else {}
    )
    out = []
    for r in rows:
        assert r.id is not None
        out.append(
            AdjustmentView(
                id=r.id,
                person_id=r.person_id,
                person_name=names.get(r.person_id, f"person {r.person_id}"),
                direction=r.direction,
                amount=r.amount,
                reason=r.reason,
                occurred_on=r.occurred_on,
                state=r.state,
                needs_approval=r.needs_approval,
                requested_by_person_id=r.requested_by_person_id,
                requested_by_name=names.get(r.requested_by_person_id, ""),
                requested_by=r.requested_by,
                requested_at=r.requested_at,
                decided_by_person_id=r.decided_by_person_id,
                decided_by_name=names.get(r.decided_by_person_id)
                if r.decided_by_person_id
                else None,
                decided_by=r.decided_by,
                decided_at=r.decided_at,
                decision_reason=r.decision_reason,
                entry_id=r.entry_id,
                posted_at=r.posted_at,
            )
        )
    return out


def load_adjustment(session: Session, adjustment_id: int) -> AdjustmentView:
    """One adjustment; :class:`AdjustmentNotFound` if there is none."""
    row = session.get(Adjustment, adjustment_id) if type(adjustment_id) is int else None
    if row is None:
        raise AdjustmentNotFound(f"no adjustment {adjustment_id!r}")
    return load_adjustments(session, [row])[0]


def list_adjustments(
    session: Session,
    *,
    state: str | None = None,
    person_id: int | None = None,
    page: int | None = 1,
    per_page: int | None = None,
) -> Page[AdjustmentView]:
    """Adjustments newest first, optionally one state or one member's."""
    if state is not None and state not in STATES:
        raise ValidationFailed(
            T("state must be one of %(list)s", list=", ".join(STATES)),
            errors={"state": [T("unknown state")]},
        )
    query = select(Adjustment)
    if state is not None:
        query = query.where(T_ADJUSTMENT.c.state == state)
    if person_id is not None:
        query = query.where(T_ADJUSTMENT.c.person_id == person_id)
    query = query.order_by(T_ADJUSTMENT.c.requested_at.desc(), T_ADJUSTMENT.c.id.desc())
    found = paginate(session, query, page=page, per_page=per_page)
    return Page(load_adjustments(session, found.items), found.page, found.per_page, found.total)


def describe_adjustment(session: Session, row: Any) -> str:
    """A member's history line for an adjustment: what the officer said, plainly."""
    reason = session.execute(
        select(T_ADJUSTMENT.c.reason).where(T_ADJUSTMENT.c.entry_id == row.id)
    ).scalar_one_or_none()
    if reason is None:
        return T("Adjustment by the council")
    return T("Adjustment by the council: %(reason)s", reason=reason)


def install() -> None:
    """Show adjustments' reasons in members' histories (idempotent)."""
    from credits.earning import history

    history.DESCRIBERS[ledger.EntryKind.ADJUSTMENT.value] = describe_adjustment
