"""Volunteer groups: officers manage them; a coordinator reads only their own.

- ``GET /api/v1/groups`` (officer: all; coordinator: the groups they run).
- ``POST /api/v1/groups``, ``PATCH /api/v1/groups/{id}`` (officer).
- ``GET /api/v1/groups/{id}`` (officer; a coordinator of that group — 404 for others).
- ``POST /api/v1/groups/{id}/members`` and ``/coordinators`` ``{"email"}``; ``DELETE
  /api/v1/groups/{id}/members/{person_id}`` and ``/coordinators/{person_id}`` (officer).
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from credits import earning
from credits.accounts import Role
from credits.api import inputs
from credits.api.auth import principal, require
from credits.api.context import current_services
from credits.api.earning import ActivityRefSchema, PersonRefSchema
from credits.api.inputs import Blueprint

blp = Blueprint(
    "groups",
    __name__,
    url_prefix="/api/v1/groups",
    description="Volunteer groups: coordinators, members and the activities they do",
)


class GroupSchema(ma.Schema):
    id = inputs.Integer()
    name = inputs.String()
    description = inputs.String()
    active = ma.fields.Boolean()
    activities = ma.fields.List(ma.fields.Nested(ActivityRefSchema))
    coordinators = ma.fields.List(ma.fields.Nested(PersonRefSchema))
    members = ma.fields.List(ma.fields.Nested(PersonRefSchema))
    member_count = inputs.Integer()


class GroupSummarySchema(GroupSchema):
    class Meta:
        exclude = ("members",)


class GroupListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(GroupSummarySchema))


class GroupIn(ma.Schema):
    name = inputs.String(required=True, metadata={"maxLength": 120})
    description = inputs.String(multiline=True, load_default="", metadata={"maxLength": 500})
    activities = ma.fields.List(
        inputs.String(), load_default=list, metadata={"description": "activity slugs"}
    )


class GroupPatch(ma.Schema):
    name = inputs.String(metadata={"maxLength": 120})
    description = inputs.String(multiline=True, metadata={"maxLength": 500})
    activities = ma.fields.List(
        inputs.String(), metadata={"description": "replaces the group's activities"}
    )
    active = ma.fields.Boolean(truthy={True}, falsy={False})


class PersonIn(ma.Schema):
    email = inputs.String(required=True)


@blp.route("", methods=["GET"])
@require(Role.OFFICER, Role.COORDINATOR)
@blp.response(200, GroupListSchema)
def list_all() -> dict[str, Any]:
    """Officers: every group. Coordinators: the groups they run."""
    who = principal()
    with current_services().db.read() as s:
        return {"items": earning.list_groups(s, who)}


@blp.route("", methods=["POST"])
@require(Role.OFFICER)
@blp.arguments(GroupIn)
@blp.response(201, GroupSchema)
def create(body: dict[str, Any]) -> Any:
    """Create a group doing some activities (names are unique: 409 `group_exists`)."""
    who = principal()
    return current_services().db.run(lambda s: earning.create_group(s, who, body))


@blp.route("/<int:group_id>", methods=["GET"])
@require(Role.OFFICER, Role.COORDINATOR)
@blp.response(200, GroupSchema)
def one(group_id: int) -> Any:
    """A group with its members (a coordinator sees only their own groups: 404 otherwise)."""
    who = principal()
    with current_services().db.read() as s:
        return earning.get_group(s, who, group_id)


@blp.route("/<int:group_id>", methods=["PATCH"])
@require(Role.OFFICER)
@blp.arguments(GroupPatch)
@blp.response(200, GroupSchema)
def change(body: dict[str, Any], group_id: int) -> Any:
    """Rename, (de)activate, or replace the activities of a group."""
    who = principal()
    return current_services().db.run(lambda s: earning.update_group(s, who, group_id, body))


@blp.route("/<int:group_id>/members", methods=["POST"])
@require(Role.OFFICER)
@blp.arguments(PersonIn)
@blp.response(200, GroupSchema)
def add_member(body: dict[str, Any], group_id: int) -> Any:
    """Add a member by email (idempotent; 422 `unknown_member` if no member has it)."""
    who = principal()
    return current_services().db.run(lambda s: earning.add_member(s, who, group_id, body["email"]))


@blp.route("/<int:group_id>/members/<int:person_id>", methods=["DELETE"])
@require(Role.OFFICER)
@blp.response(200, GroupSchema)
def remove_member(group_id: int, person_id: int) -> Any:
    """Take a member out of the group (their credits and awards are untouched)."""
    who = principal()
    return current_services().db.run(lambda s: earning.remove_member(s, who, group_id, person_id))


@blp.route("/<int:group_id>/coordinators", methods=["POST"])
@require(Role.OFFICER)
@blp.arguments(PersonIn)
@blp.response(200, GroupSchema)
def add_coordinator(body: dict[str, Any], group_id: int) -> Any:
    """Make someone holding the coordinator role a coordinator of this group."""
    who = principal()
    return current_services().db.run(
        lambda s: earning.add_coordinator(s, who, group_id, body["email"])
    )


@blp.route("/<int:group_id>/coordinators/<int:person_id>", methods=["DELETE"])
@require(Role.OFFICER)
@blp.response(200, GroupSchema)
def remove_coordinator(group_id: int, person_id: int) -> Any:
    """Stop someone coordinating this group."""
    who = principal()
    return current_services().db.run(
        lambda s: earning.remove_coordinator(s, who, group_id, person_id)
    )
