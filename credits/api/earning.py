"""Earning credits: coordinators record, volunteers claim, approvers decide; a member's history.

- ``POST /api/v1/earnings`` (contract v1, coordinator): one member's activity → 201 with the
  posted award, or **202** with the award ``awaiting_officer`` when its credits are above
  the four-eyes threshold (a contract extension: nothing is posted until an officer who is
  not the recording coordinator approves it).
- ``POST /api/v1/earnings/bulk`` (coordinator): a whole session's sheet, all or nothing, one
  idempotency key, one ledger entry; 422 ``lines_refused`` lists every failing line.
- ``GET /api/v1/earnings/queue``, ``POST /api/v1/earnings/{id}/approve|reject``
  (coordinator, officer), ``GET /api/v1/earnings/{id}``.
- ``POST/GET /api/v1/claims``, ``GET /api/v1/claims/{id}`` (member): their own claims.
- ``GET /api/v1/me/entries`` (member, contract v1): their ledger entries, newest first.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import url_for

from credits import earning
from credits.accounts import Role
from credits.api import inputs
from credits.api.auth import principal, require
from credits.api.context import current_services
from credits.api.inputs import Blueprint
from credits.earning.awards import AwardView
from credits.earning.history import MAX_PAGE

QUANTITY_DOC = (
    'A positive decimal with at most 2 decimal places: a decimal string such as "1.5" '
    "(preferred) or a JSON number. Credits are quantity × the activity's rate and must come "
    "out whole: sessions and runs are counted whole, and hours go in steps that make whole "
    "credits (0.1 hour at 10 credits an hour, 0.25 at 4, 1 at 3). Nothing is ever rounded: "
    "another quantity is refused (422 validation_error naming the nearest valid ones). At "
    "most 24 hours, or 10 sessions or runs, per award line."
)
DATE_DOC = (
    "The Europe/London date of the activity, YYYY-MM-DD: not in the future, at most 60 days "
    "ago, and not in a closed month (409 period_closed)."
)
KEY_DOC = (
    "1-200 printable ASCII characters. The same key and body again return the first result "
    "and post nothing; the same key with another body is 409 idempotency_conflict."
)


class QuantityField(ma.fields.Raw):
    """A quantity as sent (string or number); parsed exactly by the use case."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {
            "description": QUANTITY_DOC,
            "oneOf": [
                {"type": "string", "pattern": r"^[0-9]{1,9}(\.[0-9]{1,2})?$", "example": "1.5"},
                {"type": "number", "exclusiveMinimum": 0},
            ],
        }
        if kwargs.get("allow_none") or (
            "load_default" in kwargs and kwargs["load_default"] is None
        ):
            # Its documented default (null) must itself be valid against the schema.
            metadata["oneOf"].append({"type": "null"})
        super().__init__(metadata=metadata, **kwargs)


# --- output shapes ------------------------------------------------------------------------


class PersonRefSchema(ma.Schema):
    id = inputs.Integer()
    name = inputs.String()
    email = inputs.String()


class ActivityRefSchema(ma.Schema):
    slug = inputs.String()
    name = inputs.String()


class StepSchema(ma.Schema):
    person = ma.fields.Nested(PersonRefSchema, allow_none=True)
    actor = inputs.String(
        metadata={"description": "who, in which role, via which token or session"}
    )
    at = inputs.AwareDateTime(format="iso", default_timezone=None)


class LineOutSchema(ma.Schema):
    member = ma.fields.Nested(PersonRefSchema)
    quantity = inputs.String(metadata={"description": 'decimal string, e.g. "1.5"'})
    credits = inputs.Integer()


class AwardSchema(ma.Schema):
    """An award of credits (a coordinator's record, a session sheet, or a member's claim)."""

    id = inputs.Integer(metadata={"description": "the award id"})
    kind = inputs.String(metadata={"enum": ["record", "session", "claim"]})
    state = inputs.String(metadata={"enum": ["pending", "awaiting_officer", "posted", "rejected"]})
    entry_id = inputs.Integer(
        allow_none=True, metadata={"description": "the ledger entry, once posted"}
    )
    credits = inputs.Integer(metadata={"description": "total credits of the award"})
    member = ma.fields.Nested(
        PersonRefSchema, allow_none=True, metadata={"description": "for a one-member award"}
    )
    quantity = inputs.String(
        allow_none=True, metadata={"description": 'for a one-member award, e.g. "1.5"'}
    )
    activity = ma.fields.Nested(ActivityRefSchema)
    unit = inputs.String()
    credits_per_unit = inputs.Integer()
    occurred_on = inputs.Date()
    lines = ma.fields.List(ma.fields.Nested(LineOutSchema))
    note = inputs.String()
    needs_officer = ma.fields.Boolean(
        metadata={"description": "above the four-eyes threshold: an officer must approve"}
    )
    created = ma.fields.Nested(StepSchema, metadata={"description": "recorded or claimed"})
    first_approval = ma.fields.Nested(StepSchema, allow_none=True)
    second_approval = ma.fields.Nested(StepSchema, allow_none=True)
    rejection = ma.fields.Nested(StepSchema, allow_none=True)
    reject_reason = inputs.String(allow_none=True)
    posted_at = inputs.AwareDateTime(format="iso", allow_none=True, default_timezone=None)
    replayed = ma.fields.Boolean(
        metadata={"description": "true when an idempotent retry returned the first result"}
    )


class AwardPageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(AwardSchema))
    next_before = inputs.Integer(
        allow_none=True,
        metadata={"description": "pass as ?before= for the next (older) page; null at the end"},
    )


# --- input shapes -------------------------------------------------------------------------


class EarningIn(ma.Schema):
    member_email = inputs.String(required=True)
    activity = inputs.String(required=True, metadata={"description": "the activity's slug"})
    quantity = QuantityField(required=True)
    occurred_on = inputs.String(required=True, metadata={"format": "date", "description": DATE_DOC})
    idempotency_key = inputs.String(required=True, metadata={"description": KEY_DOC})
    note = inputs.String(multiline=True, load_default="", metadata={"maxLength": 500})


class BulkLineIn(ma.Schema):
    member_email = ma.fields.Raw(load_default=None, metadata={"type": "string"})
    quantity = QuantityField(load_default=None)


class BulkIn(ma.Schema):
    activity = inputs.String(required=True, metadata={"description": "the activity's slug"})
    occurred_on = inputs.String(required=True, metadata={"format": "date", "description": DATE_DOC})
    idempotency_key = inputs.String(required=True, metadata={"description": KEY_DOC})
    note = inputs.String(multiline=True, load_default="", metadata={"maxLength": 500})
    lines = ma.fields.List(
        ma.fields.Nested(BulkLineIn),
        required=True,
        metadata={"minItems": 1, "maxItems": earning.awards.MAX_SHEET_LINES},
    )


class ClaimIn(ma.Schema):
    activity = inputs.String(required=True, metadata={"description": "the activity's slug"})
    quantity = QuantityField(required=True)
    occurred_on = inputs.String(required=True, metadata={"format": "date", "description": DATE_DOC})
    note = inputs.String(
        multiline=True,
        load_default="",
        metadata={"maxLength": 500, "description": "what you did, briefly"},
    )
    idempotency_key = inputs.String(required=True, metadata={"description": KEY_DOC})


class ApproveIn(ma.Schema):
    idempotency_key = inputs.String(
        required=True,
        metadata={
            "description": "1-200 printable ASCII characters; the same person approving "
            "again with the same key gets the award back as it now is"
        },
    )


class RejectIn(ma.Schema):
    reason = inputs.String(
        multiline=True,
        required=True,
        metadata={"minLength": 1, "maxLength": 500, "description": "why"},
    )


class PageArgs(ma.Schema):
    before = inputs.Integer(
        load_default=None, validate=ma.validate.Range(min=1), metadata={"description": "cursor"}
    )
    limit = inputs.Integer(load_default=20, validate=ma.validate.Range(min=1, max=MAX_PAGE))


class QueueArgs(PageArgs):
    stage = inputs.String(
        load_default=None,
        validate=ma.validate.OneOf(["first", "officer"]),
        metadata={
            "description": "officers: `first` (pending claims) or `officer` (awaiting an "
            "officer); both if absent. Coordinators always get their pending claims."
        },
    )


# --- helpers ------------------------------------------------------------------------------


def award_body(view: AwardView) -> dict[str, Any]:
    """An award as the API returns it (AwardSchema)."""
    return {
        "id": view.id,
        "kind": view.kind,
        "state": view.state,
        "entry_id": view.entry_id,
        "credits": view.credits,
        "member": view.member,
        "quantity": view.quantity,
        "activity": view.activity,
        "unit": view.unit,
        "credits_per_unit": view.credits_per_unit,
        "occurred_on": view.occurred_on,
        "lines": list(view.lines),
        "note": view.note,
        "needs_officer": view.needs_officer,
        "created": view.created,
        "first_approval": view.first_approval,
        "second_approval": view.second_approval,
        "rejection": view.rejection,
        "reject_reason": view.reject_reason,
        "posted_at": view.posted_at,
        "replayed": view.replayed,
    }


def _created(view: AwardView) -> tuple[dict[str, Any], int, dict[str, str]]:
    """201 when credits were posted (or a claim filed); 202 when an officer must approve."""
    status = 202 if view.state == earning.AWAITING_OFFICER else 201
    location = url_for("earnings.award", award_id=view.id)
    return award_body(view), status, {"Location": location}


def _page(views: list[AwardView], limit: int) -> dict[str, Any]:
    return {
        "items": [award_body(v) for v in views],
        "next_before": views[-1].id if len(views) == limit else None,
    }


# --- earnings -----------------------------------------------------------------------------

blp = Blueprint(
    "earnings",
    __name__,
    url_prefix="/api/v1/earnings",
    description="Credits for volunteering: coordinators record, approvers decide",
)

_ACCEPTED_DOC = (
    "Accepted but not posted: the credits of a line are above the four-eyes threshold, so "
    "the award waits (state `awaiting_officer`) for an officer who is not the recording "
    "coordinator. Poll the Location."
)


@blp.route("", methods=["POST"])
@require(Role.COORDINATOR)
@blp.arguments(EarningIn)
@blp.response(201, AwardSchema, description="Posted: credits are in the member's account.")
@blp.alt_response(202, schema=AwardSchema, description=_ACCEPTED_DOC)
def record(body: dict[str, Any]) -> Any:
    """Record one member's activity (contract v1).

    The coordinator must run an active group that does the activity and has the member.
    Credits = quantity × the activity's rate. Refusals: 409 `cap_exceeded` or
    `budget_exceeded` (with `credits_left`), 422 `unknown_member`, `unknown_activity`,
    `activity_inactive`, `validation_error`; 409 `period_closed`; 403 `forbidden` (not your
    group) or `self_award`.
    """
    who = principal()
    # Keyed: a second run replays the first award.
    view = current_services().db.run(
        lambda s: earning.record_award(s, who, **body), idempotent=True
    )
    return _created(view)


@blp.route("/bulk", methods=["POST"])
@require(Role.COORDINATOR)
@blp.arguments(BulkIn)
@blp.response(201, AwardSchema, description="Posted: one entry credits every line.")
@blp.alt_response(202, schema=AwardSchema, description=_ACCEPTED_DOC)
def record_bulk(body: dict[str, Any]) -> Any:
    """Record a whole session's attendance (a snow day: 40 volunteers) — all or nothing.

    One idempotency key, ONE balanced ledger entry (issuance → each member). If any line
    fails, 422 `lines_refused` lists every failing line (`line` is 1-based, with its `code`,
    `detail` and, for caps, `credits_left`) and nothing is posted. If any line is above the
    four-eyes threshold the whole sheet waits for an officer (202).
    """
    who = principal()
    view = current_services().db.run(lambda s: earning.record_session(s, who, **body))
    return _created(view)


@blp.route("/queue")
@require(Role.COORDINATOR, Role.OFFICER)
@blp.arguments(QueueArgs, location="query")
@blp.response(200, AwardPageSchema)
def approval_queue(args: dict[str, Any]) -> dict[str, Any]:
    """What waits for the caller's decision, newest first (cursor: `before`).

    Coordinators: pending claims of their groups' members for their groups' activities.
    Officers: all pending claims and every award awaiting an officer.
    """
    who = principal()
    with current_services().db.read() as s:
        views = earning.queue(
            s, who, stage=args["stage"], before=args["before"], limit=args["limit"]
        )
    return _page(views, args["limit"])


@blp.route("/<int:award_id>")
@require(Role.COORDINATOR, Role.OFFICER)
@blp.response(200, AwardSchema)
def award(award_id: int) -> dict[str, Any]:
    """One award: officers any; coordinators those for their groups' people (404 otherwise)."""
    who = principal()
    with current_services().db.read() as s:
        return award_body(earning.get_award(s, who, award_id))


@blp.route("/<int:award_id>/approve", methods=["POST"])
@require(Role.COORDINATOR, Role.OFFICER)
@blp.arguments(ApproveIn)
@blp.response(200, AwardSchema)
def approve(body: dict[str, Any], award_id: int) -> dict[str, Any]:
    """Approve a pending claim (a coordinator of the member's group, or an officer) or an
    award awaiting an officer (an officer who did not give the first approval: 403
    `second_approver_required` otherwise). Posting can be refused with 409 `cap_exceeded`,
    `budget_exceeded` or `period_closed`; the award then stays as it was. Nobody approves
    credits for themselves (403 `self_award`). Decided already: 409 `award_not_pending`."""
    who = principal()
    view = current_services().db.run(
        lambda s: earning.approve(s, who, award_id, idempotency_key=body["idempotency_key"])
    )
    return award_body(view)


@blp.route("/<int:award_id>/reject", methods=["POST"])
@require(Role.COORDINATOR, Role.OFFICER)
@blp.arguments(RejectIn)
@blp.response(200, AwardSchema)
def reject(body: dict[str, Any], award_id: int) -> dict[str, Any]:
    """Reject a pending claim or an award awaiting an officer, saying why. Nothing is posted.
    Rejecting again (the same person) returns the award as it is."""
    who = principal()
    view = current_services().db.run(
        lambda s: earning.reject(s, who, award_id, reason=body["reason"])
    )
    return award_body(view)


# --- claims -------------------------------------------------------------------------------

claims_blp = Blueprint(
    "claims", __name__, url_prefix="/api/v1/claims", description="Volunteers' own claims"
)


@claims_blp.route("", methods=["POST"])
@require(Role.MEMBER)
@claims_blp.arguments(ClaimIn)
@claims_blp.response(201, AwardSchema, description="Filed: state `pending`.")
def file_claim(body: dict[str, Any]) -> Any:
    """Claim a session you did, for an activity of one of your groups. It waits for a
    coordinator of your group (and, above the four-eyes threshold, an officer too). Refused
    at once if it could not be paid now: 409 `cap_exceeded` / `budget_exceeded`; 422
    `not_in_group` if none of your groups does the activity."""
    who = principal()
    view = current_services().db.run(lambda s: earning.file_claim(s, who, **body))
    return award_body(view), 201, {"Location": url_for("claims.claim", claim_id=view.id)}


@claims_blp.route("", methods=["GET"])
@require(Role.MEMBER)
@claims_blp.arguments(PageArgs, location="query")
@claims_blp.response(200, AwardPageSchema)
def my_claims(args: dict[str, Any]) -> dict[str, Any]:
    """Your claims and their state, newest first (cursor: `before`)."""
    who = principal()
    with current_services().db.read() as s:
        views = earning.member_claims(s, who, before=args["before"], limit=args["limit"])
    return _page(views, args["limit"])


@claims_blp.route("/<int:claim_id>")
@require(Role.MEMBER)
@claims_blp.response(200, AwardSchema)
def claim(claim_id: int) -> dict[str, Any]:
    """One of your claims (404 for anyone else's)."""
    who = principal()
    with current_services().db.read() as s:
        return award_body(earning.get_award(s, who, claim_id))


# --- the member's history -----------------------------------------------------------------

me_entries_blp = Blueprint(
    "me_entries", __name__, url_prefix="/api/v1/me", description="The caller's own account"
)


class EntryItemSchema(ma.Schema):
    id = inputs.Integer(metadata={"description": "the ledger entry id"})
    kind = inputs.String(
        metadata={
            "enum": [
                "earn",
                "voucher_issue",
                "redeem",
                "cancel",
                "expire",
                "reversal",
                "adjustment",
            ]
        }
    )
    occurred_at = inputs.AwareDateTime(format="iso", default_timezone=None)
    recorded_at = inputs.AwareDateTime(format="iso", default_timezone=None)
    amount = inputs.Integer(
        metadata={"description": "credits this entry added to (+) or took from (−) you"}
    )
    description = inputs.String()
    activity = ma.fields.Nested(ActivityRefSchema, allow_none=True)
    quantity = inputs.String(allow_none=True)
    unit = inputs.String(allow_none=True)
    award_id = inputs.Integer(allow_none=True)
    approved_by = ma.fields.List(
        inputs.String(), metadata={"description": "names, first approver first"}
    )


class EntryPageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(EntryItemSchema))
    next_before = inputs.Integer(
        allow_none=True,
        metadata={"description": "pass as ?before= for the next (older) page; null at the end"},
    )


@me_entries_blp.route("/entries")
@require(Role.MEMBER)
@me_entries_blp.arguments(PageArgs, location="query")
@me_entries_blp.response(200, EntryPageSchema)
def my_entries(args: dict[str, Any]) -> dict[str, Any]:
    """Your ledger entries, newest first (contract v1), `limit` (1-100, default 20) at a
    time. For the next page pass `before=<next_before>`; entries are ordered by id, which
    only grows, so paging never repeats or skips one."""
    who = principal()
    assert who.person_id is not None
    with current_services().db.read() as s:
        items, next_before = earning.member_history(
            s, who.person_id, before=args["before"], limit=args["limit"]
        )
    return {
        "items": [
            {
                "id": i.id,
                "kind": i.kind,
                "occurred_at": i.occurred_at,
                "recorded_at": i.recorded_at,
                "amount": i.amount,
                "description": i.description,
                "activity": {"slug": i.activity_slug, "name": i.activity_name}
                if i.activity_slug
                else None,
                "quantity": i.quantity,
                "unit": i.unit,
                "award_id": i.award_id,
                "approved_by": list(i.approved_by),
            }
            for i in items
        ],
        "next_before": next_before,
    }


__all__ = ["blp", "claims_blp", "me_entries_blp"]
