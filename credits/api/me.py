"""Who am I: ``GET /api/v1/me``."""

from __future__ import annotations

import marshmallow as ma

from credits.accounts import Role
from credits.api import inputs
from credits.api.auth import principal, require
from credits.api.inputs import Blueprint

blp = Blueprint("me", __name__, url_prefix="/api/v1/me", description="The caller's own account")

ANY_ROLE = tuple(Role)


class MeSchema(ma.Schema):
    id = inputs.Integer(
        allow_none=True, metadata={"description": "person id (terminal id for a terminal)"}
    )
    name = inputs.String()
    role = inputs.String(metadata={"description": "the role this token acts in"})


@blp.route("")
@require(*ANY_ROLE)
@blp.response(200, MeSchema)
def me() -> dict[str, object]:
    """Who the token belongs to, and the one role it acts in."""
    who = principal()
    subject = who.terminal_id if who.role is Role.TERMINAL else who.person_id
    return {"id": subject, "name": who.name, "role": who.role.value}
