"""The audit log: who did what, when, to what, and how they were signed in.

Every capability records its officer actions and security-relevant events here, *inside the
unit of work that does them* (so an event is recorded exactly when the change commits)::

    from credits import audit
    audit.record(session, principal, "person.disable", f"person:{person.id}", reason=reason)

``principal`` is the caller (:class:`~credits.accounts.Principal`); for events with no
signed-in caller pass an :class:`Actor` (``Actor.anonymous(ip=...)``, ``Actor.system("demo")``,
``Actor.person(12, via="link:3")``) or None (anonymous). ``details`` must be JSON-serialisable;
never put secrets (passwords, tokens, link tokens) in them.

The table is append-only: nothing here updates or deletes, and on PostgreSQL a trigger
refuses UPDATE and DELETE (migration 0004). Actions are ``noun.verb`` strings; the ones this
package knows are listed in :data:`ACTIONS` (officer pages offer them as a filter), but any
capability may record new ones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from credits.audit.models import AuditEvent
from credits.db import utcnow
from credits.i18n import T, Text
from credits.paging import Page, paginate

__all__ = ["ACTIONS", "Actor", "AuditEvent", "list_events", "record"]

#: Actions recorded by people-and-access, with what they mean (for the officer's filter).
ACTIONS: dict[str, Text] = {
    "auth.sign_in": T("signed in"),
    "auth.sign_in_failed": T("sign-in failed"),
    "auth.locked": T("sign-in locked after too many failures"),
    "invitation.create": T("invited someone"),
    "invitation.resend": T("sent an invitation again"),
    "invitation.withdraw": T("withdrew an invitation"),
    "invitation.accept": T("accepted an invitation"),
    "registration.create": T("registered"),
    "registration.confirm_email": T("confirmed an email address"),
    "registration.approve": T("approved a registration"),
    "registration.decline": T("declined a registration"),
    "person.update": T("changed someone's details"),
    "person.disable": T("disabled someone"),
    "person.enable": T("re-enabled someone"),
    "role.grant": T("granted a role"),
    "role.revoke": T("revoked a role"),
    "token.create": T("created an API token"),
    "token.revoke": T("revoked an API token"),
    "password.reset_requested": T("asked to reset a password"),
    "password.reset": T("reset a password"),
    "activity.create": T("created an activity"),
    "activity.update": T("changed an activity"),
    "budget.set": T("set a monthly budget"),
    "earning.settings": T("changed the four-eyes threshold"),
    "group.create": T("created a group"),
    "group.update": T("changed a group"),
    "group.add_member": T("added a member to a group"),
    "group.add_coordinator": T("added a coordinator to a group"),
    "group.remove_member": T("removed a member from a group"),
    "group.remove_coordinator": T("removed a coordinator from a group"),
    "award.approve": T("approved credits"),
    "award.reject": T("rejected a claim or award"),
    "redemption.reverse": T("reversed a redemption"),
    "redemption.exception": T("an offline double spend was paid"),
    "exception.resolve": T("resolved an exception"),
    "adjustment.request": T("asked for a manual adjustment"),
    "adjustment.approve": T("approved a manual adjustment"),
    "adjustment.reject": T("rejected a manual adjustment"),
    "adjustment.post": T("posted a manual adjustment"),
    "shop.create": T("added a partner shop"),
    "shop.update": T("changed a partner shop"),
    "terminal.create": T("added a shop terminal"),
    "terminal.update": T("changed a shop terminal"),
    "terminal.token_rotate": T("issued a new terminal token"),
    "terminal.token_revoke": T("disconnected a shop terminal"),
    "rate.set": T("set the reimbursement rate"),
    "month.close": T("closed a month"),
    "publication.hold": T("held back a month's publication"),
    "publication.release": T("released a month's publication"),
    "payee.request": T("asked to change a shop's bank details"),
    "payee.approve": T("approved a shop's bank details"),
    "payee.reject": T("rejected a shop's bank details"),
    "settlement.create": T("started a settlement run"),
    "settlement.approve": T("approved a settlement run"),
    "settlement.cancel": T("cancelled a settlement run"),
    "bank.import": T("imported a bank statement"),
    "bank_mismatch.resolve": T("resolved a bank mismatch"),
    "person.erase": T("erased someone's personal data"),
}

_MAX_DETAIL_CHARS = 4000


@dataclass(frozen=True)
class Actor:
    """Who did something when there is no :class:`Principal` (no signed-in caller)."""

    actor: str
    person_id: int | None = None
    via: str = ""

    @classmethod
    def anonymous(cls) -> Actor:
        """Someone not signed in (registering, asking for a reset, failing to sign in)."""
        return cls("anonymous")

    @classmethod
    def system(cls, what: str) -> Actor:
        """The system itself (``system:demo``, ``system:month-close``)."""
        return cls(f"system:{what}")

    @classmethod
    def person(cls, person_id: int, *, via: str) -> Actor:
        """A person acting through something other than a session or token (a link)."""
        return cls(f"person:{person_id} via {via}", person_id, via)


def record(
    session: Session, principal: Any, action: str, target_ref: str | None = None, **details: Any
) -> AuditEvent:
    """Append one event, in the caller's transaction (it commits or rolls back with the change).

    ``principal`` is a :class:`~credits.accounts.Principal`, an :class:`Actor`, or None
    (anonymous). ``details`` are stored as JSON; keep them small (they are truncated past
    4,000 characters) and free of secrets.
    """
    if not action or len(action) > 60:
        raise ValueError(f"audit action must be 1-60 characters: {action!r}")
    if principal is None:
        principal = Actor.anonymous()
    via = getattr(principal, "via", "") or ""
    clean = {k: v for k, v in details.items() if v is not None}
    if len(json.dumps(clean, default=str)) > _MAX_DETAIL_CHARS:
        clean = {"truncated": json.dumps(clean, default=str)[:_MAX_DETAIL_CHARS]}
    event = AuditEvent(
        occurred_at=utcnow(),
        actor=principal.actor[:200],
        actor_person_id=principal.person_id,
        via=via[:60],
        action=action,
        target_ref=target_ref[:120] if target_ref else None,
        details=json.loads(json.dumps(clean, default=str)),
    )
    session.add(event)
    session.flush()
    return event


def list_events(
    session: Session,
    *,
    action: str | None = None,
    person_id: int | None = None,
    target_ref: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    page: int | None = 1,
    per_page: int | None = None,
) -> Page[AuditEvent]:
    """Events, newest first. ``action`` matches exactly, or a prefix ending in ``.``
    (``person.``); ``person_id`` matches events *by* or *about* that person; ``since`` is
    inclusive and ``until`` exclusive."""
    query = select(AuditEvent)
    col = AuditEvent.__table__.c  # type: ignore[attr-defined]
    if action:
        query = query.where(
            col.action.startswith(action, autoescape=True)
            if action.endswith(".")
            else col.action == action
        )
    if person_id is not None:
        query = query.where(
            or_(col.actor_person_id == person_id, col.target_ref == f"person:{person_id}")
        )
    if target_ref:
        query = query.where(col.target_ref == target_ref)
    if since is not None:
        query = query.where(col.occurred_at >= since)
    if until is not None:
        query = query.where(col.occurred_at < until)
    query = query.order_by(col.occurred_at.desc(), col.id.desc())
    return paginate(session, query, page=page, per_page=per_page)
