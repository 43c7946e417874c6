"""Statements of a Europe/London month (docs/statements.md).

GET /api/v1/statements/{YYYY-MM}   officer: the scheme, or any shop with ?shop=ID;
                                   terminal: its own shop only (?shop omitted → its shop)
?format=json (default) or csv. The body is the exact bytes signed in the
``Statement-Signature`` header (``kid=<kid>; sig=<base64url>``; the key is in the trust
list's ``statement_keys``).
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response
from flask_smorest import Blueprint

from credits.accounts import Role
from credits.api.auth import principal, require
from credits.api.context import services
from credits.statements import service, signing

blp = Blueprint(
    "statements", __name__, url_prefix="/api/v1", description="Monthly statements (signed)"
)


class StatementArgs(ma.Schema):
    format = ma.fields.String(
        load_default="json",
        validate=ma.validate.OneOf(["json", "csv"]),
        metadata={"description": "json (default) or csv"},
    )
    shop = ma.fields.Integer(
        load_default=None,
        strict=False,
        validate=ma.validate.Range(1, 2**62),
        metadata={"description": "a shop's statement instead of the scheme's"},
    )


class OutstandingSchema(ma.Schema):
    members = ma.fields.Integer()
    vouchers = ma.fields.Integer()
    total = ma.fields.Integer()


class TotalsSchema(ma.Schema):
    issued = ma.fields.Integer()
    redeemed = ma.fields.Integer()
    change_returned = ma.fields.Integer()
    expired = ma.fields.Integer()
    reversals = ma.fields.Integer()
    adjustments = ma.fields.Integer()
    outstanding = ma.fields.Integer()
    owed_pence = ma.fields.Integer(allow_none=True)
    owed_gbp = ma.fields.String(allow_none=True, metadata={"description": "pounds, e.g. 14.50"})


class ActivityTotalSchema(ma.Schema):
    activity_id = ma.fields.Integer(allow_none=True)
    slug = ma.fields.String()
    name = ma.fields.String()
    awards = ma.fields.Integer()
    credits = ma.fields.Integer()


class ShopTotalSchema(ma.Schema):
    shop_id = ma.fields.Integer()
    name = ma.fields.String()
    redemptions = ma.fields.Integer()
    redeemed = ma.fields.Integer()
    change = ma.fields.Integer()
    reversed = ma.fields.Integer()
    exceptions = ma.fields.Integer()
    net = ma.fields.Integer()
    owed_pence = ma.fields.Integer(allow_none=True)
    owed_gbp = ma.fields.String(allow_none=True)
    settled = ma.fields.Integer(
        metadata={"description": "credits settled in the month (earlier months' credits paid)"}
    )


class SettlementFiguresSchema(ma.Schema):
    settled_credits = ma.fields.Integer(
        metadata={"description": "settlement entries dated in the month"}
    )
    settled_pence = ma.fields.Integer()
    settled_gbp = ma.fields.String()
    paid_pence = ma.fields.Integer(
        metadata={"description": "paid to shops, as the bank statements show, in the month"}
    )
    paid_gbp = ma.fields.String()
    unpaid_settled_pence = ma.fields.Integer(
        metadata={"description": "settled up to the month's end, not paid by then"}
    )
    unsettled_credits = ma.fields.Integer(
        metadata={"description": "credits in shops' accounts at the month's end"}
    )
    unsettled_pence = ma.fields.Integer(
        allow_none=True, metadata={"description": "their value at their months' rates"}
    )
    unpaid_owed_pence = ma.fields.Integer(
        allow_none=True, metadata={"description": "owed to shops and unpaid at the month's end"}
    )
    unpaid_owed_gbp = ma.fields.String(allow_none=True)
    shop_id = ma.fields.Integer()
    name = ma.fields.String()
    per_shop = ma.fields.List(ma.fields.Raw(), metadata={"description": "the same, per shop"})


class TrialBalanceLineSchema(ma.Schema):
    account_type = ma.fields.String()
    opening = ma.fields.Integer()
    increases = ma.fields.Integer()
    decreases = ma.fields.Integer()
    movement = ma.fields.Integer()
    closing = ma.fields.Integer()


class TrialBalanceSchema(ma.Schema):
    lines = ma.fields.List(ma.fields.Nested(TrialBalanceLineSchema))
    total = ma.fields.Integer(metadata={"description": "sum of closing balances: always 0"})
    opening_total = ma.fields.Integer()
    movement_total = ma.fields.Integer()


class VoucherFiguresSchema(ma.Schema):
    issued_count = ma.fields.Integer()
    issued = ma.fields.Integer()
    redeemed_count = ma.fields.Integer()
    cancelled_count = ma.fields.Integer()
    cancelled = ma.fields.Integer()
    expired_count = ma.fields.Integer()
    expired = ma.fields.Integer()


class ShopRefSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()


class ShopStatementLineSchema(ma.Schema):
    kind = ma.fields.String(
        metadata={"description": "redemption, reversal, exception or settlement"}
    )
    id = ma.fields.String()
    at = ma.fields.String(metadata={"description": "UTC, ISO 8601"})
    london_time = ma.fields.String()
    voucher = ma.fields.String()
    amount = ma.fields.Integer()
    face_value = ma.fields.Integer()
    change = ma.fields.Integer()
    terminal_id = ma.fields.Integer()
    terminal = ma.fields.String()
    offline = ma.fields.Boolean()
    exception = ma.fields.Boolean()
    note = ma.fields.String()


class StatementSchema(ma.Schema):
    month = ma.fields.String()
    starts_at = ma.fields.String()
    ends_at = ma.fields.String()
    kind = ma.fields.String(metadata={"description": "scheme or shop"})
    rate_pence_per_credit = ma.fields.Integer(allow_none=True)
    trial_balance = ma.fields.Nested(TrialBalanceSchema)
    # The scheme's statement
    opening_outstanding = ma.fields.Nested(OutstandingSchema)
    closing_outstanding = ma.fields.Nested(OutstandingSchema)
    totals = ma.fields.Raw(metadata={"description": "scheme: TotalsSchema; shop: its ShopTotal"})
    per_activity = ma.fields.List(ma.fields.Nested(ActivityTotalSchema))
    per_shop = ma.fields.List(ma.fields.Nested(ShopTotalSchema))
    vouchers = ma.fields.Nested(VoucherFiguresSchema)
    # A shop's statement
    shop = ma.fields.Nested(ShopRefSchema)
    opening_balance = ma.fields.Integer()
    closing_balance = ma.fields.Integer()
    lines = ma.fields.List(ma.fields.Nested(ShopStatementLineSchema))
    settlement = ma.fields.Nested(
        SettlementFiguresSchema,
        metadata={"description": "settled this month, paid, unpaid owed at the month's end"},
    )


@blp.route("/statements/<month>", methods=["GET"])
@require(Role.OFFICER, Role.TERMINAL)
@blp.arguments(StatementArgs, location="query")
@blp.response(
    200,
    StatementSchema,
    description="The statement (JSON); with format=csv, text/csv. Signed in the "
    "Statement-Signature header.",
    headers={
        "Statement-Signature": {
            "description": "kid=<kid>; sig=<base64url Ed25519 signature of the body bytes>",
            "schema": {"type": "string"},
        }
    },
)
def get_statement(args: dict[str, Any], month: str) -> Response:
    """A month's statement: the scheme's, or one shop's (`?shop=ID`); `?format=csv`."""
    who = principal()
    svc = services()
    parsed = service.parse_month(month)
    shop_id = service.shop_in_scope(who, args.get("shop"))
    with svc.db.read() as s:
        file = service.statement_file(s, parsed, args["format"], shop_id=shop_id)
    signature = signing.sign(svc.settings.instance_path, file.data)
    return Response(
        file.data,
        content_type=file.media_type,
        headers={
            signing.HEADER: signature,
            "Content-Disposition": f'inline; filename="{file.filename}"',
            "Cache-Control": "private, no-store",
        },
    )
