"""Partner shops and their terminals: officers manage them; a terminal reads its own settings.

GET  /api/v1/shops                      officer, admin
POST /api/v1/shops                      officer, admin
GET  /api/v1/shops/{id}                 officer, admin; shop staff of that shop
PATCH /api/v1/shops/{id}                officer, admin
GET  /api/v1/shops/{id}/terminals       officer, admin
POST /api/v1/shops/{id}/terminals       officer, admin   (the token is in the answer, once)
PATCH /api/v1/terminals/{id}            officer, admin
POST /api/v1/terminals/{id}/token       officer, admin   (rotate; the new token shown once)
POST /api/v1/terminals/{id}/revoke      officer, admin   (every token of the terminal stops)
GET  /api/v1/terminal                   terminal: who it is and its offline limits
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from credits import shops
from credits.accounts import Role
from credits.api import inputs
from credits.api.auth import principal, require
from credits.api.context import current_services
from credits.api.inputs import Blueprint
from credits.errors import Forbidden

blp = Blueprint("shops", __name__, url_prefix="/api/v1", description="Partner shops and terminals")

MANAGERS = (Role.OFFICER, Role.ADMIN)


class OfflineLimitsSchema(ma.Schema):
    floor_limit = inputs.Integer(
        required=True,
        strict=True,
        validate=ma.validate.Range(0, 1_000_000),
        metadata={"description": "largest single redemption accepted offline (credits)"},
    )
    max_count = inputs.Integer(
        required=True,
        strict=True,
        validate=ma.validate.Range(0, 10_000),
        metadata={"description": "offline redemptions it may hold unsynced"},
    )
    max_total = inputs.Integer(
        required=True,
        strict=True,
        validate=ma.validate.Range(0, 100_000_000),
        metadata={"description": "credits it may hold unsynced in all"},
    )
    exceptions_per_month = inputs.Integer(
        strict=True,
        load_default=None,
        validate=ma.validate.Range(0, 10_000),
        metadata={
            "description": "monthly exception ceiling: offline claims of vouchers spent "
            "elsewhere paid without an officer per London month (default 3; absent: unchanged)"
        },
    )
    exception_credits_per_month = inputs.Integer(
        strict=True,
        load_default=None,
        validate=ma.validate.Range(0, 100_000_000),
        metadata={
            "description": "monthly exception ceiling in credits (default 60; absent: unchanged)"
        },
    )


class TerminalSchema(ma.Schema):
    id = inputs.Integer()
    shop_id = inputs.Integer()
    name = inputs.String()
    active = ma.fields.Boolean()
    last_seen_at = inputs.AwareDateTime(allow_none=True)
    offline = ma.fields.Nested(OfflineLimitsSchema)


class TerminalWithTokenSchema(TerminalSchema):
    token = inputs.String(metadata={"description": "shown only in this answer"})


class ShopSchema(ma.Schema):
    id = inputs.Integer()
    name = inputs.String()
    address = inputs.String()
    contact_email = inputs.String(allow_none=True)
    active = ma.fields.Boolean()
    ledger_account_id = inputs.Integer()
    created_at = inputs.AwareDateTime()


class ShopCreateSchema(ma.Schema):
    name = inputs.String(required=True, validate=ma.validate.Length(1, 120))
    address = inputs.String(load_default="", validate=ma.validate.Length(0, 300))
    contact_email = inputs.Email(load_default=None, allow_none=True)


class ShopUpdateSchema(ma.Schema):
    name = inputs.String(validate=ma.validate.Length(1, 120))
    address = inputs.String(validate=ma.validate.Length(0, 300))
    contact_email = inputs.Email(allow_none=True)
    active = ma.fields.Boolean(truthy={True}, falsy={False})


class TerminalCreateSchema(ma.Schema):
    name = inputs.String(required=True, validate=ma.validate.Length(1, 80))
    offline = ma.fields.Nested(OfflineLimitsSchema, load_default=None)


class TerminalUpdateSchema(ma.Schema):
    name = inputs.String(validate=ma.validate.Length(1, 80))
    offline = ma.fields.Nested(OfflineLimitsSchema)
    active = ma.fields.Boolean(truthy={True}, falsy={False})


class TerminalTokenSchema(ma.Schema):
    token = inputs.String(metadata={"description": "shown only in this answer"})


class TerminalRevokedSchema(ma.Schema):
    revoked = inputs.Integer(metadata={"description": "how many tokens stopped working"})


class TerminalSelfSchema(ma.Schema):
    id = inputs.Integer()
    name = inputs.String()
    shop = ma.fields.Dict()
    offline = ma.fields.Nested(OfflineLimitsSchema)


def _terminal(t: shops.Terminal, token: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": t.id,
        "shop_id": t.shop_id,
        "name": t.name,
        "active": t.active,
        "last_seen_at": t.last_seen_at,
        "offline": {
            "floor_limit": t.floor_limit,
            "max_count": t.max_offline_count,
            "max_total": t.max_offline_total,
            "exceptions_per_month": t.exceptions_per_month,
            "exception_credits_per_month": t.exception_credits_per_month,
        },
    }
    if token is not None:
        out["token"] = token
    return out


def _limits(data: dict[str, int] | None) -> shops.OfflineLimits | None:
    if data is None:
        return None
    return shops.OfflineLimits(
        data["floor_limit"],
        data["max_count"],
        data["max_total"],
        data["exceptions_per_month"],
        data["exception_credits_per_month"],
    )


@blp.route("/shops")
@require(*MANAGERS)
@blp.response(200, ShopSchema(many=True))
def list_shops() -> list[shops.Shop]:
    """Every partner shop, by name."""
    with current_services().db.read() as s:
        return shops.list_shops(s)


@blp.route("/shops", methods=["POST"])
@require(*MANAGERS)
@blp.arguments(ShopCreateSchema)
@blp.response(201, ShopSchema)
@inputs.refuses(shop_exists=409)
def create_shop(data: dict[str, Any]) -> shops.Shop:
    """Register a partner shop (its ledger account is opened with it)."""
    who = principal()
    return current_services().db.run(lambda s: shops.create_shop(s, who, **data))


@blp.route("/shops/<int:shop_id>")
@require(*MANAGERS, Role.SHOP_STAFF)
@blp.response(200, ShopSchema)
def get_shop(shop_id: int) -> shops.Shop:
    """One shop. Shop staff may read only their own."""
    who = principal()
    if who.role is Role.SHOP_STAFF and who.scope_ref != f"shop:{shop_id}":
        raise Forbidden("shop staff can only see their own shop")
    with current_services().db.read() as s:
        return shops.get_shop(s, shop_id)


@blp.route("/shops/<int:shop_id>", methods=["PATCH"])
@require(*MANAGERS)
@blp.arguments(ShopUpdateSchema)
@blp.response(200, ShopSchema)
@inputs.refuses(shop_exists=409)
def update_shop(data: dict[str, Any], shop_id: int) -> shops.Shop:
    """Change a shop's details, or (de)activate it (an inactive shop's terminals stop)."""
    who = principal()
    return current_services().db.run(lambda s: shops.update_shop(s, who, shop_id, **data))


@blp.route("/shops/<int:shop_id>/terminals")
@require(*MANAGERS)
@blp.response(200, TerminalSchema(many=True))
def list_terminals(shop_id: int) -> list[dict[str, Any]]:
    """A shop's terminals, with their offline limits and when each was last seen."""
    with current_services().db.read() as s:
        return [_terminal(t) for t in shops.list_terminals(s, shop_id)]


@blp.route("/shops/<int:shop_id>/terminals", methods=["POST"])
@require(*MANAGERS)
@blp.arguments(TerminalCreateSchema)
@blp.response(201, TerminalWithTokenSchema)
@inputs.refuses(terminal_exists=409)
def add_terminal(data: dict[str, Any], shop_id: int) -> dict[str, Any]:
    """Add a terminal; its token is in this answer and never shown again."""
    who = principal()
    terminal, token = current_services().db.run(
        lambda s: shops.add_terminal(
            s, who, shop_id, name=data["name"], limits=_limits(data["offline"])
        )
    )
    return _terminal(terminal, token)


@blp.route("/terminals/<int:terminal_id>", methods=["PATCH"])
@require(*MANAGERS)
@blp.arguments(TerminalUpdateSchema)
@blp.response(200, TerminalSchema)
@inputs.refuses(terminal_exists=409)
def update_terminal(data: dict[str, Any], terminal_id: int) -> dict[str, Any]:
    """Rename a terminal, change its offline limits, or (de)activate it."""
    who = principal()
    terminal = current_services().db.run(
        lambda s: shops.update_terminal(
            s,
            who,
            terminal_id,
            name=data.get("name"),
            limits=_limits(data.get("offline")),
            active=data.get("active"),
        )
    )
    return _terminal(terminal)


@blp.route("/terminals/<int:terminal_id>/token", methods=["POST"])
@require(*MANAGERS)
@blp.response(201, TerminalTokenSchema)
def rotate_token(terminal_id: int) -> dict[str, str]:
    """Stop the terminal's current tokens and issue a new one (shown only here)."""
    who = principal()
    token = current_services().db.run(lambda s: shops.rotate_terminal_token(s, who, terminal_id))
    return {"token": token}


@blp.route("/terminals/<int:terminal_id>/revoke", methods=["POST"])
@require(*MANAGERS)
@blp.response(200, TerminalRevokedSchema)
def revoke_tokens(terminal_id: int) -> dict[str, int]:
    """Stop every token of a terminal at once (a lost or stolen tablet)."""
    who = principal()
    return {
        "revoked": current_services().db.run(
            lambda s: shops.revoke_terminal_tokens(s, who, terminal_id)
        )
    }


@blp.route("/terminal")
@require(Role.TERMINAL)
@blp.response(200, TerminalSelfSchema)
def terminal_self() -> dict[str, Any]:
    """Who this terminal is, its shop, and what it may accept while offline."""
    who = principal()
    assert who.terminal_id is not None
    terminal_id = who.terminal_id
    with current_services().db.read() as s:
        terminal = shops.get_terminal(s, terminal_id)
        shop = shops.get_shop(s, terminal.shop_id)
        out = _terminal(terminal)
        return {
            "id": terminal.id,
            "name": terminal.name,
            "shop": {"id": shop.id, "name": shop.name},
            "offline": out["offline"],
        }
