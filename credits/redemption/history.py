"""What a member reads about their vouchers: in their history and on their home page.

A voucher's own line says what became of it ("spent at Brixton Bakery on 25 Nov, 10:31"),
so the member sees where each voucher was spent even when no change came back (then the
redemption's entry does not touch their account at all). :func:`install` plugs these into
the earning capability's history and home page; create_app calls it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from credits.ledger.periods import LONDON
from credits.redemption.models import Redemption
from credits.shops.models import Shop
from credits.vouchers.code import reference
from credits.vouchers.models import Voucher, VoucherState


def _when(moment: Any) -> str:
    local = moment.astimezone(LONDON)
    return f"{local.day} {local:%b %Y}, {local:%H:%M}"


def _ref(voucher_id: str) -> str:
    return reference(bytes.fromhex(voucher_id))


def _spent(session: Session, voucher_id: str) -> tuple[Redemption, str] | None:
    row = session.execute(
        select(Redemption, Shop.name)  # type: ignore[call-overload]
        .join(Shop, Shop.id == Redemption.shop_id)
        .where(Redemption.voucher_id == voucher_id)
    ).first()
    return None if row is None else (row[0], row[1])


def describe_voucher_issue(session: Session, row: Any) -> str:
    """'Voucher ABCD-EFGH for 20 credits: spent at Brixton Bakery on 25 Nov 2026, 10:31'."""
    voucher = session.execute(
        select(Voucher).where(Voucher.issue_entry_id == row.id)  # type: ignore[arg-type]
    ).scalar_one_or_none()
    if voucher is None:
        return "Credits put into a voucher"
    head = f"Voucher {_ref(voucher.id)} for {voucher.face_value} credits"
    if voucher.state == VoucherState.OPEN.value:
        return f"{head}: not used yet (valid until {_when(voucher.expires_at)})"
    if voucher.state == VoucherState.REDEEMED.value:
        spent = _spent(session, voucher.id)
        if spent is None:
            return f"{head}: spent"
        redemption, shop = spent
        taken = (
            ""
            if redemption.change == 0
            else f" ({redemption.amount} taken, {redemption.change} back to you)"
        )
        reversed_ = " — later reversed by the council" if redemption.reversed_at else ""
        return f"{head}: spent at {shop} on {_when(redemption.redeemed_at)}{taken}{reversed_}"
    if voucher.state == VoucherState.CANCELLED.value:
        return f"{head}: cancelled, credits back"
    return f"{head}: expired unused, credits back"


def describe_redeem(session: Session, row: Any) -> str:
    """The change that came back when a voucher was spent."""
    redemption = session.execute(
        select(Redemption).where(Redemption.entry_id == row.id)  # type: ignore[arg-type]
    ).scalar_one_or_none()
    if redemption is None:
        return "Change returned from a voucher spent at a shop"
    spent = _spent(session, redemption.voucher_id)
    shop = spent[1] if spent else "a shop"
    return f"Change from voucher {_ref(redemption.voucher_id)} spent at {shop}"


def describe_cancel(session: Session, row: Any) -> str:
    """A cancelled voucher, or the value of a reversed redemption, coming back."""
    redemption = session.execute(
        select(Redemption).where(Redemption.return_entry_id == row.id)  # type: ignore[arg-type]
    ).scalar_one_or_none()
    if redemption is not None:
        spent = _spent(session, redemption.voucher_id)
        shop = spent[1] if spent else "a shop"
        return (
            f"Voucher {_ref(redemption.voucher_id)}: the council reversed its use at {shop}; "
            "its credits are back"
        )
    voucher = session.execute(
        select(Voucher).where(Voucher.closed_entry_id == row.id)  # type: ignore[arg-type]
    ).scalar_one_or_none()
    if voucher is None:
        return "Voucher cancelled: its credits came back"
    return f"Voucher {_ref(voucher.id)} cancelled: its credits came back"


def describe_expire(session: Session, row: Any) -> str:
    """An expired voucher's value coming back (or an inactive balance lapsing)."""
    voucher = session.execute(
        select(Voucher).where(Voucher.closed_entry_id == row.id)  # type: ignore[arg-type]
    ).scalar_one_or_none()
    if voucher is not None:
        return f"Voucher {_ref(voucher.id)} expired unused: its credits came back"
    if row.amount < 0:
        return "Credits lapsed after a long time without activity"
    return "Credits expired"


def home_context(session: Session, principal: Any) -> dict[str, Any]:
    """``in_vouchers`` and the inactivity warning for the member's home page."""
    from credits.vouchers.service import balance_summary
    from credits.web.vouchers import inactivity_warning

    summary = balance_summary(session, principal.person_id)
    return {
        "in_vouchers": summary.in_vouchers,
        "warning": inactivity_warning(principal.person_id),
    }


def install() -> None:
    """Describe voucher and redemption entries in members' histories, and show vouchers on
    their home page (idempotent)."""
    from credits.earning import history
    from credits.ledger import EntryKind
    from credits.web import member

    history.DESCRIBERS.update(
        {
            EntryKind.VOUCHER_ISSUE.value: describe_voucher_issue,
            EntryKind.REDEEM.value: describe_redeem,
            EntryKind.CANCEL.value: describe_cancel,
            EntryKind.EXPIRE.value: describe_expire,
        }
    )
    if home_context not in member.HOME_CONTEXT_PROVIDERS:
        member.HOME_CONTEXT_PROVIDERS.append(home_context)
