"""Manual adjustments by officers (credits/adjustments, docs/officers.md).

POST /api/v1/adjustments                 officer: 201 posted, 202 waiting for a second officer
GET  /api/v1/adjustments                 officer: newest first, ?state=&person_id=
GET  /api/v1/adjustments/{id}            officer
POST /api/v1/adjustments/{id}/approve    officer (not the one who asked)
POST /api/v1/adjustments/{id}/reject     officer (not the one who asked), with a reason
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import url_for

from credits import adjustments
from credits.accounts import Role
from credits.adjustments import AdjustmentView
from credits.api import inputs
from credits.api.auth import principal, require
from credits.api.context import current_services
from credits.api.inputs import Blueprint
from credits.api.pagination import PageArgs, page_out, page_schema

blp = Blueprint(
    "adjustments",
    __name__,
    url_prefix="/api/v1/adjustments",
    description="Manual adjustments to members' balances by officers (four eyes above a threshold)",
)


class AdjustmentIn(ma.Schema):
    person_id = inputs.Integer(
        required=True,
        strict=True,
        validate=ma.validate.Range(1),
        metadata={"description": "the member"},
    )
    direction = inputs.String(required=True, validate=ma.validate.OneOf(["credit", "debit"]))
    amount = inputs.Integer(
        required=True,
        strict=True,
        validate=ma.validate.Range(1, adjustments.MAX_ADJUSTMENT_CREDITS),
        metadata={"description": "whole credits, positive"},
    )
    reason = inputs.String(
        required=True,
        validate=ma.validate.Length(1, 300),
        metadata={"description": "shown to the member in their history"},
    )
    occurred_on = inputs.Date(
        load_default=None,
        allow_none=True,
        metadata={
            "description": "London date to date it on (default: when posted); not in the "
            "future, at most 60 days back, not in a closed month (409 period_closed)"
        },
    )
    idempotency_key = inputs.String(
        required=True,
        validate=[
            ma.validate.Length(1, 200),
            ma.validate.Regexp(r"^[\x20-\x7e]+$", error="Printable ASCII only."),
        ],
    )


class AdjustmentRejectIn(ma.Schema):
    reason = inputs.String(multiline=True, required=True, validate=ma.validate.Length(1, 300))


class AdjustmentOut(ma.Schema):
    id = inputs.Integer()
    person_id = inputs.Integer()
    person_name = inputs.String()
    direction = inputs.String()
    amount = inputs.Integer()
    reason = inputs.String()
    occurred_on = inputs.Date(allow_none=True)
    state = inputs.String(metadata={"description": "pending, posted or rejected"})
    needs_approval = ma.fields.Boolean()
    requested_by = inputs.String()
    requested_by_person_id = inputs.Integer()
    requested_at = inputs.AwareDateTime()
    decided_by = inputs.String(allow_none=True)
    decided_by_person_id = inputs.Integer(allow_none=True)
    decided_at = inputs.AwareDateTime(allow_none=True)
    decision_reason = inputs.String(allow_none=True)
    entry_id = inputs.Integer(allow_none=True)
    posted_at = inputs.AwareDateTime(allow_none=True)
    replayed = ma.fields.Boolean()


class AdjustmentListArgs(PageArgs):
    state = inputs.String(validate=ma.validate.OneOf(["pending", "posted", "rejected"]))
    person_id = inputs.Integer(validate=ma.validate.Range(min=1))


def body(view: AdjustmentView) -> dict[str, Any]:
    """The API body of an adjustment."""
    return {
        "id": view.id,
        "person_id": view.person_id,
        "person_name": view.person_name,
        "direction": view.direction,
        "amount": view.amount,
        "reason": view.reason,
        "occurred_on": view.occurred_on,
        "state": view.state,
        "needs_approval": view.needs_approval,
        "requested_by": view.requested_by,
        "requested_by_person_id": view.requested_by_person_id,
        "requested_at": view.requested_at,
        "decided_by": view.decided_by,
        "decided_by_person_id": view.decided_by_person_id,
        "decided_at": view.decided_at,
        "decision_reason": view.decision_reason,
        "entry_id": view.entry_id,
        "posted_at": view.posted_at,
        "replayed": view.replayed,
    }


@blp.route("", methods=["POST"])
@require(Role.OFFICER)
@blp.arguments(AdjustmentIn)
@blp.response(201, AdjustmentOut, description="Posted: the member's balance has changed.")
@blp.alt_response(
    202,
    schema=AdjustmentOut,
    description="Above the four-eyes threshold: pending until another officer approves it.",
)
def create(args: dict[str, Any]) -> Any:
    """Credit or debit a member, with a reason.

    Refusals: 409 `insufficient_funds` (a debit of more than the member holds),
    `period_closed`, `idempotency_conflict`; 403 `self_adjustment`; 422 `unknown_member`,
    `validation_error`.
    """
    who = principal()
    svc = current_services()
    threshold = adjustments.get_threshold(svc.settings)
    view = svc.db.run(
        lambda s: adjustments.request_adjustment(
            s,
            who,
            person_id=args["person_id"],
            direction=args["direction"],
            amount=args["amount"],
            reason=args["reason"],
            occurred_on=args.get("occurred_on"),
            idempotency_key=args["idempotency_key"],
            threshold=threshold,
        ),
        idempotent=True,  # keyed: a second run replays the first adjustment
    )
    status = 202 if view.state == adjustments.PENDING else 201
    location = url_for("adjustments.show", adjustment_id=view.id)
    return body(view), status, {"Location": location}


@blp.route("", methods=["GET"])
@require(Role.OFFICER)
@blp.arguments(AdjustmentListArgs, location="query")
@blp.response(200, page_schema(AdjustmentOut, "AdjustmentsPage"))
def list_all(args: dict[str, Any]) -> dict[str, Any]:
    """Adjustments newest first; filter by state (``pending`` to approve) or member."""
    found = current_services().db.run(
        lambda s: adjustments.list_adjustments(
            s,
            state=args.get("state"),
            person_id=args.get("person_id"),
            page=args["page"],
            per_page=args["per_page"],
        )
    )
    return page_out(found, body)


@blp.route("/<int:adjustment_id>", methods=["GET"])
@require(Role.OFFICER)
@blp.response(200, AdjustmentOut)
def show(adjustment_id: int) -> dict[str, Any]:
    """One adjustment, with who asked, who decided, when and why."""
    return body(current_services().db.run(lambda s: adjustments.load_adjustment(s, adjustment_id)))


@blp.route("/<int:adjustment_id>/approve", methods=["POST"])
@require(Role.OFFICER)
@blp.response(200, AdjustmentOut)
def approve(adjustment_id: int) -> dict[str, Any]:
    """Approve a pending adjustment (an officer other than the one who asked): posted now.

    409 `adjustment_not_pending`, `insufficient_funds`, `period_closed`; 403
    `second_approver_required`, `self_adjustment`.
    """
    who = principal()
    return body(current_services().db.run(lambda s: adjustments.approve(s, who, adjustment_id)))


@blp.route("/<int:adjustment_id>/reject", methods=["POST"])
@require(Role.OFFICER)
@blp.arguments(AdjustmentRejectIn)
@blp.response(200, AdjustmentOut)
def reject(args: dict[str, Any], adjustment_id: int) -> dict[str, Any]:
    """Reject a pending adjustment, saying why (an officer other than the one who asked)."""
    who = principal()
    return body(
        current_services().db.run(
            lambda s: adjustments.reject(s, who, adjustment_id, reason=args["reason"])
        )
    )
