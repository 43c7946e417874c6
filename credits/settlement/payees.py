"""Shops' bank details (payees): set and changed by one officer, approved by another.

Payment diversion — a fraudster asking the council to pay a supplier into a new account —
is the classic attack on supplier payments, so:

1. Every version of a shop's details is a new ``payee`` row, ``pending`` until an officer
   other than the one who entered it approves it (:class:`SecondApproverRequired`
   otherwise; the database repeats it, ``ck_payee_four_eyes``). Approving makes it
   ``active`` and the previous version ``superseded``, in one transaction. Nothing is ever
   paid to a pending version.
2. Details are checked before they are stored (credits.settlement.bankdetails: the
   Vocalink modulus check, or an IBAN's check digits).
3. Every request, approval and rejection is audited — who, when, why — with the account
   masked in the audit log (admins read it; only officers see bank details in full).
4. One pending change per shop at a time (unique ``pending_shop``), one active version
   (unique ``active_shop``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from credits import audit
from credits.accounts import Principal, Role
from credits.db import RetryTransaction, unique_violation, utcnow
from credits.earning.request_checks import require_role
from credits.errors import Conflict, NotFound, ValidationFailed
from credits.settlement import bankdetails
from credits.settlement.errors import PayeeChangeNotPending, SecondApproverRequired
from credits.settlement.models import (
    ACTIVE,
    PENDING,
    REJECTED,
    SUPERSEDED,
    T_PAYEE,
    Payee,
)
from credits.shops.models import Shop

MAX_REASON_CHARS = 300


class PayeeChangePending(Conflict):
    code = "payee_change_pending"
    title = "That shop already has a change of bank details waiting for approval"


@dataclass(frozen=True, slots=True)
class PayeeView:
    """A version of a shop's bank details. ``full`` is None unless the viewer is an officer."""

    id: int
    shop_id: int
    shop_name: str
    legal_name: str
    kind: str  # "uk" | "iban"
    masked: str
    full: str | None
    status: str
    reason: str
    requested_by: str
    requested_by_person_id: int
    requested_at: datetime
    decided_by: str | None
    decided_by_person_id: int | None
    decided_at: datetime | None
    decision_reason: str | None


def details_of(row: Payee) -> bankdetails.BankDetails:
    """The row's details as a value (for the payments file and masking)."""
    return bankdetails.BankDetails(
        row.legal_name, sort_code=row.sort_code, account_number=row.account_number, iban=row.iban
    )


def view(row: Payee, shop_name: str, *, officer: bool) -> PayeeView:
    """``row`` as ``officer`` (full details) or anyone else (masked) sees it."""
    assert row.id is not None
    details = details_of(row)
    return PayeeView(
        id=row.id,
        shop_id=row.shop_id,
        shop_name=shop_name,
        legal_name=row.legal_name,
        kind="iban" if row.iban else "uk",
        masked=details.masked,
        full=details.full if officer else None,
        status=row.status,
        reason=row.reason,
        requested_by=row.requested_by,
        requested_by_person_id=row.requested_by_person_id,
        requested_at=row.requested_at,
        decided_by=row.decided_by,
        decided_by_person_id=row.decided_by_person_id,
        decided_at=row.decided_at,
        decision_reason=row.decision_reason,
    )


def _shop(session: Session, shop_id: Any) -> Shop:
    shop = session.get(Shop, shop_id) if type(shop_id) is int else None
    if shop is None:
        raise NotFound(f"there is no shop {shop_id!r}")
    return shop


def _reason(value: Any, field: str = "reason") -> str:
    text = " ".join(value.split()) if isinstance(value, str) else ""
    if not 0 < len(text) <= MAX_REASON_CHARS:
        raise ValidationFailed(
            f"say why (at most {MAX_REASON_CHARS} characters)",
            errors={field: [f"Required, at most {MAX_REASON_CHARS} characters."]},
        )
    return text


def active_payee(session: Session, shop_id: int) -> Payee | None:
    """The shop's approved details in force, or None."""
    return session.execute(
        select(Payee).where(T_PAYEE.c.active_shop == shop_id)
    ).scalar_one_or_none()


def active_payees(session: Session) -> dict[int, int]:
    """shop id -> the id of its active payee version, for every shop that has one."""
    rows = session.execute(
        select(T_PAYEE.c.active_shop, T_PAYEE.c.id).where(T_PAYEE.c.active_shop.is_not(None))
    )
    return {int(s): int(p) for s, p in rows}


def request_change(
    session: Session,
    who: Principal,
    shop_id: Any,
    *,
    legal_name: Any,
    reason: Any,
    sort_code: Any = None,
    account_number: Any = None,
    iban: Any = None,
    now: datetime | None = None,
) -> PayeeView:
    """An officer enters a shop's (new) bank details: stored ``pending`` until another
    officer approves them. Raises ``invalid_bank_details`` (every field's problem),
    ``payee_change_pending`` when one already waits, ``not_found`` for an unknown shop."""
    officer_id = require_role(who, Role.OFFICER)
    shop = _shop(session, shop_id)
    errors: dict[str, list[str]] = {}
    why = ""
    try:
        why = _reason(reason)
    except ValidationFailed as exc:
        errors.update(exc.extra["errors"])
    details = None
    try:
        details = bankdetails.check(
            legal_name=legal_name, sort_code=sort_code, account_number=account_number, iban=iban
        )
    except ValidationFailed as exc:
        errors.update(exc.extra["errors"])
    if errors or details is None:
        raise bankdetails.InvalidBankDetails("those bank details are not valid", errors=errors)
    assert shop.id is not None
    waiting = session.execute(
        select(T_PAYEE.c.id).where(T_PAYEE.c.pending_shop == shop.id)
    ).scalar_one_or_none()
    if waiting is not None:
        raise PayeeChangePending(
            f"{shop.name} already has a change of bank details waiting for approval: approve "
            "or reject it first",
            payee_id=int(waiting),
        )
    row = Payee(
        shop_id=shop.id,
        legal_name=details.legal_name,
        sort_code=details.sort_code,
        account_number=details.account_number,
        iban=details.iban,
        status=PENDING,
        pending_shop=shop.id,
        reason=why,
        requested_by_person_id=officer_id,
        requested_by=who.actor,
        requested_at=now or utcnow(),
    )
    session.add(row)
    try:
        session.flush()
    except Exception as exc:
        if unique_violation(exc, "pending_shop"):
            raise RetryTransaction("two changes of one shop's details at once") from exc
        raise
    audit.record(
        session,
        who,
        "payee.request",
        f"payee:{row.id}",
        shop_id=shop.id,
        legal_name=details.legal_name,
        account=details.masked,
        reason=why,
    )
    return view(row, shop.name, officer=True)


def _lock(session: Session, payee_id: Any) -> Payee:
    row = (
        session.execute(
            select(Payee)
            .where(T_PAYEE.c.id == payee_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).scalar_one_or_none()
        if type(payee_id) is int
        else None
    )
    if row is None:
        raise NotFound(f"there is no change of bank details {payee_id!r}")
    return row


def approve_change(
    session: Session, who: Principal, payee_id: Any, *, now: datetime | None = None
) -> PayeeView:
    """A second officer approves pending details: they become the shop's active details and
    the previous ones are superseded. The officer who entered them cannot
    (``second_approver_required``); approving again by the same officer returns it as it is."""
    officer_id = require_role(who, Role.OFFICER)
    row = _lock(session, payee_id)
    shop = _shop(session, row.shop_id)
    if row.status != PENDING:
        if row.status == ACTIVE and row.decided_by_person_id == officer_id:
            return view(row, shop.name, officer=True)
        raise PayeeChangeNotPending(
            f"that change was already {row.status}", state=row.status, payee_id=row.id
        )
    if row.requested_by_person_id == officer_id:
        raise SecondApproverRequired(
            "you entered these bank details: another officer must approve them (four eyes)"
        )
    now = now or utcnow()
    previous = active_payee(session, row.shop_id)
    if previous is not None:
        session.execute(
            update(Payee)
            .where(T_PAYEE.c.id == previous.id)
            .values(status=SUPERSEDED, active_shop=None)
        )
        session.flush()
    row.status = ACTIVE
    row.pending_shop = None
    row.active_shop = row.shop_id
    row.decided_by_person_id = officer_id
    row.decided_by = who.actor
    row.decided_at = now
    session.add(row)
    session.flush()
    details = details_of(row)
    audit.record(
        session,
        who,
        "payee.approve",
        f"payee:{row.id}",
        shop_id=row.shop_id,
        legal_name=row.legal_name,
        account=details.masked,
        replaces=None if previous is None else previous.id,
    )
    return view(row, shop.name, officer=True)


def reject_change(
    session: Session, who: Principal, payee_id: Any, *, reason: Any, now: datetime | None = None
) -> PayeeView:
    """Reject pending details, saying why (the officer who entered them may withdraw them
    this way too). Nothing changes for the shop's active details."""
    officer_id = require_role(who, Role.OFFICER)
    why = _reason(reason)
    row = _lock(session, payee_id)
    shop = _shop(session, row.shop_id)
    if row.status != PENDING:
        raise PayeeChangeNotPending(
            f"that change was already {row.status}", state=row.status, payee_id=row.id
        )
    row.status = REJECTED
    row.pending_shop = None
    row.decided_by_person_id = officer_id if officer_id != row.requested_by_person_id else None
    row.decided_by = who.actor
    row.decided_at = now or utcnow()
    row.decision_reason = why
    session.add(row)
    session.flush()
    audit.record(session, who, "payee.reject", f"payee:{row.id}", shop_id=row.shop_id, reason=why)
    return view(row, shop.name, officer=True)


def history(session: Session, shop_id: Any, *, officer: bool) -> list[PayeeView]:
    """Every version of a shop's details, newest first (masked unless ``officer``)."""
    shop = _shop(session, shop_id)
    rows = session.execute(
        select(Payee).where(T_PAYEE.c.shop_id == shop.id).order_by(T_PAYEE.c.id.desc())
    ).scalars()
    return [view(r, shop.name, officer=officer) for r in rows]


def get_change(session: Session, payee_id: Any) -> PayeeView:
    """One version of a shop's details (officers)."""
    row = session.get(Payee, payee_id) if type(payee_id) is int else None
    if row is None:
        raise NotFound(f"there is no change of bank details {payee_id!r}")
    return view(row, _shop(session, row.shop_id).name, officer=True)


@dataclass(frozen=True, slots=True)
class ShopPayees:
    """A shop with its active details and any change waiting for approval."""

    shop_id: int
    shop_name: str
    active: PayeeView | None
    pending: PayeeView | None


def overview(session: Session, *, officer: bool) -> list[ShopPayees]:
    """Every shop with its active and pending details, by name."""
    shops = session.execute(select(Shop).order_by(Shop.name)).scalars().all()  # type: ignore[arg-type]
    rows = session.execute(
        select(Payee).where(
            (T_PAYEE.c.active_shop.is_not(None)) | (T_PAYEE.c.pending_shop.is_not(None))
        )
    ).scalars()
    active: dict[int, Payee] = {}
    pending: dict[int, Payee] = {}
    for r in rows:
        (active if r.status == ACTIVE else pending)[r.shop_id] = r
    out = []
    for shop in shops:
        assert shop.id is not None
        a, p = active.get(shop.id), pending.get(shop.id)
        out.append(
            ShopPayees(
                shop.id,
                shop.name,
                None if a is None else view(a, shop.name, officer=officer),
                None if p is None else view(p, shop.name, officer=officer),
            )
        )
    return out


def payee_of_id(session: Session, payee_id: int | None) -> Payee:
    """The payee version a settlement line pays (it always has one: see the line's CHECK)."""
    row = session.get(Payee, payee_id) if payee_id is not None else None
    if row is None:
        raise NotFound(f"there is no payee {payee_id!r}")
    return row
