"""Officer pages for partner shops and their terminals (/officer/shops)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from credits import shops
from credits.accounts import Role
from credits.api.context import current_services
from credits.api.problems import status_of
from credits.errors import CreditsError, ValidationFailed
from credits.i18n import T
from credits.web.auth import current_principal, page_requires
from credits.web.i18n import gettext

bp = Blueprint("shop_pages", __name__, url_prefix="/officer/shops")

MANAGERS = (Role.OFFICER, Role.ADMIN)


def _who() -> Any:
    who = current_principal()
    assert who is not None
    return who


def _int_field(name: str, errors: dict[str, list[str]]) -> int:
    raw = (request.form.get(name) or "").strip()
    if not raw.isdigit() or len(raw) > 9:
        errors[name] = [T("Enter a whole number.")]
        return 0
    return int(raw)


def _optional_int_field(name: str, errors: dict[str, list[str]]) -> int | None:
    """A whole number, or None when the form has no such field (kept as it is)."""
    if name not in request.form:
        return None
    return _int_field(name, errors)


def _limits_from_form(errors: dict[str, list[str]]) -> shops.OfflineLimits:
    return shops.OfflineLimits(
        floor_limit=_int_field("floor_limit", errors),
        max_count=_int_field("max_count", errors),
        max_total=_int_field("max_total", errors),
        exceptions_per_month=_optional_int_field("exceptions_per_month", errors),
        exception_credits_per_month=_optional_int_field("exception_credits_per_month", errors),
    )


@bp.route("")
@page_requires(*MANAGERS)
def index() -> str:
    """Every partner shop, with a form to add one."""
    with current_services().db.read() as s:
        all_shops = shops.list_shops(s)
        counts = {shop.id: len(shops.list_terminals(s, shop.id)) for shop in all_shops if shop.id}
    return render_template("officer/shops.html", shops=all_shops, counts=counts, form={}, errors={})


@bp.route("", methods=["POST"])
@page_requires(*MANAGERS)
def create() -> Any:
    """Add a partner shop."""
    form = {k: request.form.get(k, "") for k in ("name", "address", "contact_email")}
    who = _who()
    try:
        shop = current_services().db.run(
            lambda s: shops.create_shop(
                s,
                who,
                name=form["name"],
                address=form["address"],
                contact_email=form["contact_email"] or None,
            )
        )
    except CreditsError as exc:
        with current_services().db.read() as s:
            all_shops = shops.list_shops(s)
            counts = {x.id: len(shops.list_terminals(s, x.id)) for x in all_shops if x.id}
        errors = exc.extra.get("errors") or {"name": [exc.detail]}
        return render_template(
            "officer/shops.html",
            shops=all_shops,
            counts=counts,
            form=form,
            errors=errors,
            error=exc.detail,
        ), status_of(exc)
    flash(f"{shop.name} is now a partner shop. Add its terminal below.", "success")
    return redirect(url_for(".show", shop_id=shop.id))


def _render_shop(shop_id: int, **extra: Any) -> str:
    with current_services().db.read() as s:
        shop = shops.get_shop(s, shop_id)
        terminals = shops.list_terminals(s, shop_id)
    extra.setdefault("form", {})
    extra.setdefault("errors", {})
    return render_template(
        "officer/shop.html",
        shop=shop,
        terminals=terminals,
        defaults=shops.OfflineLimits(
            exceptions_per_month=shops.DEFAULT_EXCEPTIONS_PER_MONTH,
            exception_credits_per_month=shops.DEFAULT_EXCEPTION_CREDITS_PER_MONTH,
        ),
        **extra,
    )


@bp.route("/<int:shop_id>")
@page_requires(*MANAGERS)
def show(shop_id: int) -> str:
    """A shop: its details and terminals."""
    return _render_shop(shop_id)


@bp.route("/<int:shop_id>", methods=["POST"])
@page_requires(*MANAGERS)
def update(shop_id: int) -> Any:
    """Change a shop's details or (de)activate it."""
    action = request.form.get("action", "save")
    who = _who()
    try:
        if action in ("deactivate", "activate"):
            current_services().db.run(
                lambda s: shops.update_shop(s, who, shop_id, active=action == "activate")
            )
            flash(
                gettext("The shop is now active.")
                if action == "activate"
                else gettext(
                    "The shop is now inactive: its terminals can no longer redeem vouchers."
                ),
                "success",
            )
        else:
            name, address = request.form.get("name", ""), request.form.get("address", "")
            email = request.form.get("contact_email", "")
            current_services().db.run(
                lambda s: shops.update_shop(
                    s, who, shop_id, name=name, address=address, contact_email=email
                )
            )
            flash(gettext("Saved."), "success")
    except CreditsError as exc:
        return _render_shop(shop_id, error=exc.detail), status_of(exc)
    return redirect(url_for(".show", shop_id=shop_id))


@bp.route("/<int:shop_id>/terminals", methods=["POST"])
@page_requires(*MANAGERS)
def add_terminal(shop_id: int) -> Any:
    """Add a terminal and show its token once."""
    errors: dict[str, list[str]] = {}
    limits = _limits_from_form(errors)
    name = request.form.get("name", "")
    who = _who()
    try:
        if errors:
            raise ValidationFailed(T("Some offline limits are not whole numbers."), errors=errors)
        terminal, token = current_services().db.run(
            lambda s: shops.add_terminal(s, who, shop_id, name=name, limits=limits)
        )
    except CreditsError as exc:
        form = {
            k: request.form.get(k, "")
            for k in (
                "name",
                "floor_limit",
                "max_count",
                "max_total",
                "exceptions_per_month",
                "exception_credits_per_month",
            )
        }
        return _render_shop(
            shop_id, error=exc.detail, errors=exc.extra.get("errors", {}), form=form
        ), status_of(exc)
    with current_services().db.read() as s:
        shop = shops.get_shop(s, shop_id)
    return render_template("officer/terminal_token.html", shop=shop, terminal=terminal, token=token)


@bp.route("/<int:shop_id>/terminals/<int:terminal_id>", methods=["POST"])
@page_requires(*MANAGERS)
def terminal_action(shop_id: int, terminal_id: int) -> Any:
    """Change a terminal's limits, rotate or revoke its token, or (de)activate it."""
    action = request.form.get("action", "")
    who = _who()
    with current_services().db.read() as s:
        terminal = shops.get_terminal(s, terminal_id)
        shop = shops.get_shop(s, shop_id)
    if terminal.shop_id != shop_id:
        return _render_shop(shop_id, error=gettext("That terminal belongs to another shop.")), 404
    try:
        if action == "limits":
            errors: dict[str, list[str]] = {}
            limits = _limits_from_form(errors)
            if errors:
                raise ValidationFailed(
                    T("Some offline limits are not whole numbers."), errors=errors
                )
            current_services().db.run(
                lambda s: shops.update_terminal(s, who, terminal_id, limits=limits)
            )
            flash(gettext("Offline limits for %(name)s saved.", name=terminal.name), "success")
        elif action == "rotate":
            token = current_services().db.run(
                lambda s: shops.rotate_terminal_token(s, who, terminal_id)
            )
            return render_template(
                "officer/terminal_token.html",
                shop=shop,
                terminal=terminal,
                token=token,
                rotated=True,
            )
        elif action == "revoke":
            current_services().db.run(lambda s: shops.revoke_terminal_tokens(s, who, terminal_id))
            flash(
                gettext(
                    "%(name)s can no longer connect. Issue a new token to set it up again.",
                    name=terminal.name,
                ),
                "success",
            )
        elif action in ("deactivate", "activate"):
            current_services().db.run(
                lambda s: shops.update_terminal(s, who, terminal_id, active=action == "activate")
            )
            flash(
                gettext("%(name)s is now active.", name=terminal.name)
                if action == "activate"
                else gettext("%(name)s is now inactive.", name=terminal.name),
                "success",
            )
        else:
            raise ValidationFailed(T("Unknown action."))
    except CreditsError as exc:
        return _render_shop(shop_id, error=exc.detail), status_of(exc)
    return redirect(url_for(".show", shop_id=shop_id))
