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

from credits.accounts import Role
from credits.api import inputs
from credits.api.auth import principal, require
from credits.api.context import current_services
from credits.api.inputs import Blueprint
from credits.statements import service, signing

blp = Blueprint(
    "statements", __name__, url_prefix="/api/v1", description="Monthly statements (signed)"
)


class StatementArgs(ma.Schema):
    format = inputs.String(
        load_default="json",
        validate=ma.validate.OneOf(["json", "csv"]),
        metadata={"description": "json (default) or csv"},
    )
    shop = inputs.Integer(
        load_default=None,
        strict=False,
        validate=ma.validate.Range(1, 2**62),
        metadata={"description": "a shop's statement instead of the scheme's"},
    )


class OutstandingSchema(ma.Schema):
    members = inputs.Integer()
    vouchers = inputs.Integer()
    total = inputs.Integer()


class TotalsSchema(ma.Schema):
    issued = inputs.Integer()
    redeemed = inputs.Integer()
    change_returned = inputs.Integer()
    expired = inputs.Integer()
    reversals = inputs.Integer()
    adjustments = inputs.Integer()
    outstanding = inputs.Integer()
    owed_pence = inputs.Integer(allow_none=True)
    owed_gbp = inputs.String(allow_none=True, metadata={"description": "pounds, e.g. 14.50"})


class ActivityTotalSchema(ma.Schema):
    activity_id = inputs.Integer(allow_none=True)
    slug = inputs.String()
    name = inputs.String()
    awards = inputs.Integer()
    credits = inputs.Integer()


class ShopTotalSchema(ma.Schema):
    shop_id = inputs.Integer()
    name = inputs.String()
    redemptions = inputs.Integer()
    redeemed = inputs.Integer()
    change = inputs.Integer()
    reversed = inputs.Integer()
    exceptions = inputs.Integer()
    net = inputs.Integer()
    owed_pence = inputs.Integer(allow_none=True)
    owed_gbp = inputs.String(allow_none=True)
    settled = inputs.Integer(
        metadata={"description": "credits settled in the month (earlier months' credits paid)"}
    )


class SettlementFiguresSchema(ma.Schema):
    settled_credits = inputs.Integer(
        metadata={"description": "settlement entries dated in the month"}
    )
    settled_pence = inputs.Integer()
    settled_gbp = inputs.String()
    paid_pence = inputs.Integer(
        metadata={"description": "paid to shops, as the bank statements show, in the month"}
    )
    paid_gbp = inputs.String()
    unpaid_settled_pence = inputs.Integer(
        metadata={"description": "settled up to the month's end, not paid by then"}
    )
    unsettled_credits = inputs.Integer(
        metadata={"description": "credits in shops' accounts at the month's end"}
    )
    unsettled_pence = inputs.Integer(
        allow_none=True, metadata={"description": "their value at their months' rates"}
    )
    unpaid_owed_pence = inputs.Integer(
        allow_none=True, metadata={"description": "owed to shops and unpaid at the month's end"}
    )
    unpaid_owed_gbp = inputs.String(allow_none=True)
    shop_id = inputs.Integer()
    name = inputs.String()
    per_shop = ma.fields.List(ma.fields.Raw(), metadata={"description": "the same, per shop"})


class TrialBalanceLineSchema(ma.Schema):
    account_type = inputs.String()
    opening = inputs.Integer()
    increases = inputs.Integer()
    decreases = inputs.Integer()
    movement = inputs.Integer()
    closing = inputs.Integer()


class TrialBalanceSchema(ma.Schema):
    lines = ma.fields.List(ma.fields.Nested(TrialBalanceLineSchema))
    total = inputs.Integer(metadata={"description": "sum of closing balances: always 0"})
    opening_total = inputs.Integer()
    movement_total = inputs.Integer()


class VoucherFiguresSchema(ma.Schema):
    issued_count = inputs.Integer()
    issued = inputs.Integer()
    redeemed_count = inputs.Integer()
    cancelled_count = inputs.Integer()
    cancelled = inputs.Integer()
    expired_count = inputs.Integer()
    expired = inputs.Integer()


class ShopRefSchema(ma.Schema):
    id = inputs.Integer()
    name = inputs.String()


class ShopStatementLineSchema(ma.Schema):
    kind = inputs.String(metadata={"description": "redemption, reversal, exception or settlement"})
    id = inputs.String()
    at = inputs.String(metadata={"description": "UTC, ISO 8601"})
    london_time = inputs.String()
    voucher = inputs.String()
    amount = inputs.Integer()
    face_value = inputs.Integer()
    change = inputs.Integer()
    terminal_id = inputs.Integer()
    terminal = inputs.String()
    offline = ma.fields.Boolean()
    exception = ma.fields.Boolean()
    note = inputs.String()


class StatementSchema(ma.Schema):
    month = inputs.String()
    starts_at = inputs.String()
    ends_at = inputs.String()
    kind = inputs.String(metadata={"description": "scheme or shop"})
    rate_pence_per_credit = inputs.Integer(allow_none=True)
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
    opening_balance = inputs.Integer()
    closing_balance = inputs.Integer()
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
    svc = current_services()
    parsed = service.parse_month(month)
    shop_id = service.shop_in_scope(who, args.get("shop"))
    with svc.db.read(lag_ok=True) as s:  # lag-tolerant: the replica, if there is one
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
