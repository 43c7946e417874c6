"""Activities, their monthly budgets, and the earning settings (officers manage them).

- ``GET /api/v1/activities`` (member, coordinator, officer): the activities and their rates.
- ``POST /api/v1/activities``, ``PATCH /api/v1/activities/{slug}`` (officer).
- ``GET /api/v1/activities/{slug}/budgets[/{YYYY-MM}]``, ``PUT .../budgets/{YYYY-MM}``
  (officer): a month's issuance budget and what has been issued against it.
- ``GET/PUT /api/v1/earning-settings`` (officer): the four-eyes threshold.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from credits import earning
from credits.accounts import Role
from credits.api import inputs
from credits.api.auth import principal, require
from credits.api.context import current_services
from credits.api.inputs import Blueprint
from credits.earning import activities as acts
from credits.earning import dates, quantities
from credits.earning.errors import ActivityNotFound
from credits.earning.models import Activity
from credits.ledger import Month

blp = Blueprint(
    "activities",
    __name__,
    url_prefix="/api/v1/activities",
    description="What volunteers earn credits for, at what rate, within which limits",
)

_STRICT_BOOL = {"truthy": {True}, "falsy": {False}}


class ActivitySchema(ma.Schema):
    slug = inputs.String()
    name = inputs.String()
    description = inputs.String()
    unit = inputs.String(metadata={"enum": list(quantities.UNITS)})
    credits_per_unit = inputs.Integer()
    quantity_step = inputs.String(
        metadata={"description": "quantities go in steps of this (whole credits, no rounding)"}
    )
    week_cap_credits = inputs.Integer(
        metadata={"description": "most credits a member earns from it in a London ISO week"}
    )
    month_cap_credits = inputs.Integer(
        metadata={"description": "most credits a member earns from it in a London month"}
    )
    monthly_budget_credits = inputs.Integer(
        metadata={"description": "issuance budget of a month without a budget of its own"}
    )
    active = ma.fields.Boolean()
    updated_at = inputs.AwareDateTime(format="iso", default_timezone=None)


class ActivityListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(ActivitySchema))


class ActivityIn(ma.Schema):
    slug = inputs.String(
        required=True, metadata={"pattern": acts.SLUG_RE.pattern, "example": "snow-clearing"}
    )
    name = inputs.String(required=True)
    description = inputs.String(multiline=True, load_default="")
    unit = inputs.String(required=True, metadata={"enum": list(quantities.UNITS)})
    credits_per_unit = inputs.Integer(
        required=True, strict=True, metadata={"minimum": 1, "maximum": acts.MAX_RATE}
    )
    week_cap_credits = inputs.Integer(required=True, strict=True, metadata={"minimum": 0})
    month_cap_credits = inputs.Integer(required=True, strict=True, metadata={"minimum": 0})
    monthly_budget_credits = inputs.Integer(required=True, strict=True, metadata={"minimum": 0})
    active = ma.fields.Boolean(load_default=True, **_STRICT_BOOL)


class ActivityPatch(ma.Schema):
    name = inputs.String()
    description = inputs.String(multiline=True)
    unit = inputs.String(metadata={"enum": list(quantities.UNITS)})
    credits_per_unit = inputs.Integer(strict=True)
    week_cap_credits = inputs.Integer(strict=True)
    month_cap_credits = inputs.Integer(strict=True)
    monthly_budget_credits = inputs.Integer(strict=True)
    active = ma.fields.Boolean(
        metadata={"description": "false deactivates: no new awards or claims"}, **_STRICT_BOOL
    )


class ListArgs(ma.Schema):
    include_inactive = ma.fields.Boolean(load_default=False)


class BudgetSchema(ma.Schema):
    activity = inputs.String(attribute="activity_slug")
    month = inputs.String(metadata={"example": "2026-11"})
    budget_credits = inputs.Integer()
    is_default = ma.fields.Boolean(
        metadata={"description": "true: the activity's monthly_budget_credits applies"}
    )
    issued_credits = inputs.Integer()
    left_credits = inputs.Integer()


class BudgetListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(BudgetSchema))


class BudgetIn(ma.Schema):
    budget_credits = inputs.Integer(
        required=True,
        strict=True,
        allow_none=True,
        metadata={"description": "null: go back to the activity's default monthly budget"},
    )


def activity_body(row: Activity) -> dict[str, Any]:
    return {
        "slug": row.slug,
        "name": row.name,
        "description": row.description,
        "unit": row.unit,
        "credits_per_unit": row.credits_per_unit,
        "quantity_step": quantities.format_decimal(quantities.step(row.unit, row.credits_per_unit)),
        "week_cap_credits": row.week_cap_credits,
        "month_cap_credits": row.month_cap_credits,
        "monthly_budget_credits": row.monthly_budget_credits,
        "active": row.active,
        "updated_at": row.updated_at,
    }


@blp.route("", methods=["GET"])
@require(Role.MEMBER, Role.COORDINATOR, Role.OFFICER)
@blp.arguments(ListArgs, location="query")
@blp.response(200, ActivityListSchema)
def list_all(args: dict[str, Any]) -> dict[str, Any]:
    """Active activities by name; officers may add `include_inactive=true`."""
    who = principal()
    include = bool(args["include_inactive"]) and who.role is Role.OFFICER
    with current_services().db.read() as s:
        return {
            "items": [
                activity_body(r) for r in earning.list_activities(s, include_inactive=include)
            ]
        }


@blp.route("", methods=["POST"])
@require(Role.OFFICER)
@blp.arguments(ActivityIn)
@blp.response(201, ActivitySchema)
def create(body: dict[str, Any]) -> dict[str, Any]:
    """Define an activity. The slug is permanent; 409 `activity_exists` if it is taken."""
    who = principal()
    return activity_body(current_services().db.run(lambda s: earning.create_activity(s, who, body)))


@blp.route("/<slug>", methods=["GET"])
@require(Role.MEMBER, Role.COORDINATOR, Role.OFFICER)
@blp.response(200, ActivitySchema)
def one(slug: str) -> dict[str, Any]:
    """One activity (inactive ones to officers only)."""
    who = principal()
    with current_services().db.read() as s:
        row = earning.get_activity(s, slug)
        if not row.active and who.role is not Role.OFFICER:
            raise ActivityNotFound(f"no activity {slug!r}")
        return activity_body(row)


@blp.route("/<slug>", methods=["PATCH"])
@require(Role.OFFICER)
@blp.arguments(ActivityPatch)
@blp.response(200, ActivitySchema)
def change(body: dict[str, Any], slug: str) -> dict[str, Any]:
    """Change an activity's fields (a new rate applies to awards made from now on);
    `"active": false` deactivates it."""
    who = principal()
    return activity_body(
        current_services().db.run(lambda s: earning.update_activity(s, who, slug, body))
    )


@blp.route("/<slug>/budgets", methods=["GET"])
@require(Role.OFFICER)
@blp.response(200, BudgetListSchema)
def budgets(slug: str) -> dict[str, Any]:
    """This month, the next two, the previous three, and any other month with a budget of
    its own or credits issued — newest first."""
    with current_services().db.read() as s:
        row = earning.get_activity(s, slug)
        return {"items": earning.budgets_around(s, row, dates.london_today())}


@blp.route("/<slug>/budgets/<month>", methods=["GET"])
@require(Role.OFFICER)
@blp.response(200, BudgetSchema)
@inputs.refuses(validation_error=422)
def budget(slug: str, month: str) -> Any:
    """One London month's budget (`YYYY-MM`) and what has been issued against it."""
    with current_services().db.read() as s:
        return earning.budget_view(s, earning.get_activity(s, slug), Month.parse(month))


@blp.route("/<slug>/budgets/<month>", methods=["PUT"])
@require(Role.OFFICER)
@blp.arguments(BudgetIn)
@blp.response(200, BudgetSchema)
def set_budget(body: dict[str, Any], slug: str, month: str) -> Any:
    """Set one month's issuance budget (or `null` for the activity's default). A budget
    below what has already been issued that month is refused (422)."""
    who = principal()
    return current_services().db.run(
        lambda s: earning.set_month_budget(s, who, slug, month, body["budget_credits"])
    )


# --- settings -----------------------------------------------------------------------------

settings_blp = Blueprint(
    "earning_settings",
    __name__,
    url_prefix="/api/v1/earning-settings",
    description="Scheme settings for earning",
)


class SettingsSchema(ma.Schema):
    four_eyes_threshold_credits = inputs.Integer(
        metadata={
            "description": "an award line of more credits than this needs an officer's "
            "approval as well (by someone other than the first approver)"
        }
    )
    backdate_days = inputs.Integer(
        metadata={"description": "how many days back an activity may be dated (fixed)"}
    )
    updated_at = inputs.AwareDateTime(format="iso", allow_none=True, default_timezone=None)
    updated_by = inputs.String(allow_none=True)


class SettingsIn(ma.Schema):
    four_eyes_threshold_credits = inputs.Integer(
        required=True, strict=True, metadata={"minimum": 0}
    )


@settings_blp.route("", methods=["GET"])
@require(Role.OFFICER)
@settings_blp.response(200, SettingsSchema)
def get_settings() -> dict[str, Any]:
    """The earning settings."""
    with current_services().db.read() as s:
        return earning.settings_view(s)


@settings_blp.route("", methods=["PUT"])
@require(Role.OFFICER)
@settings_blp.arguments(SettingsIn)
@settings_blp.response(200, SettingsSchema)
def put_settings(body: dict[str, Any]) -> dict[str, Any]:
    """Set the four-eyes threshold. It applies to decisions made from now on."""
    who = principal()
    return current_services().db.run(
        lambda s: earning.set_four_eyes_threshold(s, who, body["four_eyes_threshold_credits"])
    )
