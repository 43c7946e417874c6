"""Redemption at partner shops (docs/api-terminal.md).

POST /api/v1/redemptions                       terminal (contract v1; offline extension)
GET  /api/v1/redemptions                       terminal, shop staff (own shop), officer
GET  /api/v1/redemptions/{id}                  terminal, shop staff (own shop), officer
POST /api/v1/redemptions/{id}/reverse          officer
GET  /api/v1/redemption-exceptions             officer
POST /api/v1/redemption-exceptions/{id}/resolve   officer
POST /api/v1/terminal/journal                  terminal
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint

from credits.accounts import Role
from credits.api.auth import bearer_token, principal, require, token_digest
from credits.api.context import services
from credits.api.monitoring import count_redemption
from credits.redemption import manage
from credits.redemption.fast import redeem_now
from credits.redemption.service import RedeemRequest

blp = Blueprint(
    "redemptions", __name__, url_prefix="/api/v1", description="Redeeming vouchers at shops"
)

OFFICERS = (Role.OFFICER, Role.ADMIN)
_HEX32 = ma.validate.Regexp(r"^[0-9a-f]{32}$", error="32 lower-case hex characters.")


class RedeemSchema(ma.Schema):
    code = ma.fields.String(
        required=True,
        validate=ma.validate.Length(1, 1000),
        metadata={"description": "exactly the text in the voucher's QR code (CC1:...)"},
    )
    amount = ma.fields.Integer(
        strict=True,
        load_default=None,
        allow_none=True,
        validate=ma.validate.Range(1, 1_000_000),
        metadata={"description": "credits to take (default: the face value)"},
    )
    idempotency_key = ma.fields.String(
        required=True,
        validate=[
            ma.validate.Length(1, 200),
            ma.validate.Regexp(r"^[\x20-\x7e]+$", error="Printable ASCII only."),
        ],
    )
    offline_accepted_at = ma.fields.AwareDateTime(
        load_default=None,
        allow_none=True,
        metadata={"description": "extension: when the shop accepted it while offline (UTC)"},
    )


class ExceptionInfoSchema(ma.Schema):
    id = ma.fields.String()
    reason = ma.fields.String()
    detail = ma.fields.String()


class RedemptionSchema(ma.Schema):
    id = ma.fields.String()
    voucher_id = ma.fields.String()
    amount = ma.fields.Integer()
    change = ma.fields.Integer()
    shop_id = ma.fields.Integer()
    redeemed_at = ma.fields.String(metadata={"description": "ISO 8601 UTC"})
    status = ma.fields.String(metadata={"description": "redeemed or exception"})
    offline = ma.fields.Boolean()
    terminal_id = ma.fields.Integer()
    reversed = ma.fields.Boolean()
    exception = ma.fields.Nested(ExceptionInfoSchema)


class ListQuerySchema(ma.Schema):
    since = ma.fields.AwareDateTime(load_default=None)
    until = ma.fields.AwareDateTime(load_default=None)
    shop = ma.fields.Integer(load_default=None, validate=ma.validate.Range(1))
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(1, 200))


class ReverseSchema(ma.Schema):
    reason = ma.fields.String(required=True, validate=ma.validate.Length(1, 500))


class ResolveSchema(ma.Schema):
    resolution = ma.fields.String(required=True, validate=ma.validate.Length(1, 500))


class ExceptionSchema(ma.Schema):
    id = ma.fields.String()
    voucher_id = ma.fields.String()
    shop_id = ma.fields.Integer()
    terminal_id = ma.fields.Integer()
    person_id = ma.fields.Integer(metadata={"description": "the member, flagged"})
    amount = ma.fields.Integer()
    reason = ma.fields.String()
    detail = ma.fields.String()
    offline_accepted_at = ma.fields.AwareDateTime()
    submitted_at = ma.fields.AwareDateTime()
    resolved_at = ma.fields.AwareDateTime(allow_none=True)
    resolved_by = ma.fields.String(allow_none=True)
    resolution = ma.fields.String(allow_none=True)


class ExceptionQuerySchema(ma.Schema):
    open = ma.fields.Boolean(load_default=True)


class JournalEntrySchema(ma.Schema):
    class Meta:
        # Fields this ledger does not know are kept, not refused (docs/api-terminal.md).
        unknown = ma.INCLUDE

    scan_id = ma.fields.String(required=True, validate=ma.validate.Length(1, 100))
    voucher_id = ma.fields.String(required=True, validate=_HEX32)
    amount = ma.fields.Integer(required=True, strict=True, validate=ma.validate.Range(0, 1_000_000))
    outcome = ma.fields.String(
        required=True, validate=ma.validate.OneOf(["redeemed", "exception", "refused", "queued"])
    )
    redemption_id = ma.fields.String(load_default=None, allow_none=True, validate=_HEX32)
    at = ma.fields.AwareDateTime(required=True)
    reason = ma.fields.String(
        load_default=None, allow_none=True, validate=ma.validate.Length(1, 60)
    )
    offline_accepted_at = ma.fields.AwareDateTime(load_default=None, allow_none=True)


class JournalSchema(ma.Schema):
    entries = ma.fields.List(
        ma.fields.Nested(JournalEntrySchema),
        required=True,
        validate=ma.validate.Length(1, manage.MAX_JOURNAL_ENTRIES),
    )


class AcceptedSchema(ma.Schema):
    accepted = ma.fields.Integer()


@blp.route("/redemptions", methods=["POST"])
@require(Role.TERMINAL, cached=True)
@blp.arguments(RedeemSchema)
@blp.response(201, RedemptionSchema)
@blp.alt_response(
    409, description="already_redeemed, voucher_cancelled, expired, idempotency_conflict"
)
@blp.alt_response(
    422,
    description="malformed_code, invalid_signature, unknown_key, amount_exceeds_voucher, "
    "offline_limit_exceeded, validation_error",
)
def redeem(data: dict[str, Any]) -> dict[str, Any]:
    """Redeem a voucher at this terminal's shop (exactly once; retries return the first
    answer). With ``offline_accepted_at``: a redemption the shop accepted while offline."""
    request = RedeemRequest(
        code=data["code"],
        amount=data["amount"],
        client_key=data["idempotency_key"],
        offline_accepted_at=data["offline_accepted_at"],
    )
    token = bearer_token()
    assert token is not None
    result = redeem_now(services(), principal(), request, token_hash=token_digest(token))
    count_redemption(result.body, replayed=result.replayed)
    return result.body


@blp.route("/redemptions", methods=["GET"])
@require(Role.TERMINAL, Role.SHOP_STAFF, *OFFICERS)
@blp.arguments(ListQuerySchema, location="query")
@blp.response(200, RedemptionSchema(many=True))
def list_redemptions(query: dict[str, Any]) -> list[dict[str, Any]]:
    """Redemptions, newest first: a terminal and shop staff see their own shop's; officers
    any shop's (``?shop=``)."""
    who = principal()
    with services().db.read() as s:
        rows = manage.list_redemptions(
            s,
            who,
            since=query["since"],
            until=query["until"],
            shop_id=query["shop"],
            limit=query["limit"],
        )
        return [manage.render(r) for r in rows]


@blp.route("/redemptions/<string:redemption_id>", methods=["GET"])
@require(Role.TERMINAL, Role.SHOP_STAFF, *OFFICERS)
@blp.response(200, RedemptionSchema)
def get_redemption(redemption_id: str) -> dict[str, Any]:
    """One redemption (a terminal and shop staff: their own shop's only)."""
    who = principal()
    with services().db.read() as s:
        return manage.render(manage.get_redemption(s, who, redemption_id))


@blp.route("/redemptions/<string:redemption_id>/reverse", methods=["POST"])
@require(*OFFICERS)
@blp.arguments(ReverseSchema)
@blp.response(200, RedemptionSchema)
def reverse_redemption(data: dict[str, Any], redemption_id: str) -> dict[str, Any]:
    """Reverse a redemption: the shop gives back what it took and the member gets the
    voucher's value back (two ledger entries, in the open month). Once only."""
    who = principal()
    row = services().db.run(
        lambda s: manage.reverse_redemption(s, who, redemption_id, reason=data["reason"])
    )
    return manage.render(row)


@blp.route("/redemption-exceptions", methods=["GET"])
@require(*OFFICERS)
@blp.arguments(ExceptionQuerySchema, location="query")
@blp.response(200, ExceptionSchema(many=True))
def list_exceptions(query: dict[str, Any]) -> list[Any]:
    """Vouchers accepted offline that had been spent or cancelled meanwhile (open first)."""
    with services().db.read() as s:
        return manage.list_exceptions(s, open_only=query["open"])


@blp.route("/redemption-exceptions/<string:exception_id>/resolve", methods=["POST"])
@require(*OFFICERS)
@blp.arguments(ResolveSchema)
@blp.response(200, ExceptionSchema)
def resolve_exception(data: dict[str, Any], exception_id: str) -> Any:
    """Record how officers dealt with an exception."""
    who = principal()
    return services().db.run(
        lambda s: manage.resolve_exception(s, who, exception_id, resolution=data["resolution"])
    )


@blp.route("/terminal/journal", methods=["POST"])
@require(Role.TERMINAL)
@blp.arguments(JournalSchema)
@blp.response(200, AcceptedSchema)
def upload_journal(data: dict[str, Any]) -> dict[str, int]:
    """The terminal's own record of its scans, for the month close to compare with the
    ledger. The latest report for a scan replaces the earlier one."""
    who = principal()
    assert who.terminal_id is not None and who.scope_ref is not None
    known = set(JournalEntrySchema().fields)
    reports = [
        manage.JournalReport(
            scan_id=e["scan_id"],
            voucher_id=e["voucher_id"],
            amount=e["amount"],
            outcome=e["outcome"],
            redemption_id=e["redemption_id"],
            at=e["at"],
            reason=e["reason"],
            offline_accepted_at=e["offline_accepted_at"],
            extra={k: v for k, v in e.items() if k not in known} or None,
        )
        for e in data["entries"]
    ]
    terminal_id, shop_id = who.terminal_id, int(who.scope_ref.split(":", 1)[1])
    accepted = services().db.run(lambda s: manage.record_journal(s, terminal_id, shop_id, reports))
    return {"accepted": accepted}
