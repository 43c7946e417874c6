"""Redemption at partner shops (docs/api-terminal.md).

POST /api/v1/redemptions                       terminal (contract v1; offline extension)
GET  /api/v1/redemptions                       terminal, shop staff (own shop), officer
GET  /api/v1/redemptions/{id}                  terminal, shop staff (own shop), officer
POST /api/v1/redemptions/{id}/reverse          officer
GET  /api/v1/redemption-exceptions             officer
POST /api/v1/redemption-exceptions/{id}/resolve   officer
POST /api/v1/redemption-exceptions/{id}/pay   officer (a held claim)
POST /api/v1/redemption-exceptions/{id}/decline   officer (a held claim)
POST /api/v1/terminal/journal                  terminal
GET  /api/v1/terminal/spent-vouchers           terminal (ETag, If-None-Match -> 304)
"""

from __future__ import annotations

import json
from typing import Any

import marshmallow as ma
from flask import Response, request

from credits.accounts import Role
from credits.api import inputs
from credits.api.auth import bearer_token, forget_token_digest, principal, require, token_digest
from credits.api.context import current_services
from credits.api.inputs import Blueprint
from credits.api.monitoring import count_redemption
from credits.errors import Unauthorized
from credits.redemption import claims, manage
from credits.redemption.fast import redeem_now
from credits.redemption.service import RedeemRequest
from credits.redemption.spent_list import spent_list

blp = Blueprint(
    "redemptions", __name__, url_prefix="/api/v1", description="Redeeming vouchers at shops"
)

OFFICERS = (Role.OFFICER, Role.ADMIN)
_HEX32 = ma.validate.Regexp(r"^[0-9a-f]{32}$", error="32 lower-case hex characters.")


class RedeemSchema(ma.Schema):
    code = inputs.String(
        required=True,
        validate=ma.validate.Length(1, 1000),
        metadata={"description": "exactly the text in the voucher's QR code (CC1:...)"},
    )
    amount = inputs.Integer(
        strict=True,
        load_default=None,
        allow_none=True,
        validate=ma.validate.Range(1, 1_000_000),
        metadata={"description": "credits to take (default: the face value)"},
    )
    idempotency_key = inputs.String(
        required=True,
        validate=[
            ma.validate.Length(1, 200),
            ma.validate.Regexp(r"^[\x20-\x7e]+$", error="Printable ASCII only."),
        ],
    )
    offline_accepted_at = inputs.AwareDateTime(
        load_default=None,
        allow_none=True,
        metadata={"description": "extension: when the shop accepted it while offline (UTC)"},
    )


class ExceptionInfoSchema(ma.Schema):
    id = inputs.String()
    reason = inputs.String()
    detail = inputs.String()


class RedemptionSchema(ma.Schema):
    id = inputs.String()
    voucher_id = inputs.String()
    amount = inputs.Integer()
    change = inputs.Integer()
    shop_id = inputs.Integer()
    redeemed_at = inputs.String(metadata={"description": "ISO 8601 UTC"})
    status = inputs.String(metadata={"description": "redeemed, exception, or held (202)"})
    offline = ma.fields.Boolean()
    terminal_id = inputs.Integer()
    reversed = ma.fields.Boolean()
    exception = ma.fields.Nested(ExceptionInfoSchema)


class ListQuerySchema(ma.Schema):
    since = inputs.AwareDateTime(load_default=None)
    until = inputs.AwareDateTime(load_default=None)
    shop = inputs.Integer(load_default=None, validate=ma.validate.Range(1))
    limit = inputs.Integer(load_default=50, validate=ma.validate.Range(1, 200))


class ReverseSchema(ma.Schema):
    reason = inputs.String(multiline=True, required=True, validate=ma.validate.Length(1, 500))


class ResolveSchema(ma.Schema):
    resolution = inputs.String(required=True, validate=ma.validate.Length(1, 500))


class ExceptionSchema(ma.Schema):
    id = inputs.String()
    voucher_id = inputs.String()
    shop_id = inputs.Integer()
    terminal_id = inputs.Integer()
    person_id = inputs.Integer(metadata={"description": "the member, flagged"})
    amount = inputs.Integer()
    reason = inputs.String(metadata={"description": "already_redeemed or voucher_cancelled"})
    detail = inputs.String()
    status = inputs.String(
        metadata={"description": "paid, held, refused, declined (overpaid: before migration 0018)"}
    )
    rule = inputs.String(
        allow_none=True,
        metadata={
            "description": "why refused or held: same_shop, already_claimed, on_spent_list, "
            "no_fresh_list, told_online, monthly_ceiling"
        },
    )
    offline_accepted_at = inputs.AwareDateTime()
    submitted_at = inputs.AwareDateTime()
    entry_id = inputs.Integer(allow_none=True)
    paid_at = inputs.AwareDateTime(allow_none=True)
    decided_at = inputs.AwareDateTime(allow_none=True)
    decided_by = inputs.String(allow_none=True)
    decision_reason = inputs.String(allow_none=True)
    resolved_at = inputs.AwareDateTime(allow_none=True)
    resolved_by = inputs.String(allow_none=True)
    resolution = inputs.String(allow_none=True)


class ExceptionQuerySchema(ma.Schema):
    open = ma.fields.Boolean(load_default=True, metadata={"description": "unresolved only"})
    status = inputs.String(
        load_default=None,
        validate=ma.validate.OneOf(["paid", "held", "refused", "declined", "overpaid"]),
    )


class DecisionSchema(ma.Schema):
    reason = inputs.String(
        load_default=None,
        allow_none=True,
        validate=ma.validate.Length(1, 500),
        metadata={"description": "why (required to decline)"},
    )


class JournalEntrySchema(ma.Schema):
    class Meta:
        # Fields this ledger does not know are kept, not refused (docs/api-terminal.md).
        unknown = ma.INCLUDE

    scan_id = inputs.String(required=True, validate=ma.validate.Length(1, 100))
    voucher_id = inputs.String(required=True, validate=_HEX32)
    amount = inputs.Integer(required=True, strict=True, validate=ma.validate.Range(0, 1_000_000))
    outcome = inputs.String(
        required=True, validate=ma.validate.OneOf(["redeemed", "exception", "refused", "queued"])
    )
    redemption_id = inputs.String(load_default=None, allow_none=True, validate=_HEX32)
    at = inputs.AwareDateTime(required=True)
    reason = inputs.String(
        multiline=True, load_default=None, allow_none=True, validate=ma.validate.Length(1, 60)
    )
    offline_accepted_at = inputs.AwareDateTime(load_default=None, allow_none=True)


class JournalSchema(ma.Schema):
    entries = ma.fields.List(
        ma.fields.Nested(JournalEntrySchema),
        required=True,
        validate=ma.validate.Length(1, manage.MAX_JOURNAL_ENTRIES),
    )


class AcceptedSchema(ma.Schema):
    accepted = inputs.Integer()


@blp.route("/redemptions", methods=["POST"])
@require(Role.TERMINAL, cached=True)
@blp.arguments(RedeemSchema)
@blp.response(201, RedemptionSchema)
@blp.alt_response(
    202,
    schema=RedemptionSchema,
    description="extension: an offline claim held for an officer's decision (status held)",
)
@blp.alt_response(
    409, description="already_redeemed, voucher_cancelled, expired, idempotency_conflict"
)
@blp.alt_response(
    422,
    description="malformed_code, invalid_signature, unknown_key, amount_exceeds_voucher, "
    "offline_limit_exceeded, validation_error",
)
def redeem(data: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Redeem a voucher at this terminal's shop (exactly once; retries return the first
    answer). With ``offline_accepted_at``: a redemption the shop accepted while offline; if
    the voucher was meanwhile spent or cancelled, a claim judged by the bounding rule
    (docs/redemption.md): paid (201, status ``exception``), held (202) or refused (409)."""
    request = RedeemRequest(
        code=data["code"],
        amount=data["amount"],
        client_key=data["idempotency_key"],
        offline_accepted_at=data["offline_accepted_at"],
    )
    token = bearer_token()
    assert token is not None
    digest = token_digest(token)
    try:
        result = redeem_now(current_services(), principal(), request, token_hash=digest)
    except Unauthorized:
        # The use case found the token revoked: this worker's token cache must not keep it.
        forget_token_digest(digest)
        raise
    count_redemption(result.body, replayed=result.replayed)
    return result.answer(), result.status


@blp.route("/redemptions", methods=["GET"])
@require(Role.TERMINAL, Role.SHOP_STAFF, *OFFICERS)
@blp.arguments(ListQuerySchema, location="query")
@blp.response(200, RedemptionSchema(many=True))
def list_redemptions(query: dict[str, Any]) -> list[dict[str, Any]]:
    """Redemptions, newest first: a terminal and shop staff see their own shop's; officers
    any shop's (``?shop=``)."""
    who = principal()
    with current_services().db.read() as s:
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
    with current_services().db.read() as s:
        return manage.render(manage.get_redemption(s, who, redemption_id))


@blp.route("/redemptions/<string:redemption_id>/reverse", methods=["POST"])
@require(*OFFICERS)
@blp.arguments(ReverseSchema)
@blp.response(200, RedemptionSchema)
def reverse_redemption(data: dict[str, Any], redemption_id: str) -> dict[str, Any]:
    """Reverse a redemption: the shop gives back what it took and the member gets the
    voucher's value back (two ledger entries, in the open month). Once only."""
    who = principal()
    row = current_services().db.run(
        lambda s: manage.reverse_redemption(s, who, redemption_id, reason=data["reason"]),
        idempotent=True,  # once only: a second run finds it reversed and changes nothing
    )
    return manage.render(row)


@blp.route("/redemption-exceptions", methods=["GET"])
@require(*OFFICERS)
@blp.arguments(ExceptionQuerySchema, location="query")
@blp.response(200, ExceptionSchema(many=True))
def list_exceptions(query: dict[str, Any]) -> list[Any]:
    """Offline claims on vouchers that had been spent or cancelled meanwhile, newest first:
    paid, held for a decision, refused (with the rule), declined."""
    with current_services().db.read() as s:
        return manage.list_exceptions(s, open_only=query["open"], status=query["status"])


@blp.route("/redemption-exceptions/<string:exception_id>/pay", methods=["POST"])
@require(*OFFICERS)
@blp.arguments(DecisionSchema)
@blp.response(200, ExceptionSchema)
@blp.alt_response(409, description="claim_not_held: it is not waiting for a decision")
def pay_exception(data: dict[str, Any], exception_id: str) -> Any:
    """Pay a held claim: one balanced entry (adjustments to the shop) in the open month."""
    who = principal()
    return current_services().db.run(
        lambda s: claims.pay_held(s, who, exception_id, reason=data["reason"])
    )


@blp.route("/redemption-exceptions/<string:exception_id>/decline", methods=["POST"])
@require(*OFFICERS)
@blp.arguments(DecisionSchema)
@blp.response(200, ExceptionSchema)
@blp.alt_response(409, description="claim_not_held: it is not waiting for a decision")
def decline_exception(data: dict[str, Any], exception_id: str) -> Any:
    """Decline a held claim, with a reason: nothing is paid."""
    who = principal()
    return current_services().db.run(
        lambda s: claims.decline_held(s, who, exception_id, reason=data["reason"] or "")
    )


@blp.route("/redemption-exceptions/<string:exception_id>/resolve", methods=["POST"])
@require(*OFFICERS)
@blp.arguments(ResolveSchema)
@blp.response(200, ExceptionSchema)
def resolve_exception(data: dict[str, Any], exception_id: str) -> Any:
    """Record how officers dealt with an exception."""
    who = principal()
    return current_services().db.run(
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
    # The latest report for a scan replaces the earlier one: sending it twice changes nothing.
    accepted = current_services().db.run(
        lambda s: manage.record_journal(s, terminal_id, shop_id, reports), idempotent=True
    )
    return {"accepted": accepted}


class SpentQuerySchema(ma.Schema):
    since = inputs.String(
        load_default=None,
        validate=ma.validate.Length(1, 100),
        metadata={"description": "the cursor of the last answer (absent: the full list)"},
    )


class SpentListSchema(ma.Schema):
    as_of = inputs.String(
        metadata={"description": "every voucher closed before this time is in the list"}
    )
    cursor = inputs.String(metadata={"description": "pass as since next time"})
    more = ma.fields.Boolean(metadata={"description": "another page follows: ask at once"})
    full = ma.fields.Boolean(metadata={"description": "a full list (no since)"})
    redeemed = ma.fields.List(
        ma.fields.List(ma.fields.Raw()),
        metadata={"description": "[voucher id (32 hex), expires_at (epoch seconds)] pairs"},
    )
    cancelled = ma.fields.List(ma.fields.List(ma.fields.Raw()))


@blp.route("/terminal/spent-vouchers", methods=["GET"])
@require(Role.TERMINAL)
@blp.arguments(SpentQuerySchema, location="query")
@blp.response(200, SpentListSchema)
@blp.doc(responses={"304": {"description": "Not modified (If-None-Match matched the ETag)."}})
def spent_vouchers(query: dict[str, Any]) -> Response:
    """Vouchers redeemed or cancelled and not yet expired, for refusing them offline: the
    full list, or what closed since the last answer's cursor (docs/api-terminal.md). The
    ledger records that this terminal fetched it (200 or 304)."""
    who = principal()
    assert who.terminal_id is not None
    terminal_id = who.terminal_id
    answer = current_services().db.run(lambda s: spent_list(s, terminal_id, query["since"]))
    headers = {"ETag": f'"{answer.etag}"', "Cache-Control": "private, no-cache"}
    asked = request.headers.get("If-None-Match", "")
    tags = [t.strip().removeprefix("W/") for t in asked.split(",")]
    if f'"{answer.etag}"' in tags:
        return Response(status=304, headers=headers)
    body = json.dumps(answer.body(), separators=(",", ":"))
    return Response(body, mimetype="application/json", headers=headers)
