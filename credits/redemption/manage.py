"""After the counter: looking redemptions up, reversing one, the exceptions queue, and the
terminals' journals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from credits import audit, ledger
from credits.accounts.models import Person
from credits.db import utcnow
from credits.errors import Conflict, Forbidden, NotFound, ValidationFailed
from credits.i18n import Fmt, T, format_day
from credits.redemption.models import Redemption, RedemptionException, TerminalJournalEntry
from credits.redemption.service import exception_body, redemption_body
from credits.shops.models import Shop, Terminal
from credits.vouchers.code import reference
from credits.vouchers.models import Voucher

MAX_REASON_CHARS = 500
MAX_JOURNAL_ENTRIES = 500


class RedemptionReversed(Conflict):
    code = "already_reversed"
    title = T("That redemption has already been reversed")


def _shop_scope(principal: Any) -> int | None:
    """The shop a terminal or shop staff is limited to (None: officers see every shop)."""
    scope = getattr(principal, "scope_ref", None)
    if scope and scope.startswith("shop:"):
        return int(scope.split(":", 1)[1])
    return None


def get_redemption(session: Session, principal: Any, redemption_id: str) -> Redemption:
    """One redemption; terminals and shop staff see only their own shop's."""
    row = session.get(Redemption, redemption_id) if _is_id(redemption_id) else None
    shop = _shop_scope(principal)
    if row is None or (shop is not None and row.shop_id != shop):
        raise NotFound("there is no such redemption at this shop")
    return row


def _is_id(value: str) -> bool:
    return len(value) == 32 and all(c in "0123456789abcdef" for c in value)


def list_redemptions(
    session: Session,
    principal: Any,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    shop_id: int | None = None,
    limit: int = 50,
) -> list[Redemption]:
    """Redemptions newest first (terminals and shop staff: their own shop only)."""
    if not 1 <= limit <= 200:
        raise ValidationFailed("limit must be 1 to 200", errors={"limit": ["1 to 200."]})
    scope = _shop_scope(principal)
    if scope is not None:
        if shop_id is not None and shop_id != scope:
            raise Forbidden("you can only see your own shop's redemptions")
        shop_id = scope
    query = select(Redemption).order_by(Redemption.redeemed_at.desc()).limit(limit)  # type: ignore[attr-defined]
    if shop_id is not None:
        query = query.where(Redemption.shop_id == shop_id)  # type: ignore[arg-type]
    if since is not None:
        query = query.where(Redemption.redeemed_at >= since)  # type: ignore[arg-type, operator]
    if until is not None:
        query = query.where(Redemption.redeemed_at < until)  # type: ignore[arg-type, operator]
    return list(session.execute(query).scalars())


def reverse_redemption(
    session: Session, by: Any, redemption_id: str, *, reason: str, now: datetime | None = None
) -> Redemption:
    """Undo a redemption (an officer, with a reason): the shop gives back what it took and
    the member gets the voucher's whole value back, in the open month.

    Two entries in one transaction: the mirror image of the redeem entry (kind ``reversal``,
    linked to it) and the voucher's value returned to the member (kind ``cancel``). The
    return is posted first so the member's balance never dips while the change comes back.
    The voucher stays closed. A redemption is reversed at most once.
    """
    reason = " ".join((reason or "").split())
    if not 0 < len(reason) <= MAX_REASON_CHARS:
        raise ValidationFailed(
            T("say why (at most %(count)s characters)", count=MAX_REASON_CHARS),
            errors={"reason": [T("Required.")]},
        )
    if not _is_id(redemption_id):
        raise NotFound(T("there is no such redemption"))
    row = session.execute(
        select(Redemption).where(Redemption.id == redemption_id).with_for_update()  # type: ignore[arg-type]
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(T("there is no such redemption"))
    if row.reversed_at is not None:
        raise RedemptionReversed(
            T(
                "this redemption was already reversed on %(day)s by %(who)s",
                day=Fmt(format_day, row.reversed_at),
                who=row.reversed_by,
            )
        )
    now = now or utcnow()
    ref = reference(bytes.fromhex(row.voucher_id))
    member_account = _voucher_account(session, row.voucher_id)
    returned = ledger.post_entry(
        session,
        ledger.EntryRequest(
            kind=ledger.EntryKind.CANCEL,
            legs=(
                ledger.Leg(
                    ledger.scheme_account(session, ledger.VOUCHERS_OUTSTANDING).id,
                    -row.face_value,
                ),
                ledger.Leg(member_account, row.face_value),
            ),
            memo=f"Voucher {ref}: its value returned after its redemption was reversed",
            actor=by.actor,
            idempotency_key=f"redemption-return:{row.id}",
        ),
        now=now,
    )
    mirror = ledger.reverse(
        session,
        row.entry_id,
        memo=f"Redemption of voucher {ref} reversed: {reason}"[:500],
        actor=by.actor,
        idempotency_key=f"redemption-reversal:{row.id}",
        now=now,
    )
    row.reversed_at = now
    row.reversed_by = by.actor
    row.reversal_reason = reason
    row.reversal_entry_id = mirror.id
    row.return_entry_id = returned.id
    session.add(row)
    session.flush()
    audit.record(
        session,
        by,
        "redemption.reverse",
        f"redemption:{row.id}",
        reason=reason,
        shop_id=row.shop_id,
        amount=row.amount,
        voucher=ref,
    )
    return row


def _voucher_account(session: Session, voucher_id: str) -> int:
    voucher = session.get(Voucher, voucher_id)
    assert voucher is not None
    return voucher.account_id


def list_exceptions(
    session: Session, *, open_only: bool = True, status: str | None = None, limit: int = 100
) -> list[RedemptionException]:
    """Offline claims on closed vouchers for officers (paid, held, refused, declined), newest
    first; ``open_only``: not yet resolved."""
    query = (
        select(RedemptionException)
        .order_by(
            RedemptionException.submitted_at.desc()  # type: ignore[attr-defined]
        )
        .limit(limit)
    )
    if open_only:
        query = query.where(RedemptionException.resolved_at.is_(None))  # type: ignore[union-attr]
    if status is not None:
        query = query.where(RedemptionException.status == status)  # type: ignore[arg-type]
    return list(session.execute(query).scalars())


def resolve_exception(
    session: Session, by: Any, exception_id: str, *, resolution: str
) -> RedemptionException:
    """Record how officers dealt with an exception (e.g. "member repaid 12 credits")."""
    resolution = " ".join((resolution or "").split())
    if not 0 < len(resolution) <= MAX_REASON_CHARS:
        raise ValidationFailed(
            T("say how it was resolved"), errors={"resolution": [T("Required.")]}
        )
    row = session.get(RedemptionException, exception_id) if _is_id(exception_id) else None
    if row is None:
        raise NotFound(T("there is no such exception"))
    if row.resolved_at is not None:
        raise Conflict(
            T(
                "already resolved by %(who)s: %(resolution)s",
                who=row.resolved_by,
                resolution=row.resolution,
            )
        )
    row.resolved_at = utcnow()
    row.resolved_by = by.actor
    row.resolution = resolution
    session.add(row)
    session.flush()
    audit.record(session, by, "exception.resolve", f"exception:{row.id}", resolution=resolution)
    return row


@dataclass(frozen=True, slots=True)
class JournalReport:
    """One scan as a terminal reports it (docs/api-terminal.md)."""

    scan_id: str
    voucher_id: str
    amount: int
    outcome: str
    redemption_id: str | None
    at: datetime
    reason: str | None = None
    offline_accepted_at: datetime | None = None
    extra: dict[str, Any] | None = None


def record_journal(
    session: Session, terminal_id: int, shop_id: int, reports: list[JournalReport]
) -> int:
    """Store a terminal's reports; the latest report for a scan replaces the earlier one,
    and an identical one changes nothing. Returns how many were accepted (all of them)."""
    if not 1 <= len(reports) <= MAX_JOURNAL_ENTRIES:
        raise ValidationFailed(f"send 1 to {MAX_JOURNAL_ENTRIES} entries per call")
    now = utcnow()
    for r in reports:
        if r.at > now + timedelta(minutes=5):
            raise ValidationFailed(
                f"scan {r.scan_id}: its time is in the future", errors={"at": ["In the future."]}
            )
    for r in reports:
        fields = {
            "shop_id": shop_id,
            "voucher_id": r.voucher_id,
            "amount": r.amount,
            "outcome": r.outcome,
            "reason": r.reason,
            "redemption_id": r.redemption_id,
            "at": r.at,
            "offline_accepted_at": r.offline_accepted_at,
            "extra": r.extra or None,
        }
        row = session.get(TerminalJournalEntry, (terminal_id, r.scan_id))
        if row is None:
            session.add(
                TerminalJournalEntry(
                    terminal_id=terminal_id, scan_id=r.scan_id, received_at=now, **fields
                )
            )
        elif any(getattr(row, k) != v for k, v in fields.items()):
            for k, v in fields.items():
                setattr(row, k, v)
            row.received_at = now
            session.add(row)
    session.flush()
    return len(reports)


def render(row: Redemption | RedemptionException) -> dict[str, Any]:
    """The API body of either kind of row."""
    if isinstance(row, Redemption):
        return redemption_body(row)
    return exception_body(row)


@dataclass(frozen=True, slots=True)
class RedemptionDetail:
    """One redemption with what an officer's page shows beside it."""

    redemption: Redemption
    voucher: Voucher | None
    shop: Shop | None
    terminal: Terminal | None
    person: Person | None


def redemption_detail(session: Session, redemption_id: str) -> RedemptionDetail:
    """A redemption with its voucher, shop, terminal and member (officers' pages)."""
    row = session.get(Redemption, redemption_id)
    if row is None:
        raise NotFound(T("there is no such redemption"))
    voucher = session.get(Voucher, row.voucher_id)
    return RedemptionDetail(
        redemption=row,
        voucher=voucher,
        shop=session.get(Shop, row.shop_id),
        terminal=session.get(Terminal, row.terminal_id),
        person=session.get(Person, voucher.person_id) if voucher else None,
    )


@dataclass(frozen=True, slots=True)
class VoucherDetail:
    """One voucher with its member, its redemption and its offline double spends."""

    voucher: Voucher
    person: Person | None
    spent: Redemption | None
    doubles: list[RedemptionException]


def voucher_detail(session: Session, voucher_id: str) -> VoucherDetail:
    """A voucher, who holds it, how it was spent and any double spends of it, oldest first."""
    voucher = session.get(Voucher, voucher_id)
    if voucher is None:
        raise NotFound(T("there is no such voucher"))
    t_red = Redemption.__table__  # type: ignore[attr-defined]
    t_exc = RedemptionException.__table__  # type: ignore[attr-defined]
    spent = session.execute(
        select(Redemption).where(t_red.c.voucher_id == voucher_id)
    ).scalar_one_or_none()
    doubles = session.execute(
        select(RedemptionException)
        .where(t_exc.c.voucher_id == voucher_id)
        .order_by(t_exc.c.submitted_at)
    ).scalars()
    return VoucherDetail(
        voucher=voucher,
        person=session.get(Person, voucher.person_id),
        spent=spent,
        doubles=list(doubles),
    )


def exception_voucher_id(session: Session, exception_id: str) -> str | None:
    """The voucher an exception is about, or None when there is no such exception."""
    row = session.get(RedemptionException, exception_id)
    return row.voucher_id if row is not None else None
