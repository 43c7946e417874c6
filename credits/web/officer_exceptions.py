"""The exceptions queue and the pages its items link to (officers and admins).

    /officer/exceptions                         the whole queue: ?kind=&shop=&month=YYYY-MM
    /officer/redemptions/<id>                   one redemption; reverse it (with a reason)
    /officer/redemptions/<id>/reverse           POST: credits.redemption.manage.reverse_redemption
    /officer/vouchers/<id>                      one voucher: its member, redemption, exceptions
    /officer/redemption-exceptions/<id>/resolve POST: record how a double spend was dealt with
    /officer/redemption-exceptions/<id>/pay     POST: pay a held claim (credits.redemption.claims)
    /officer/redemption-exceptions/<id>/decline POST: decline a held claim, with a reason

Reversing and resolving are the redemption capability's use cases (audited there); every
form carries the CSRF token, and a refusal is shown on the page and changes nothing.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from credits import dashboard
from credits.accounts.models import Role
from credits.api.context import current_services
from credits.errors import CreditsError, ValidationFailed
from credits.i18n import T
from credits.ledger import Month
from credits.redemption import claims, manage
from credits.shops.service import shop_names
from credits.vouchers.code import reference
from credits.web.account import form_error
from credits.web.auth import current_principal, page_requires
from credits.web.forms import Cut, PageForm, submit
from credits.web.i18n import gettext

bp = Blueprint("officer_exceptions", __name__, url_prefix="/officer")

OFFICERS = (Role.OFFICER, Role.ADMIN)
ReasonForm = PageForm.from_dict({"reason": Cut(600)}, name="ReasonForm")
ResolutionForm = PageForm.from_dict({"resolution": Cut(600)}, name="ResolutionForm")
_HEX32 = frozenset("0123456789abcdef")
#: An offline claim's status, as its tag says it.
STATUS_WORDS = {
    "paid": T("Paid by the scheme"),
    "held": T("Held for a decision"),
    "refused": T("Refused"),
    "declined": T("Declined"),
    "overpaid": T("Paid twice (before the rule)"),
}


def _who() -> Any:
    who = current_principal()
    assert who is not None
    return who


def _hex_id(value: str) -> str:
    if len(value) != 32 or not set(value) <= _HEX32:
        abort(404)
    return value


@bp.route("/exceptions")
@page_requires(*OFFICERS)
def index() -> Any:
    """Every exception, newest first, filtered by kind, shop and London month."""
    filters = {
        "kind": request.args.get("kind", "")[:20],
        "shop": request.args.get("shop", "")[:20],
        "month": request.args.get("month", "")[:7],
    }
    status = 200
    info: dict[str, Any] = {}
    items: list[dashboard.QueueItem] = []
    try:
        kind = filters["kind"] or None
        if kind is not None and kind not in dashboard.KINDS:
            raise ValidationFailed(
                T("choose a kind from the list"), errors={"kind": [T("Unknown.")]}
            )
        shop_id = None
        if filters["shop"]:
            if not filters["shop"].isdigit():
                raise ValidationFailed(
                    T("choose a shop from the list"), errors={"shop": [T("Unknown.")]}
                )
            shop_id = int(filters["shop"])
        month = Month.parse(filters["month"]) if filters["month"] else None
    except CreditsError as exc:
        info = form_error(exc)
        status = info.pop("status")
        shops = current_services().db.run(shop_names)
    else:
        items, shops = current_services().db.run(
            lambda s: (
                dashboard.exceptions_queue(
                    s,
                    kind=kind,
                    shop_id=shop_id,
                    month=month,
                    limit=dashboard.review_queue.MAX_ITEMS,
                ),
                shop_names(s),
            )
        )
    return (
        render_template(
            "officer/exceptions.html",
            items=items,
            filters=filters,
            kinds=dashboard.KINDS,
            shops=shops,
            limit=dashboard.review_queue.MAX_ITEMS,
            **info,
        ),
        status,
    )


def _redemption_context(redemption_id: str) -> dict[str, Any]:
    found = current_services().db.run(lambda s: manage.redemption_detail(s, redemption_id))
    return {
        "r": found.redemption,
        "voucher": found.voucher,
        "ref": reference(bytes.fromhex(found.redemption.voucher_id)),
        "shop": found.shop,
        "terminal": found.terminal,
        "person": found.person,
    }


@bp.route("/redemptions/<redemption_id>")
@page_requires(*OFFICERS)
def redemption(redemption_id: str, status: int = 200, **extra: Any) -> Any:
    """One redemption: where, when (and when accepted offline), how much, and its reversal."""
    context = _redemption_context(_hex_id(redemption_id))
    return render_template("officer/redemption.html", **context, **extra), status


@bp.route("/redemptions/<redemption_id>/reverse", methods=["POST"])
@page_requires(*OFFICERS)
def reverse(redemption_id: str) -> Any:
    """Reverse a redemption, with a reason: the shop gives back what it took and the member
    gets the voucher's value back, in the open month (audited by the use case)."""
    redemption_id = _hex_id(redemption_id)
    who = _who()
    sent = submit(
        ReasonForm,
        lambda form: current_services().db.run(
            lambda s: manage.reverse_redemption(s, who, redemption_id, reason=form["reason"])
        ),
    )
    if sent.refusal is not None:
        info = form_error(sent.refusal)
        return redemption(
            redemption_id, info.pop("status"), reason=sent.values.get("reason", ""), **info
        )
    flash(
        gettext(
            "Reversed: the shop's credits are taken back and the member has the voucher's "
            "value again."
        ),
        "success",
    )
    return redirect(url_for("officer_exceptions.redemption", redemption_id=redemption_id))


@bp.route("/vouchers/<voucher_id>")
@page_requires(*OFFICERS)
def voucher(voucher_id: str, status: int = 200, **extra: Any) -> Any:
    """One voucher: its member, state, redemption and any offline double spends of it."""
    voucher_id = _hex_id(voucher_id)

    found, shops = current_services().db.run(
        lambda s: (manage.voucher_detail(s, voucher_id), dict(shop_names(s)))
    )
    context = {
        "v": found.voucher,
        "ref": reference(bytes.fromhex(found.voucher.id)),
        "person": found.person,
        "spent": found.spent,
        "doubles": found.doubles,
        "shop_names": shops,
        "status_words": STATUS_WORDS,
    }
    return render_template("officer/voucher.html", **context, **extra), status


@bp.route("/redemption-exceptions/<exception_id>/resolve", methods=["POST"])
@page_requires(*OFFICERS)
def resolve(exception_id: str) -> Any:
    """Record how an offline double spend was dealt with (audited by the use case)."""
    exception_id = _hex_id(exception_id)
    who = _who()
    voucher_id = current_services().db.run(lambda s: manage.exception_voucher_id(s, exception_id))
    if voucher_id is None:
        abort(404)
    sent = submit(
        ResolutionForm,
        lambda form: current_services().db.run(
            lambda s: manage.resolve_exception(s, who, exception_id, resolution=form["resolution"])
        ),
    )
    if sent.refusal is not None:
        info = form_error(sent.refusal)
        return voucher(
            voucher_id,
            info.pop("status"),
            resolving=exception_id,
            resolution=sent.values.get("resolution", ""),
            **info,
        )
    flash(gettext("Recorded how the double spend was resolved."), "success")
    return redirect(url_for("officer_exceptions.voucher", voucher_id=voucher_id))


def _decide(exception_id: str, verb: str) -> Any:
    exception_id = _hex_id(exception_id)
    who = _who()
    voucher_id = current_services().db.run(lambda s: manage.exception_voucher_id(s, exception_id))
    if voucher_id is None:
        abort(404)
    decide = claims.pay_held if verb == "pay" else claims.decline_held
    sent = submit(
        ReasonForm,
        lambda form: current_services().db.run(
            lambda s: decide(s, who, exception_id, reason=form["reason"])
        ),
    )
    if sent.refusal is not None:
        info = form_error(sent.refusal)
        return voucher(
            voucher_id,
            info.pop("status"),
            deciding=exception_id,
            reason=sent.values.get("reason", ""),
            **info,
        )
    flash(
        "Paid: the scheme paid the shop what it accepted."
        if verb == "pay"
        else "Declined: nothing was paid.",
        "success",
    )
    return redirect(url_for("officer_exceptions.voucher", voucher_id=voucher_id))


@bp.route("/redemption-exceptions/<exception_id>/pay", methods=["POST"])
@page_requires(*OFFICERS)
def pay(exception_id: str) -> Any:
    """Pay a held offline claim: one balanced entry, in the open month (audited)."""
    return _decide(exception_id, "pay")


@bp.route("/redemption-exceptions/<exception_id>/decline", methods=["POST"])
@page_requires(*OFFICERS)
def decline(exception_id: str) -> Any:
    """Decline a held offline claim, with a reason: nothing is paid (audited)."""
    return _decide(exception_id, "decline")
