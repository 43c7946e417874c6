"""What a member reads about their vouchers: in their history and on their home page.

A voucher's own line says what became of it ("spent at Brixton Bakery on 25 Nov, 10:31"),
so the member sees where each voucher was spent even when no change came back (then the
redemption's entry does not touch their account at all). :func:`install` plugs these into
the earning capability's history (its ``DESCRIBERS``); create_app calls it. The home page's
vouchers panel is the pages' own business: credits/web/vouchers.py ``home_context``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from credits.i18n import T, Tn
from credits.redemption.models import Redemption
from credits.shops.models import Shop
from credits.vouchers.code import reference
from credits.vouchers.models import Voucher, VoucherState


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
        return T("Credits put into a voucher")
    head = Tn(
        "Voucher %(ref)s for %(num)s credit",
        "Voucher %(ref)s for %(num)s credits",
        voucher.face_value,
        ref=_ref(voucher.id),
    )
    if voucher.state == VoucherState.OPEN.value:
        return T(
            "%(voucher)s: not used yet (valid until %(when)s)",
            voucher=head,
            when=voucher.expires_at,
        )
    if voucher.state == VoucherState.REDEEMED.value:
        spent = _spent(session, voucher.id)
        if spent is None:
            return T("%(voucher)s: spent", voucher=head)
        redemption, shop = spent
        values = {"voucher": head, "shop": shop, "when": redemption.redeemed_at}
        if redemption.change == 0:
            text = T("%(voucher)s: spent at %(shop)s on %(when)s", **values)
        else:
            text = T(
                "%(voucher)s: spent at %(shop)s on %(when)s (%(taken)s taken, %(back)s back to "
                "you)",
                taken=redemption.amount,
                back=redemption.change,
                **values,
            )
        if redemption.reversed_at:
            return T("%(what)s — later reversed by the council", what=text)
        return text
    if voucher.state == VoucherState.CANCELLED.value:
        return T("%(voucher)s: cancelled, credits back", voucher=head)
    return T("%(voucher)s: expired unused, credits back", voucher=head)


def describe_redeem(session: Session, row: Any) -> str:
    """The change that came back when a voucher was spent."""
    redemption = session.execute(
        select(Redemption).where(Redemption.entry_id == row.id)  # type: ignore[arg-type]
    ).scalar_one_or_none()
    if redemption is None:
        return T("Change returned from a voucher spent at a shop")
    spent = _spent(session, redemption.voucher_id)
    shop = spent[1] if spent else T("a shop")
    return T(
        "Change from voucher %(ref)s spent at %(shop)s", ref=_ref(redemption.voucher_id), shop=shop
    )


def describe_cancel(session: Session, row: Any) -> str:
    """A cancelled voucher, or the value of a reversed redemption, coming back."""
    redemption = session.execute(
        select(Redemption).where(Redemption.return_entry_id == row.id)  # type: ignore[arg-type]
    ).scalar_one_or_none()
    if redemption is not None:
        spent = _spent(session, redemption.voucher_id)
        shop = spent[1] if spent else T("a shop")
        return T(
            "Voucher %(ref)s: the council reversed its use at %(shop)s; its credits are back",
            ref=_ref(redemption.voucher_id),
            shop=shop,
        )
    voucher = session.execute(
        select(Voucher).where(Voucher.closed_entry_id == row.id)  # type: ignore[arg-type]
    ).scalar_one_or_none()
    if voucher is None:
        return T("Voucher cancelled: its credits came back")
    return T("Voucher %(ref)s cancelled: its credits came back", ref=_ref(voucher.id))


def describe_expire(session: Session, row: Any) -> str:
    """An expired voucher's value coming back (or an inactive balance lapsing)."""
    voucher = session.execute(
        select(Voucher).where(Voucher.closed_entry_id == row.id)  # type: ignore[arg-type]
    ).scalar_one_or_none()
    if voucher is not None:
        return T("Voucher %(ref)s expired unused: its credits came back", ref=_ref(voucher.id))
    if row.amount < 0:
        return T("Credits lapsed after a long time without activity")
    return T("Credits expired")


def install() -> None:
    """Describe voucher and redemption entries in members' histories (idempotent)."""
    from credits.earning import history
    from credits.ledger import EntryKind

    history.DESCRIBERS.update(
        {
            EntryKind.VOUCHER_ISSUE.value: describe_voucher_issue,
            EntryKind.REDEEM.value: describe_redeem,
            EntryKind.CANCEL.value: describe_cancel,
            EntryKind.EXPIRE.value: describe_expire,
        }
    )
