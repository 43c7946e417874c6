"""People, invitations and registrations: officers manage who may do what; residents register
and ask for password resets (the only two calls here that need no token, both rate limited).

Officer and admin tokens only, except ``POST /api/v1/registrations`` and
``POST /api/v1/password-resets``, which answer ``202`` whether or not the address is known.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from credits.accounts import onboarding, people
from credits.accounts.models import PersonStatus, Role
from credits.accounts.people import PERSON_ROLES, InvitationView, PersonView
from credits.api import inputs
from credits.api.auth import principal, require
from credits.api.context import current_services
from credits.api.inputs import Blueprint
from credits.api.pagination import PageArgs, page_out, page_schema
from credits.api.requestinfo import client_ip, deliver, deliver_quietly, outgoing

OFFICERS = (Role.OFFICER, Role.ADMIN)
ROLE_NAMES = [r.value for r in PERSON_ROLES]
STATUS_NAMES = [s.value for s in PersonStatus]

blp = Blueprint(
    "people", __name__, url_prefix="/api/v1/people", description="People and their roles (officers)"
)
invitations_blp = Blueprint(
    "invitations",
    __name__,
    url_prefix="/api/v1/invitations",
    description="Inviting people: they get an emailed link to set their password (officers)",
)
registrations_blp = Blueprint(
    "registrations",
    __name__,
    url_prefix="/api/v1/registrations",
    description="Residents register themselves; officers approve or decline",
)
resets_blp = Blueprint(
    "password_resets",
    __name__,
    url_prefix="/api/v1/password-resets",
    description="Forgotten passwords: an emailed one-hour link",
)


# --- schemas ---------------------------------------------------------------------------------


class RoleSchema(ma.Schema):
    role = inputs.String(required=True, validate=ma.validate.OneOf(ROLE_NAMES))
    scope_ref = inputs.String(
        allow_none=True, metadata={"description": "shop staff: the shop, `shop:<id>`"}
    )


class PersonSchema(ma.Schema):
    id = inputs.Integer()
    name = inputs.String()
    email = inputs.String()
    phone = inputs.String(allow_none=True, metadata={"description": "international form"})
    status = inputs.String(metadata={"description": " | ".join(STATUS_NAMES)})
    roles = ma.fields.List(ma.fields.Nested(RoleSchema))
    has_password = ma.fields.Boolean()
    email_confirmed_at = inputs.AwareDateTime(allow_none=True)
    created_at = inputs.AwareDateTime()
    created_by = inputs.String(allow_none=True)
    updated_at = inputs.AwareDateTime(allow_none=True)
    updated_by = inputs.String(allow_none=True)
    status_reason = inputs.String(allow_none=True)
    status_changed_at = inputs.AwareDateTime(allow_none=True)
    status_changed_by = inputs.String(allow_none=True)
    ledger_account_id = inputs.Integer(allow_none=True)


def person_out(view: PersonView) -> dict[str, Any]:
    """A PersonView as PersonSchema expects it."""
    data = dict(view.__dict__)
    data["roles"] = [{"role": r.value, "scope_ref": s} for r, s in view.roles]
    return data


class PeopleArgs(PageArgs):
    q = inputs.String(
        validate=ma.validate.Length(max=100),
        metadata={"description": "part of a name, email address or mobile number"},
    )
    status = inputs.String(validate=ma.validate.OneOf(STATUS_NAMES))
    role = inputs.String(validate=ma.validate.OneOf(ROLE_NAMES))


class PersonUpdateSchema(ma.Schema):
    name = inputs.String(validate=ma.validate.Length(min=1, max=200))
    phone = inputs.String(
        allow_none=True,
        validate=ma.validate.Length(max=40),
        metadata={"description": "null or empty removes it"},
    )


class ReasonSchema(ma.Schema):
    reason = inputs.String(
        multiline=True, required=True, validate=ma.validate.Length(min=1, max=500)
    )


class OptionalReasonSchema(ma.Schema):
    reason = inputs.String(multiline=True, allow_none=True, validate=ma.validate.Length(max=500))


class InvitationCreateSchema(ma.Schema):
    name = inputs.String(required=True, validate=ma.validate.Length(min=1, max=200))
    email = inputs.String(required=True, validate=ma.validate.Length(min=3, max=254))
    phone = inputs.String(allow_none=True, validate=ma.validate.Length(max=40))
    roles = ma.fields.List(
        inputs.String(validate=ma.validate.OneOf(ROLE_NAMES)),
        load_default=lambda: ["member"],
        validate=ma.validate.Length(min=1, max=len(ROLE_NAMES)),
    )
    scope_ref = inputs.String(
        allow_none=True,
        validate=ma.validate.Length(max=120),
        metadata={"description": "required for shop_staff: `shop:<id>`"},
    )


class InvitationSchema(ma.Schema):
    person = ma.fields.Nested(PersonSchema)
    sent_at = inputs.AwareDateTime(allow_none=True)
    expires_at = inputs.AwareDateTime(allow_none=True)
    state = inputs.String(metadata={"description": "pending | expired"})
    email_sent = ma.fields.Boolean(
        metadata={"description": "false if the mail server refused it (resend later)"}
    )
    mail_problem = inputs.String(allow_none=True)


def invitation_out(inv: InvitationView) -> dict[str, Any]:
    """An InvitationView as InvitationSchema expects it."""
    return {
        "person": person_out(inv.person),
        "sent_at": inv.sent_at,
        "expires_at": inv.expires_at,
        "state": inv.state,
    }


class InvitationArgs(PageArgs):
    state = inputs.String(validate=ma.validate.OneOf(["pending", "expired", "all"]))


class RegistrationSchema(ma.Schema):
    name = inputs.String(required=True, validate=ma.validate.Length(min=1, max=200))
    email = inputs.String(required=True, validate=ma.validate.Length(min=3, max=254))
    phone = inputs.String(allow_none=True, validate=ma.validate.Length(max=40))
    password = inputs.String(
        required=True, load_only=True, validate=ma.validate.Length(min=1, max=200)
    )


class ResetRequestSchema(ma.Schema):
    email = inputs.String(required=True, validate=ma.validate.Length(min=1, max=254))


class ReceivedSchema(ma.Schema):
    status = inputs.String()
    detail = inputs.String()


REGISTRATION_RECEIVED = (
    "Thank you. We have sent an email to that address: open the link in it to confirm it. "
    "The council will then check your registration."
)
RESET_RECEIVED = (
    "If that address belongs to an account, we have sent it a link to choose a new password. "
    "The link works for one hour."
)


# --- people ----------------------------------------------------------------------------------


@blp.route("")
@require(*OFFICERS)
@blp.arguments(PeopleArgs, location="query")
@blp.response(200, page_schema(PersonSchema, "PeoplePage"))
def list_people(args: dict[str, Any]) -> dict[str, Any]:
    """Find people: by part of a name, email or number; by status; by role."""
    found = current_services().db.run(
        lambda s: people.list_people(
            s,
            q=args.get("q"),
            status=args.get("status"),
            role=args.get("role"),
            page=args["page"],
            per_page=args["per_page"],
        )
    )
    return page_out(found, person_out)


@blp.route("/<int:person_id>")
@require(*OFFICERS)
@blp.response(200, PersonSchema)
def get_person(person_id: int) -> dict[str, Any]:
    """One person, with their roles and status history."""
    return person_out(current_services().db.run(lambda s: people.view_person(s, person_id)))


@blp.route("/<int:person_id>", methods=["PATCH"])
@require(*OFFICERS)
@blp.arguments(PersonUpdateSchema)
@blp.response(200, PersonSchema)
def update_person(args: dict[str, Any], person_id: int) -> dict[str, Any]:
    """Change a person's name or mobile number."""
    who = principal()
    kwargs: dict[str, Any] = {}
    if "name" in args:
        kwargs["name"] = args["name"]
    if "phone" in args:
        kwargs["phone"] = args["phone"] or ""
    view = current_services().db.run(lambda s: people.update_person(s, who, person_id, **kwargs))
    return person_out(view)


@blp.route("/<int:person_id>/roles", methods=["POST"])
@require(*OFFICERS)
@blp.arguments(RoleSchema)
@blp.response(200, PersonSchema)
def grant_role(args: dict[str, Any], person_id: int) -> dict[str, Any]:
    """Grant a role (shop staff need `scope_ref`); only admins grant admin."""
    who = principal()
    view = current_services().db.run(
        lambda s: people.grant(s, who, person_id, args["role"], args.get("scope_ref"))
    )
    return person_out(view)


@blp.route("/<int:person_id>/roles/<string:role>", methods=["DELETE"])
@require(*OFFICERS)
@blp.response(200, PersonSchema)
@inputs.refuses(validation_error=422)
def revoke_role(person_id: int, role: str) -> dict[str, Any]:
    """Revoke a role: the person's tokens and sessions in that role end at once."""
    who = principal()
    return person_out(current_services().db.run(lambda s: people.revoke(s, who, person_id, role)))


@blp.route("/<int:person_id>/disable", methods=["POST"])
@require(*OFFICERS)
@blp.arguments(ReasonSchema)
@blp.response(200, PersonSchema)
@inputs.refuses(wrong_status=409)
def disable_person(args: dict[str, Any], person_id: int) -> dict[str, Any]:
    """Disable someone: sessions, tokens and emailed links end now."""
    who = principal()
    view = current_services().db.run(lambda s: people.disable(s, who, person_id, args["reason"]))
    return person_out(view)


@blp.route("/<int:person_id>/enable", methods=["POST"])
@require(*OFFICERS)
@blp.response(200, PersonSchema)
@inputs.refuses(wrong_status=409)
def enable_person(person_id: int) -> dict[str, Any]:
    """Re-enable someone who was disabled."""
    who = principal()
    return person_out(current_services().db.run(lambda s: people.enable(s, who, person_id)))


# --- invitations -----------------------------------------------------------------------------


@invitations_blp.route("", methods=["POST"])
@require(*OFFICERS)
@invitations_blp.arguments(InvitationCreateSchema)
@invitations_blp.response(201, InvitationSchema)
def create_invitation(args: dict[str, Any]) -> dict[str, Any]:
    """Invite someone: creates them (status `invited`) and emails a 7-day, single-use link."""
    who = principal()
    out = outgoing()
    view, link, message = current_services().db.run(
        lambda s: people.invite(
            s,
            who,
            out,
            name=args["name"],
            email=args["email"],
            phone=args.get("phone"),
            roles=args["roles"],
            scope_ref=args.get("scope_ref"),
        )
    )
    problems = deliver([message])
    return {
        "person": person_out(view),
        "sent_at": link.created_at,
        "expires_at": link.expires_at,
        "state": "pending",
        "email_sent": not problems,
        "mail_problem": problems[0] if problems else None,
    }


@invitations_blp.route("")
@require(*OFFICERS)
@invitations_blp.arguments(InvitationArgs, location="query")
@invitations_blp.response(200, page_schema(InvitationSchema, "InvitationsPage"))
def list_invitations(args: dict[str, Any]) -> dict[str, Any]:
    """People invited who have not accepted yet; `state=pending|expired`."""
    found = current_services().db.run(
        lambda s: people.list_invitations(
            s, state=args.get("state"), page=args["page"], per_page=args["per_page"]
        )
    )
    return page_out(found, invitation_out)


@invitations_blp.route("/<int:person_id>/resend", methods=["POST"])
@require(*OFFICERS)
@invitations_blp.response(200, InvitationSchema)
@inputs.refuses(wrong_status=409)
def resend_invitation(person_id: int) -> dict[str, Any]:
    """Send a new invitation link (the previous one stops working)."""
    who = principal()
    out = outgoing()
    link, message = current_services().db.run(
        lambda s: people.resend_invitation(s, who, out, person_id)
    )
    problems = deliver([message])
    view = current_services().db.run(lambda s: people.view_person(s, person_id))
    return {
        "person": person_out(view),
        "sent_at": link.created_at,
        "expires_at": link.expires_at,
        "state": "pending",
        "email_sent": not problems,
        "mail_problem": problems[0] if problems else None,
    }


@invitations_blp.route("/<int:person_id>/withdraw", methods=["POST"])
@require(*OFFICERS)
@invitations_blp.arguments(OptionalReasonSchema)
@invitations_blp.response(200, PersonSchema)
@inputs.refuses(wrong_status=409)
def withdraw_invitation(args: dict[str, Any], person_id: int) -> dict[str, Any]:
    """Withdraw an invitation: the link stops working and the person is disabled."""
    who = principal()
    view = current_services().db.run(
        lambda s: people.withdraw_invitation(s, who, person_id, args.get("reason"))
    )
    return person_out(view)


# --- registrations ---------------------------------------------------------------------------


@registrations_blp.route("", methods=["POST"])
@registrations_blp.arguments(RegistrationSchema)
@registrations_blp.response(202, ReceivedSchema)
@inputs.refuses(rate_limited=429)
def register(args: dict[str, Any]) -> dict[str, str]:
    """Register (no token): the resident gets an email to confirm their address, then waits
    for an officer. The answer is the same whether or not the address was already
    registered. Rate limited: 5 an hour per client address, 3 an hour per email address."""
    ip = client_ip()
    svc = current_services()
    svc.db.run(lambda s: onboarding.throttle_registration(s, args["email"], ip))
    out = outgoing()
    password = onboarding.NewPassword.make(args["password"], svc.settings.password_hash_profile)
    messages = svc.db.run(
        lambda s: onboarding.register(
            s,
            out,
            name=args["name"],
            email=args["email"],
            phone=args.get("phone"),
            password=password,
            ip=ip,
        )
    )
    deliver_quietly(messages)
    return {"status": "received", "detail": REGISTRATION_RECEIVED}


@registrations_blp.route("")
@require(*OFFICERS)
@registrations_blp.arguments(PageArgs, location="query")
@registrations_blp.response(200, page_schema(PersonSchema, "RegistrationsPage"))
def list_registrations(args: dict[str, Any]) -> dict[str, Any]:
    """Registrations waiting for approval, oldest first."""
    found = current_services().db.run(
        lambda s: people.list_registrations(s, page=args["page"], per_page=args["per_page"])
    )
    return page_out(found, person_out)


@registrations_blp.route("/<int:person_id>/approve", methods=["POST"])
@require(*OFFICERS)
@registrations_blp.response(200, PersonSchema)
@inputs.refuses(wrong_status=409)
def approve_registration(person_id: int) -> dict[str, Any]:
    """Approve: the resident becomes an active member and is told by email."""
    who = principal()
    out = outgoing()
    view, message = current_services().db.run(lambda s: people.approve(s, who, out, person_id))
    deliver([message])
    return person_out(view)


@registrations_blp.route("/<int:person_id>/decline", methods=["POST"])
@require(*OFFICERS)
@registrations_blp.arguments(ReasonSchema)
@registrations_blp.response(200, PersonSchema)
@inputs.refuses(wrong_status=409)
def decline_registration(args: dict[str, Any], person_id: int) -> dict[str, Any]:
    """Decline with a reason, which is emailed to the resident."""
    who = principal()
    out = outgoing()
    view, message = current_services().db.run(
        lambda s: people.decline(s, who, out, person_id, args["reason"])
    )
    deliver([message])
    return person_out(view)


# --- password resets -------------------------------------------------------------------------


@resets_blp.route("", methods=["POST"])
@resets_blp.arguments(ResetRequestSchema)
@resets_blp.response(202, ReceivedSchema)
@inputs.refuses(rate_limited=429)
def request_reset(args: dict[str, Any]) -> dict[str, str]:
    """Ask for a password-reset link (no token). Always `202`, known address or not. Rate
    limited: 3 an hour per email address, 10 an hour per client address."""
    ip = client_ip()
    svc = current_services()
    svc.db.run(lambda s: onboarding.throttle_reset_request(s, args["email"], ip))
    out = outgoing()
    messages = svc.db.run(lambda s: onboarding.request_password_reset(s, out, args["email"], ip=ip))
    deliver_quietly(messages)
    return {"status": "received", "detail": RESET_RECEIVED}
