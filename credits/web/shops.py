"""Officer pages for partner shops and their terminals (/officer/shops)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for

from credits import shops
from credits.accounts import Role
from credits.api.context import current_services
from credits.api.problems import status_of
from credits.errors import CreditsError, ValidationFailed
from credits.i18n import T
from credits.web.auth import current_principal, page_requires
from credits.web.forms import Cut, PageForm, read_form, submit
from credits.web.i18n import gettext

bp = Blueprint("shop_pages", __name__, url_prefix="/officer/shops")

MANAGERS = (Role.OFFICER, Role.ADMIN)
LIMITS = ("floor_limit", "max_count", "max_total")
#: Limits a terminal's form may leave out (None: kept as they are).
OPTIONAL_LIMITS = ("exceptions_per_month", "exception_credits_per_month")
ShopForm = PageForm.from_dict(
    {k: Cut(None) for k in ("name", "address", "contact_email")}, name="ShopForm"
)
#: A shop's page: save its details, or (de)activate it.
ShopActionForm = PageForm.from_dict(
    {
        "action": Cut(None, load_default="save"),
        **{k: Cut(None) for k in ("name", "address", "contact_email")},
    },
    name="ShopActionForm",
)
#: A terminal: add it, or change its limits, rotate or revoke its token, (de)activate it.
TerminalForm = PageForm.from_dict(
    {
        "action": Cut(None),
        "name": Cut(None),
        **{k: Cut(None) for k in LIMITS},
        **{k: Cut(None, load_default=None) for k in OPTIONAL_LIMITS},
    },
    name="TerminalForm",
)


def _who() -> Any:
    who = current_principal()
    assert who is not None
    return who


def _whole(form: dict[str, Any], name: str, errors: dict[str, list[Any]]) -> int:
    raw = (form.get(name) or "").strip()
    if not raw.isdigit() or len(raw) > 9:
        errors[name] = [T("Enter a whole number.")]
        return 0
    return int(raw)


def _limits_from_form(form: dict[str, Any]) -> shops.OfflineLimits:
    """The offline limits typed into a terminal's form; every field that is not a whole
    number is refused at once. An optional limit the form does not have stays as it is."""
    errors: dict[str, list[Any]] = {}
    limits = shops.OfflineLimits(
        **{name: _whole(form, name, errors) for name in LIMITS},
        **{
            name: None if form.get(name) is None else _whole(form, name, errors)
            for name in OPTIONAL_LIMITS
        },
    )
    if errors:
        raise ValidationFailed(T("Some offline limits are not whole numbers."), errors=errors)
    return limits


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
    who = _who()
    sent = submit(
        ShopForm,
        lambda form: current_services().db.run(
            lambda s: shops.create_shop(
                s,
                who,
                name=form["name"],
                address=form["address"],
                contact_email=form["contact_email"] or None,
            )
        ),
    )
    if (exc := sent.refusal) is not None:
        with current_services().db.read() as s:
            all_shops = shops.list_shops(s)
            counts = {x.id: len(shops.list_terminals(s, x.id)) for x in all_shops if x.id}
        errors = exc.extra.get("errors") or {"name": [exc.detail]}
        return render_template(
            "officer/shops.html",
            shops=all_shops,
            counts=counts,
            form=sent.values,
            errors=errors,
            error=exc.detail,
        ), status_of(exc)
    shop = sent.result
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
    form = read_form(ShopActionForm)
    action = form["action"]
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
            name, address, email = form["name"], form["address"], form["contact_email"]
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
    who = _who()

    def add(form: dict[str, Any]) -> Any:
        limits = _limits_from_form(form)
        return current_services().db.run(
            lambda s: shops.add_terminal(s, who, shop_id, name=form["name"], limits=limits)
        )

    sent = submit(TerminalForm, add)
    if (exc := sent.refusal) is not None:
        form = {k: sent.values.get(k) or "" for k in ("name", *LIMITS, *OPTIONAL_LIMITS)}
        return _render_shop(
            shop_id, error=exc.detail, errors=exc.extra.get("errors", {}), form=form
        ), status_of(exc)
    terminal, token = sent.result
    with current_services().db.read() as s:
        shop = shops.get_shop(s, shop_id)
    return render_template("officer/terminal_token.html", shop=shop, terminal=terminal, token=token)


@bp.route("/<int:shop_id>/terminals/<int:terminal_id>", methods=["POST"])
@page_requires(*MANAGERS)
def terminal_action(shop_id: int, terminal_id: int) -> Any:
    """Change a terminal's limits, rotate or revoke its token, or (de)activate it."""
    form = read_form(TerminalForm)
    action = form["action"]
    who = _who()
    with current_services().db.read() as s:
        terminal = shops.get_terminal(s, terminal_id)
        shop = shops.get_shop(s, shop_id)
    if terminal.shop_id != shop_id:
        return _render_shop(shop_id, error=gettext("That terminal belongs to another shop.")), 404
    try:
        if action == "limits":
            limits = _limits_from_form(form)
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
