"""The audit log, for officers: who did what, when, to what, and how they were signed in."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from credits import audit
from credits.accounts.models import Role
from credits.api import inputs
from credits.api.auth import require
from credits.api.context import current_services
from credits.api.inputs import Blueprint
from credits.api.pagination import PageArgs, page_out, page_schema

blp = Blueprint(
    "audit", __name__, url_prefix="/api/v1/audit-events", description="The audit log (officers)"
)


class AuditEventSchema(ma.Schema):
    id = inputs.Integer()
    occurred_at = inputs.AwareDateTime()
    actor = inputs.String(metadata={"description": "person:12 as officer via session:40"})
    actor_person_id = inputs.Integer(allow_none=True)
    via = inputs.String()
    action = inputs.String(metadata={"description": "noun.verb, e.g. person.disable"})
    target_ref = inputs.String(allow_none=True)
    details = ma.fields.Dict()


class AuditArgs(PageArgs):
    action = inputs.String(
        validate=ma.validate.Length(max=60),
        metadata={"description": "exact, or a prefix ending in a dot (`person.`)"},
    )
    person_id = inputs.Integer(
        validate=ma.validate.Range(min=1), metadata={"description": "events by or about them"}
    )
    target_ref = inputs.String(validate=ma.validate.Length(max=120))
    since = inputs.AwareDateTime(metadata={"description": "inclusive, e.g. 2026-11-01T00:00:00Z"})
    until = inputs.AwareDateTime(metadata={"description": "exclusive"})


@blp.route("")
@require(Role.OFFICER, Role.ADMIN)
@blp.arguments(AuditArgs, location="query")
@blp.response(200, page_schema(AuditEventSchema, "AuditEventsPage"))
def list_events(args: dict[str, Any]) -> dict[str, Any]:
    """Audit events, newest first, filtered by action, person, target and time."""
    with current_services().db.read(lag_ok=True) as s:  # history: the replica, if there is one
        found = audit.list_events(
            s,
            action=args.get("action"),
            person_id=args.get("person_id"),
            target_ref=args.get("target_ref"),
            since=args.get("since"),
            until=args.get("until"),
            page=args["page"],
            per_page=args["per_page"],
        )
    return page_out(found)
