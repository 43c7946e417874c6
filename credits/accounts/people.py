"""Officers manage people: find, invite, edit, grant and revoke roles, disable and re-enable,
approve or decline registrations.

Every use case here takes the officer's :class:`~credits.accounts.Principal`, runs inside
the caller's unit of work, records an audit event, and raises a :class:`CreditsError` (before
or instead of writing) for anything the officer can get wrong. Emails are returned, never
sent: the caller sends them after commit.

Rules that protect the council from itself:

- only an admin may grant, revoke or change anything about the admin role or an admin;
- nobody may disable themselves or take away their own officer or admin role (the last
  officer cannot lock the council out by a slip of the mouse);
- shop staff need a shop scope (``shop:<id>``); no other role takes one;
- disabling someone ends their sessions and revokes their API tokens and emailed links at
  once; re-enabling does not bring those back (they sign in again and make new tokens).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, exists, func, or_, select, update
from sqlalchemy.orm import Session

from credits import audit
from credits.accounts import links, mailing
from credits.accounts.identity import Principal
from credits.accounts.models import ApiToken, Person, PersonRole, PersonStatus, Role
from credits.accounts.service import (
    PersonExists,
    create_person,
    grant_role,
    normalise_email,
    normalise_phone,
)
from credits.accounts.sessions import WebSession
from credits.db import utcnow
from credits.errors import Conflict, Forbidden, NotFound, ValidationFailed
from credits.i18n import LANGUAGES, T, Text, Tp
from credits.mail import Message
from credits.paging import Page, paginate

T_PERSON = Person.__table__  # type: ignore[attr-defined]
T_ROLE = PersonRole.__table__  # type: ignore[attr-defined]
T_TOKEN = ApiToken.__table__  # type: ignore[attr-defined]
T_SESSION = WebSession.__table__  # type: ignore[attr-defined]

MAX_NAME_CHARS = 200
MAX_REASON_CHARS = 500
MAX_SEARCH_CHARS = 100
#: Roles a person can be given (terminals are not people).
PERSON_ROLES = (Role.MEMBER, Role.COORDINATOR, Role.SHOP_STAFF, Role.OFFICER, Role.ADMIN)

_SHOP_SCOPE = re.compile(r"^shop:[1-9][0-9]{0,17}$")


#: A person's status in a sentence ("Ann is disabled, not waiting for approval").
_STATUS_WORDS = {
    PersonStatus.INVITED.value: Tp("person status in a sentence", "invited"),
    PersonStatus.PENDING.value: Tp("person status in a sentence", "pending"),
    PersonStatus.ACTIVE.value: Tp("person status in a sentence", "active"),
    PersonStatus.DISABLED.value: Tp("person status in a sentence", "disabled"),
    PersonStatus.DECLINED.value: Tp("person status in a sentence", "declined"),
}


def _status_word(status: str) -> Text | str:
    return _STATUS_WORDS.get(status, status)


class WrongStatus(Conflict):
    code = "wrong_status"
    title = T("Not possible in the person's current state")


class EmailNotConfirmed(Conflict):
    code = "email_not_confirmed"
    title = T("The email address is not confirmed yet")


def _check_shop_scope(session: Session, scope_ref: str) -> None:
    """Shop staff belong to an existing partner shop: ``shop:<id>``."""
    from credits.shops.models import Shop

    if not _SHOP_SCOPE.match(scope_ref):
        raise ValidationFailed(
            T("'%(scope)s' is not a shop scope (shop:<id>)", scope=scope_ref),
            errors={"scope_ref": [T("Shop staff need a shop: shop:<id>, e.g. shop:3.")]},
        )
    shop_id = int(scope_ref.split(":", 1)[1])
    if session.get(Shop, shop_id) is None:
        raise ValidationFailed(
            T("there is no partner shop %(shop)s", shop=str(shop_id)),
            errors={"scope_ref": [T("There is no partner shop %(shop)s.", shop=str(shop_id))]},
        )


#: How a role's scope is checked: role -> check(session, scope_ref), raising ValidationFailed.
SCOPE_CHECKS: dict[Role, Callable[[Session, str], None]] = {Role.SHOP_STAFF: _check_shop_scope}


# --- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonView:
    """A person as officers see them."""

    id: int
    name: str
    email: str
    phone: str | None
    status: str
    roles: list[tuple[Role, str | None]]
    has_password: bool
    email_confirmed_at: datetime | None
    created_at: datetime
    created_by: str | None
    updated_at: datetime | None
    updated_by: str | None
    status_reason: str | None
    status_changed_at: datetime | None
    status_changed_by: str | None
    ledger_account_id: int | None
    #: The language they read the scheme in, if they (or the inviting officer) chose one.
    language: str | None = None

    @property
    def role_names(self) -> list[str]:
        """The role names, in order of seniority."""
        return [r.value for r, _ in self.roles]


def _roles_by_person(
    session: Session, ids: Iterable[int]
) -> dict[int, list[tuple[Role, str | None]]]:
    ids = list(ids)
    found: dict[int, list[tuple[Role, str | None]]] = {i: [] for i in ids}
    if not ids:
        return found
    rows = session.execute(
        select(T_ROLE.c.person_id, T_ROLE.c.role, T_ROLE.c.scope_ref).where(
            T_ROLE.c.person_id.in_(ids)
        )
    )
    order = {r.value: n for n, r in enumerate(PERSON_ROLES)}
    for pid, role, scope in rows:
        found[pid].append((Role(role), scope))
    for roles in found.values():
        roles.sort(key=lambda pair: order.get(pair[0].value, 99))
    return found


def _view(person: Person, roles: list[tuple[Role, str | None]]) -> PersonView:
    assert person.id is not None
    return PersonView(
        id=person.id,
        name=person.name,
        email=person.email,
        phone=person.phone,
        status=person.status,
        roles=roles,
        has_password=person.password_hash is not None,
        email_confirmed_at=person.email_confirmed_at,
        created_at=person.created_at,
        created_by=person.created_by,
        updated_at=person.updated_at,
        updated_by=person.updated_by,
        status_reason=person.status_reason,
        status_changed_at=person.status_changed_at,
        status_changed_by=person.status_changed_by,
        ledger_account_id=person.ledger_account_id,
        language=person.language,
    )


def view_person(session: Session, person_id: int) -> PersonView:
    """One person, with their roles; :class:`NotFound` if there is no such person."""
    person = _get(session, person_id)
    return _view(person, _roles_by_person(session, [person_id])[person_id])


def list_people(
    session: Session,
    *,
    q: str | None = None,
    status: str | None = None,
    role: str | None = None,
    page: int | None = 1,
    per_page: int | None = None,
) -> Page[PersonView]:
    """People, by name. ``q`` matches part of a name, email or mobile number (any case)."""
    query = select(Person)
    if q:
        q = q.strip()[:MAX_SEARCH_CHARS].lower()
        digits = re.sub(r"[\s\-()]", "", q)
        conditions = [
            func.lower(T_PERSON.c.name).contains(q, autoescape=True),
            T_PERSON.c.email.contains(q, autoescape=True),
        ]
        if digits.lstrip("+").isdigit():
            national = digits[1:] if digits.startswith("0") else digits.lstrip("+")
            conditions.append(T_PERSON.c.phone.contains(national, autoescape=True))
        query = query.where(or_(*conditions))
    if status:
        query = query.where(T_PERSON.c.status == _status(status).value)
    if role:
        wanted = _role(role)
        query = query.where(
            exists().where(T_ROLE.c.person_id == T_PERSON.c.id, T_ROLE.c.role == wanted.value)
        )
    query = query.order_by(func.lower(T_PERSON.c.name), T_PERSON.c.id)
    found = paginate(session, query, page=page, per_page=per_page)
    roles = _roles_by_person(session, [p.id for p in found.items])
    return Page(
        items=[_view(p, roles[p.id]) for p in found.items],
        page=found.page,
        per_page=found.per_page,
        total=found.total,
    )


def _status(value: str) -> PersonStatus:
    try:
        return PersonStatus(value)
    except ValueError:
        raise ValidationFailed(
            T("unknown status '%(status)s'", status=value),
            errors={
                "status": [T("One of: %(list)s.", list=", ".join(s.value for s in PersonStatus))]
            },
        ) from None


def _role(value: str | Role) -> Role:
    try:
        role = Role(value)
    except ValueError:
        role = None
    if role is None or role not in PERSON_ROLES:
        raise ValidationFailed(
            T("unknown role '%(role)s'", role=str(value)),
            errors={
                "role": [T("One of: %(list)s.", list=", ".join(r.value for r in PERSON_ROLES))]
            },
        )
    return role


def _get(session: Session, person_id: int, *, lock: bool = False) -> Person:
    person = session.get(Person, person_id, with_for_update=lock or None)
    if person is None:
        raise NotFound(T("there is no person %(id)s", id=str(person_id)))
    return person


# --- checks shared by the use cases ----------------------------------------------------------


def clean_name(name: str | None) -> str:
    """A person's name: trimmed, 1–200 characters, no control characters."""
    name = " ".join((name or "").split())
    if not name:
        raise ValidationFailed(T("a name is required"), errors={"name": [T("Enter their name.")]})
    if len(name) > MAX_NAME_CHARS:
        raise ValidationFailed(
            T("the name is too long"),
            errors={"name": [T("At most %(count)s characters.", count=MAX_NAME_CHARS)]},
        )
    return name


def clean_reason(reason: str | None, *, required: bool = True) -> str | None:
    """A reason (for a decline or a disable): trimmed, at most 500 characters."""
    reason = " ".join((reason or "").split())
    if not reason:
        if required:
            raise ValidationFailed(
                T("a reason is required"), errors={"reason": [T("Give a reason.")]}
            )
        return None
    if len(reason) > MAX_REASON_CHARS:
        raise ValidationFailed(
            T("the reason is too long"),
            errors={"reason": [T("At most %(count)s characters.", count=MAX_REASON_CHARS)]},
        )
    return reason


def check_scope(session: Session, role: Role, scope_ref: str | None) -> str | None:
    """The scope a grant of ``role`` takes: required (and checked) for shop staff, refused
    for every other role."""
    scope_ref = (scope_ref or "").strip() or None
    check = SCOPE_CHECKS.get(role)
    if check is None:
        if scope_ref is not None:
            raise ValidationFailed(
                T("the %(role)s role takes no scope", role=role.value),
                errors={
                    "scope_ref": [
                        T("Only shop staff belong to a shop, not %(role)s.", role=role.value)
                    ]
                },
            )
        return None
    if scope_ref is None:
        raise ValidationFailed(
            T("the %(role)s role needs a scope", role=role.value),
            errors={"scope_ref": [T("Shop staff need a shop: shop:<id>, e.g. shop:3.")]},
        )
    if len(scope_ref) > 120:
        raise ValidationFailed(T("the scope is too long"), errors={"scope_ref": [T("Too long.")]})
    check(session, scope_ref)
    return scope_ref


def _may_handle_role(who: Principal, role: Role) -> None:
    if role is Role.ADMIN and who.role is not Role.ADMIN:
        raise Forbidden(T("only an administrator can grant or revoke the admin role"))


def _may_manage(session: Session, who: Principal, person: Person) -> None:
    """Officers manage everyone except administrators; administrators manage everyone. An
    erased person (credits/erasure.py) is managed by nobody: nothing may put personal
    data or access back on their pseudonym."""
    if person.status == PersonStatus.ERASED.value:
        raise WrongStatus(f"{person.name}'s personal data was erased: they cannot be changed")
    if who.role is Role.ADMIN:
        return
    assert person.id is not None
    if Role.ADMIN in {r for r, _ in _roles_by_person(session, [person.id])[person.id]}:
        raise Forbidden(
            T(
                "%(name)s is an administrator: only an administrator can change them",
                name=person.name,
            )
        )


def _not_self(who: Principal, person: Person, refusal: Text) -> None:
    if who.person_id is not None and who.person_id == person.id:
        raise Forbidden(refusal)


def _status_change(
    person: Person, status: PersonStatus, who: Principal | str, reason: str | None
) -> None:
    person.status = status.value
    person.status_reason = reason
    person.status_changed_at = utcnow()
    person.status_changed_by = who if isinstance(who, str) else who.actor


def revoke_access(
    session: Session, person_id: int, by: str, *, role: Role | None = None
) -> tuple[int, int]:
    """End a person's sessions and revoke their API tokens (of ``role``, or all): disabling
    them, revoking a role, a password reset. Returns the numbers of (sessions, tokens)."""
    now = utcnow()
    tokens = update(ApiToken).where(
        T_TOKEN.c.person_id == person_id, T_TOKEN.c.revoked_at.is_(None)
    )
    sessions = update(WebSession).where(
        T_SESSION.c.person_id == person_id, T_SESSION.c.revoked_at.is_(None)
    )
    if role is not None:
        tokens = tokens.where(T_TOKEN.c.role == role.value)
        sessions = sessions.where(T_SESSION.c.role == role.value)
    t = session.execute(
        tokens.values(revoked_at=now, revoked_by=by[:200]).execution_options(
            synchronize_session=False
        )
    )
    s = session.execute(
        sessions.values(revoked_at=now).execution_options(synchronize_session=False)
    )
    return int(s.rowcount or 0), int(t.rowcount or 0)  # type: ignore[attr-defined]


# --- inviting --------------------------------------------------------------------------------


def parse_roles(roles: Iterable[str | Role]) -> list[Role]:
    """Roles named by an officer: known person roles, each once, at least one."""
    parsed: list[Role] = []
    for value in roles:
        try:
            role = _role(value)
        except ValidationFailed as exc:  # name the form's field: "roles"
            raise ValidationFailed(
                exc.detail, errors={"roles": exc.extra["errors"]["role"]}
            ) from None
        if role not in parsed:
            parsed.append(role)
    if not parsed:
        raise ValidationFailed(
            T("choose at least one role"), errors={"roles": [T("Choose at least one role.")]}
        )
    return parsed


def invite(
    session: Session,
    who: Principal,
    out: mailing.Outgoing,
    *,
    name: str,
    email: str,
    phone: str | None = None,
    roles: Iterable[str | Role] = (Role.MEMBER,),
    scope_ref: str | None = None,
    language: str | None = None,
) -> tuple[PersonView, links.AccountLink, Message]:
    """Create a person (status *invited*) with ``roles`` and a 7-day, single-use link to set
    their password; return them, the link and the invitation email.

    ``scope_ref`` is the shop for shop staff; ``language`` the language their emails (this
    one first) are written in. Refuses a known email or mobile number (``person_exists``)
    and the admin role unless ``who`` is an admin.
    """
    chosen = check_language(language) if language else None
    wanted = parse_roles(roles)
    for role in wanted:
        _may_handle_role(who, role)
    scopes = {
        role: check_scope(session, role, scope_ref if role is Role.SHOP_STAFF else None)
        for role in wanted
    }
    if scope_ref and Role.SHOP_STAFF not in wanted:
        check_scope(session, wanted[0], scope_ref)  # raises: only shop staff take a scope
    person = create_person(
        session,
        name=clean_name(name),
        email=email,
        phone=normalise_phone(phone),
        roles=(),
        granted_by=who.actor,
        status=PersonStatus.INVITED,
    )
    assert person.id is not None
    person.language = chosen
    for role in wanted:
        grant_role(session, person, role, granted_by=who.actor, scope_ref=scopes[role])
    link, secret = links.issue_link(
        session, person_id=person.id, purpose=links.LinkPurpose.INVITATION, created_by=who.actor
    )
    audit.record(
        session,
        who,
        "invitation.create",
        f"person:{person.id}",
        email=person.email,
        roles=[r.value for r in wanted],
        scope_ref=scope_ref or None,
        expires_at=link.expires_at.isoformat(),
    )
    message = mailing.invitation(out, person, secret, link.expires_at, wanted)
    return view_person(session, person.id), link, message


def resend_invitation(
    session: Session, who: Principal, out: mailing.Outgoing, person_id: int
) -> tuple[links.AccountLink, Message]:
    """A new invitation link for someone who has not accepted yet (the old link stops
    working); return it and the email."""
    person = _get(session, person_id, lock=True)
    _may_manage(session, who, person)
    if person.status != PersonStatus.INVITED.value:
        raise WrongStatus(
            T(
                "%(name)s is %(status)s, not waiting for an invitation",
                name=person.name,
                status=_status_word(person.status),
            )
        )
    link, secret = links.issue_link(
        session, person_id=person_id, purpose=links.LinkPurpose.INVITATION, created_by=who.actor
    )
    audit.record(
        session,
        who,
        "invitation.resend",
        f"person:{person_id}",
        expires_at=link.expires_at.isoformat(),
    )
    roles = [r for r, _ in _roles_by_person(session, [person_id])[person_id]]
    return link, mailing.invitation(out, person, secret, link.expires_at, roles)


def withdraw_invitation(
    session: Session, who: Principal, person_id: int, reason: str | None = None
) -> PersonView:
    """Withdraw an invitation: its link stops working and the person is disabled."""
    person = _get(session, person_id, lock=True)
    _may_manage(session, who, person)
    if person.status != PersonStatus.INVITED.value:
        raise WrongStatus(
            T(
                "%(name)s is %(status)s: there is no invitation to withdraw",
                name=person.name,
                status=_status_word(person.status),
            )
        )
    text = clean_reason(reason, required=False) or "Invitation withdrawn"
    links.revoke_links(session, person_id)
    _status_change(person, PersonStatus.DISABLED, who, text)
    session.add(person)
    session.flush()
    audit.record(session, who, "invitation.withdraw", f"person:{person_id}", reason=text)
    return view_person(session, person_id)


@dataclass(frozen=True)
class InvitationView:
    person: PersonView
    sent_at: datetime | None
    expires_at: datetime | None
    #: ``pending`` (the link works) or ``expired`` (expired or replaced: resend it).
    state: str


def list_invitations(
    session: Session, *, state: str | None = None, page: int | None = 1, per_page: int | None = None
) -> Page[InvitationView]:
    """People invited who have not accepted yet, newest invitation first."""
    now = utcnow()
    t_link = links.T_LINK
    latest = (
        select(t_link.c.person_id, func.max(t_link.c.id).label("link_id"))
        .where(t_link.c.purpose == links.LinkPurpose.INVITATION.value)
        .group_by(t_link.c.person_id)
        .subquery()
    )
    query = (
        select(Person, links.AccountLink)
        .join(latest, latest.c.person_id == T_PERSON.c.id, isouter=True)
        .join(links.AccountLink, t_link.c.id == latest.c.link_id, isouter=True)
        .where(T_PERSON.c.status == PersonStatus.INVITED.value)
    )
    usable = (
        (t_link.c.expires_at > now) & t_link.c.revoked_at.is_(None) & t_link.c.used_at.is_(None)
    )
    if state == "pending":
        query = query.where(usable)
    elif state == "expired":
        query = query.where(or_(t_link.c.id.is_(None), ~usable))
    elif state not in (None, "", "all"):
        raise ValidationFailed(
            T("unknown state '%(state)s'", state=state),
            errors={"state": [T("One of: pending, expired, all.")]},
        )
    query = query.order_by(t_link.c.created_at.desc(), T_PERSON.c.id.desc())
    found = paginate(session, query, page=page, per_page=per_page)
    roles = _roles_by_person(session, [p.id for p, _ in found.items])
    items = []
    for person, link in found.items:
        ok = (
            link is not None
            and link.expires_at > now
            and link.revoked_at is None
            and link.used_at is None
        )
        items.append(
            InvitationView(
                person=_view(person, roles[person.id]),
                sent_at=link.created_at if link else None,
                expires_at=link.expires_at if link else None,
                state="pending" if ok else "expired",
            )
        )
    return Page(items=items, page=found.page, per_page=found.per_page, total=found.total)


# --- editing ---------------------------------------------------------------------------------

_UNSET = object()


def update_person(
    session: Session,
    who: Principal,
    person_id: int,
    *,
    name: str | None = None,
    phone: object = _UNSET,
) -> PersonView:
    """Change a person's name and/or mobile number (``phone=None`` or ``""`` removes it)."""
    person = _get(session, person_id, lock=True)
    _may_manage(session, who, person)
    changes: dict[str, list[str | None]] = {}
    if name is not None:
        new_name = clean_name(name)
        if new_name != person.name:
            changes["name"] = [person.name, new_name]
            person.name = new_name
    if phone is not _UNSET:
        new_phone = normalise_phone(phone if isinstance(phone, str) else None)
        if new_phone != person.phone:
            if new_phone is not None:
                taken = session.execute(
                    select(T_PERSON.c.id).where(
                        T_PERSON.c.phone == new_phone, T_PERSON.c.id != person_id
                    )
                ).first()
                if taken:
                    raise PersonExists(
                        T("someone else is registered with that mobile number"),
                        errors={"phone": [T("Someone else is registered with this number.")]},
                    )
            changes["phone"] = [person.phone, new_phone]
            person.phone = new_phone
    if changes:
        person.updated_at = utcnow()
        person.updated_by = who.actor
        session.add(person)
        session.flush()
        audit.record(session, who, "person.update", f"person:{person_id}", changes=changes)
    return view_person(session, person_id)


def grant(
    session: Session, who: Principal, person_id: int, role: str | Role, scope_ref: str | None = None
) -> PersonView:
    """Give a person a role (granting one they hold with another scope moves the scope).
    Granting member opens their ledger account."""
    wanted = _role(role)
    person = _get(session, person_id, lock=True)
    _may_handle_role(who, wanted)
    _may_manage(session, who, person)
    if person.status in (PersonStatus.PENDING.value, PersonStatus.DECLINED.value):
        raise WrongStatus(
            T(
                "%(name)s's registration is %(status)s: approve it first",
                name=person.name,
                status=_status_word(person.status),
            )
        )
    scope = check_scope(session, wanted, scope_ref)
    existing = session.get(PersonRole, (person_id, wanted.value))
    if existing is not None and existing.scope_ref == scope:
        return view_person(session, person_id)  # already so: nothing to record
    if existing is not None:
        before = existing.scope_ref
        existing.scope_ref = scope
        existing.granted_at = utcnow()
        existing.granted_by = who.actor
        session.add(existing)
        session.flush()
        audit.record(
            session,
            who,
            "role.grant",
            f"person:{person_id}",
            role=wanted.value,
            scope_ref=scope,
            previous_scope_ref=before,
        )
    else:
        grant_role(session, person, wanted, granted_by=who.actor, scope_ref=scope)
        audit.record(
            session, who, "role.grant", f"person:{person_id}", role=wanted.value, scope_ref=scope
        )
    return view_person(session, person_id)


def revoke(session: Session, who: Principal, person_id: int, role: str | Role) -> PersonView:
    """Take a role away: their tokens and sessions in that role end at once (re-granting it
    later does not revive them). A member's ledger account and balance stay as they are."""
    wanted = _role(role)
    person = _get(session, person_id, lock=True)
    _may_handle_role(who, wanted)
    _may_manage(session, who, person)
    if wanted in (Role.OFFICER, Role.ADMIN):
        _not_self(
            who,
            person,
            T(
                "you cannot take the %(role)s role from yourself; ask another officer",
                role=wanted.value,
            ),
        )
    existing = session.get(PersonRole, (person_id, wanted.value))
    if existing is None:
        raise NotFound(
            T("%(name)s does not hold the %(role)s role", name=person.name, role=wanted.value)
        )
    session.execute(
        delete(PersonRole).where(T_ROLE.c.person_id == person_id, T_ROLE.c.role == wanted.value)
    )
    ended, revoked = revoke_access(session, person_id, who.actor, role=wanted)
    audit.record(
        session,
        who,
        "role.revoke",
        f"person:{person_id}",
        role=wanted.value,
        scope_ref=existing.scope_ref,
        sessions_ended=ended,
        tokens_revoked=revoked,
    )
    return view_person(session, person_id)


def disable(session: Session, who: Principal, person_id: int, reason: str | None) -> PersonView:
    """Stop a person: they cannot sign in; their sessions, API tokens and emailed links end
    now. Their credits stay in the ledger."""
    person = _get(session, person_id, lock=True)
    _may_manage(session, who, person)
    _not_self(who, person, T("you cannot disable yourself; ask another officer"))
    text = clean_reason(reason)
    if person.status not in (PersonStatus.ACTIVE.value, PersonStatus.INVITED.value):
        raise WrongStatus(
            T("%(name)s is pending: decline the registration instead", name=person.name)
            if person.status == PersonStatus.PENDING.value
            else T("%(name)s is %(status)s", name=person.name, status=_status_word(person.status))
        )
    previous = person.status
    _status_change(person, PersonStatus.DISABLED, who, text)
    session.add(person)
    session.flush()
    ended, revoked = revoke_access(session, person_id, who.actor)
    dropped = links.revoke_links(session, person_id)
    audit.record(
        session,
        who,
        "person.disable",
        f"person:{person_id}",
        reason=text,
        previous_status=previous,
        sessions_ended=ended,
        tokens_revoked=revoked,
        links_revoked=dropped,
    )
    return view_person(session, person_id)


def enable(session: Session, who: Principal, person_id: int) -> PersonView:
    """Let a disabled person back in: active again (or *invited* again if they never set a
    password — then resend their invitation)."""
    person = _get(session, person_id, lock=True)
    _may_manage(session, who, person)
    if person.status != PersonStatus.DISABLED.value:
        raise WrongStatus(
            T(
                "%(name)s is %(status)s, not disabled",
                name=person.name,
                status=_status_word(person.status),
            )
        )
    status = PersonStatus.ACTIVE if person.password_hash else PersonStatus.INVITED
    _status_change(person, status, who, None)
    session.add(person)
    session.flush()
    audit.record(session, who, "person.enable", f"person:{person_id}", new_status=status.value)
    return view_person(session, person_id)


# --- registrations ---------------------------------------------------------------------------


def list_registrations(
    session: Session, *, page: int | None = 1, per_page: int | None = None
) -> Page[PersonView]:
    """Residents who registered and wait for approval, oldest first (first come, first served)."""
    query = (
        select(Person)
        .where(T_PERSON.c.status == PersonStatus.PENDING.value)
        .order_by(T_PERSON.c.created_at, T_PERSON.c.id)
    )
    found = paginate(session, query, page=page, per_page=per_page)
    roles = _roles_by_person(session, [p.id for p in found.items])
    return Page(
        items=[_view(p, roles[p.id]) for p in found.items],
        page=found.page,
        per_page=found.per_page,
        total=found.total,
    )


def approve(
    session: Session, who: Principal, out: mailing.Outgoing, person_id: int
) -> tuple[PersonView, Message]:
    """Approve a registration: the resident becomes an active member (with a ledger account)
    and is told by email. Refused until they have confirmed their email address."""
    person = _get(session, person_id, lock=True)
    if person.status != PersonStatus.PENDING.value:
        raise WrongStatus(
            T(
                "%(name)s is %(status)s, not waiting for approval",
                name=person.name,
                status=_status_word(person.status),
            )
        )
    if person.email_confirmed_at is None:
        raise EmailNotConfirmed(
            T(
                "%(name)s has not confirmed %(email)s yet: approve them once they have (they "
                "were sent a link when they registered)",
                name=person.name,
                email=person.email,
            )
        )
    _status_change(person, PersonStatus.ACTIVE, who, None)
    session.add(person)
    grant_role(session, person, Role.MEMBER, granted_by=who.actor)
    audit.record(session, who, "registration.approve", f"person:{person_id}")
    return view_person(session, person_id), mailing.registration_approved(out, person)


def decline(
    session: Session, who: Principal, out: mailing.Outgoing, person_id: int, reason: str | None
) -> tuple[PersonView, Message]:
    """Decline a registration with a reason, which is emailed to the resident."""
    text = clean_reason(reason)
    assert text is not None
    person = _get(session, person_id, lock=True)
    if person.status != PersonStatus.PENDING.value:
        raise WrongStatus(f"{person.name} is {person.status}, not waiting for approval")
    _status_change(person, PersonStatus.DECLINED, who, text)
    session.add(person)
    session.flush()
    links.revoke_links(session, person_id)
    audit.record(session, who, "registration.decline", f"person:{person_id}", reason=text)
    return view_person(session, person_id), mailing.registration_declined(out, person, text)


def check_language(language: str | None) -> str:
    """A language the scheme speaks (credits.i18n.LANGUAGES), or :class:`ValidationFailed`."""
    if language not in LANGUAGES:
        raise ValidationFailed(
            T("choose one of the languages offered"),
            errors={"language": [T("Choose one of the languages offered.")]},
        )
    return language


def set_language(session: Session, person_id: int, language: str) -> None:
    """Remember the language a person reads the scheme in: their pages when signed in, and
    the emails sent to them."""
    chosen = check_language(language)
    session.execute(update(T_PERSON).where(T_PERSON.c.id == person_id).values(language=chosen))


def remember_language(session: Session, person_id: int, language: str) -> None:
    """Record the language a person used the site in, unless they have chosen one already
    (what their emails are written in until they choose)."""
    chosen = check_language(language)
    session.execute(
        update(T_PERSON)
        .where(T_PERSON.c.id == person_id, T_PERSON.c.language.is_(None))
        .values(language=chosen)
    )


def find_by_email(session: Session, email: str) -> Person | None:
    """The person with this email address (any status), or None."""
    try:
        address = normalise_email(email)
    except ValidationFailed:
        return None
    return session.execute(select(Person).where(T_PERSON.c.email == address)).scalar_one_or_none()


class MemberNotFound(ValidationFailed):
    code = "not_found"
    title = T("No such member")


def member_id_by_email(session: Session, email: str) -> int:
    """The id of the person registered with this email address (an officer issuing a
    voucher types it); refused when the address is not one, or nobody has it."""
    try:
        address = normalise_email(email)
    except ValidationFailed as exc:
        raise ValidationFailed(T("Enter the member's email address.")) from exc
    found = session.execute(
        select(T_PERSON.c.id).where(T_PERSON.c.email == address)
    ).scalar_one_or_none()
    if found is None:
        raise MemberNotFound(T("No member is registered with %(email)s.", email=address))
    return int(found)


def name_of(session: Session, person_id: int) -> str:
    """A person's name, or "" when there is no such person (a printed voucher's holder)."""
    person = session.get(Person, person_id)
    return person.name if person else ""
