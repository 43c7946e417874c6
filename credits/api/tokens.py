"""API tokens: your own (any person's token) and everyone's (officers).

A token's secret is in the response that creates it and nowhere else, ever. Through the API a
token can only make tokens for its own role; the pages (signed in with a password) can make
them for any role the person holds.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from credits.accounts import tokens
from credits.accounts.models import ApiToken, Role
from credits.api import inputs
from credits.api.auth import principal, require
from credits.api.context import current_services
from credits.api.inputs import Blueprint
from credits.api.pagination import PageArgs, page_out, page_schema

PEOPLE_ROLES = (Role.MEMBER, Role.COORDINATOR, Role.SHOP_STAFF, Role.OFFICER, Role.ADMIN)
OFFICERS = (Role.OFFICER, Role.ADMIN)

my_blp = Blueprint(
    "my_tokens", __name__, url_prefix="/api/v1/me/tokens", description="Your own API tokens"
)
blp = Blueprint(
    "tokens", __name__, url_prefix="/api/v1/tokens", description="Everyone's API tokens (officers)"
)


class TokenSchema(ma.Schema):
    id = inputs.Integer()
    name = inputs.String()
    role = inputs.String()
    prefix = inputs.String(metadata={"description": "the first characters, to recognise it"})
    person_id = inputs.Integer(allow_none=True)
    holder = inputs.String(allow_none=True, metadata={"description": "the holder's name"})
    active = ma.fields.Boolean()
    created_at = inputs.AwareDateTime()
    created_by = inputs.String()
    revoked_at = inputs.AwareDateTime(allow_none=True)
    revoked_by = inputs.String(allow_none=True)
    last_used_at = inputs.AwareDateTime(allow_none=True)


class NewTokenSchema(TokenSchema):
    token = inputs.String(metadata={"description": "the secret: shown this once only"})


class CreateTokenSchema(ma.Schema):
    name = inputs.String(required=True, validate=ma.validate.Length(min=1, max=100))
    role = inputs.String(
        validate=ma.validate.OneOf([r.value for r in PEOPLE_ROLES]),
        metadata={"description": "default: this token's role (the only one allowed here)"},
    )


class TokenArgs(PageArgs):
    active = ma.fields.Boolean(metadata={"description": "true: working; false: revoked"})


class AllTokenArgs(TokenArgs):
    person_id = inputs.Integer(validate=ma.validate.Range(min=1))


def token_out(token: ApiToken, names: dict[int, str] | None = None) -> dict[str, Any]:
    """A token as TokenSchema expects it (never its secret)."""
    data = {k: getattr(token, k) for k in TokenSchema().fields if hasattr(token, k)}
    data["active"] = token.revoked_at is None
    data["holder"] = (names or {}).get(token.person_id) if token.person_id else None
    return data


def _page(args: dict[str, Any], person_id: int | None) -> dict[str, Any]:
    def read(s: Any) -> tuple[Any, dict[int, str]]:
        found = tokens.list_tokens(
            s,
            person_id=person_id,
            active=args.get("active"),
            page=args["page"],
            per_page=args["per_page"],
        )
        return found, tokens.holders(s, found.items)

    found, names = current_services().db.run(read)
    return page_out(found, lambda t: token_out(t, names))


@my_blp.route("")
@require(*PEOPLE_ROLES)
@my_blp.arguments(TokenArgs, location="query")
@my_blp.response(200, page_schema(TokenSchema, "MyTokensPage"))
def list_my_tokens(args: dict[str, Any]) -> dict[str, Any]:
    """Your tokens, newest first (never their secrets)."""
    return _page(args, principal().person_id)


@my_blp.route("", methods=["POST"])
@require(*PEOPLE_ROLES)
@my_blp.arguments(CreateTokenSchema)
@my_blp.response(201, NewTokenSchema)
@inputs.refuses(too_many_tokens=409)
def create_my_token(args: dict[str, Any]) -> dict[str, Any]:
    """Make a token for this token's role; the secret is in this response only."""
    who = principal()
    token, secret = current_services().db.run(
        lambda s: tokens.create_own_token(
            s, who, name=args["name"], role=args.get("role", who.role.value), any_held_role=False
        )
    )
    data = token_out(token, {who.person_id: who.name} if who.person_id else None)
    data["token"] = secret
    return data


@my_blp.route("/<int:token_id>/revoke", methods=["POST"])
@require(*PEOPLE_ROLES)
@my_blp.response(200, TokenSchema)
def revoke_my_token(token_id: int) -> dict[str, Any]:
    """Revoke one of your tokens (this one too, if you ask)."""
    who = principal()
    token = current_services().db.run(lambda s: tokens.revoke(s, who, token_id, own_only=True))
    return token_out(token)


@blp.route("")
@require(*OFFICERS)
@blp.arguments(AllTokenArgs, location="query")
@blp.response(200, page_schema(TokenSchema, "TokensPage"))
def list_tokens(args: dict[str, Any]) -> dict[str, Any]:
    """Everyone's tokens (people's and shop terminals'), newest first."""
    return _page(args, args.get("person_id"))


@blp.route("/<int:token_id>/revoke", methods=["POST"])
@require(*OFFICERS)
@blp.response(200, TokenSchema)
def revoke_token(token_id: int) -> dict[str, Any]:
    """Revoke anyone's token, at once."""
    who = principal()
    token = current_services().db.run(lambda s: tokens.revoke(s, who, token_id, own_only=False))
    return token_out(token)
