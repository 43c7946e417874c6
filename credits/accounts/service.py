"""Use cases on people, roles and tokens. Each takes a session inside a unit of work."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from credits import ledger
from credits.accounts.identity import mint_token, normalise_email
from credits.accounts.models import ApiToken, Person, PersonRole, PersonStatus, Role
from credits.accounts.passwords import hash_password
from credits.db import unique_violation, utcnow
from credits.errors import Conflict, Forbidden, NotFound, ValidationFailed
from credits.i18n import T


def normalise_phone(raw: str | None) -> str | None:
    """A mobile number in international form (``+447700900123``), or None if blank.

    Accepts UK national numbers (``07700 900123``), ``+44 ...``, ``0044 ...`` and other
    international numbers with ``+``; spaces, dashes, dots and brackets are ignored.
    """
    text = (raw or "").strip()
    if not text:
        return None
    compact = re.sub(r"[\s\-().]", "", text)
    problem = ValidationFailed(
        T("'%(number)s' is not a phone number", number=text),
        errors={"phone": [T("Enter a mobile number, like 07700 900123 or +44 7700 900123.")]},
    )
    if len(compact) > 20 or not re.fullmatch(r"\+?[0-9]+", compact):
        raise problem
    if compact.startswith("+"):
        number = compact
    elif compact.startswith("00"):
        number = "+" + compact[2:]
    elif compact.startswith("0"):
        number = "+44" + compact[1:]
    else:
        raise problem
    if number.startswith("+44"):
        national = number[3:]
        if len(national) != 10 or national.startswith("0"):
            raise problem
    elif not 8 <= len(number) - 1 <= 15:
        raise problem
    return number


def create_person(
    session: Session,
    *,
    name: str,
    email: str,
    roles: tuple[Role, ...] = (Role.MEMBER,),
    password: str | None = None,
    phone: str | None = None,
    granted_by: str,
    status: PersonStatus = PersonStatus.ACTIVE,
    password_profile: str = "default",
) -> Person:
    """Create a person with ``roles``. A member gets their ledger account at once.

    Refuses a duplicate email or phone (:class:`Conflict`, code ``person_exists``).
    """
    name = (name or "").strip()
    if not 0 < len(name) <= 200:
        raise ValidationFailed(
            T("a name is required (at most 200 characters)"), errors={"name": [T("Required.")]}
        )
    person = Person(
        name=name,
        email=normalise_email(email),
        phone=normalise_phone(phone),
        password_hash=hash_password(password, password_profile) if password else None,
        status=status.value,
        created_at=utcnow(),
        created_by=granted_by[:200],
    )
    session.add(person)
    try:
        session.flush()
    except Exception as exc:
        if unique_violation(exc, "email"):
            raise PersonExists(
                T("someone is already registered with %(email)s", email=person.email),
                errors={"email": [T("Someone is already registered with this email address.")]},
            ) from exc
        if unique_violation(exc, "phone"):
            raise PersonExists(
                T(
                    "someone is already registered with the mobile number %(phone)s",
                    phone=person.phone,
                ),
                errors={"phone": [T("Someone is already registered with this mobile number.")]},
            ) from exc
        raise
    for role in roles:
        grant_role(session, person, role, granted_by=granted_by)
    return person


class PersonExists(Conflict):
    code = "person_exists"
    title = T("That person is already registered")


def grant_role(
    session: Session, person: Person, role: Role, *, granted_by: str, scope_ref: str | None = None
) -> None:
    """Give ``person`` ``role`` (idempotent). Granting member opens their ledger account."""
    assert person.id is not None
    if role is Role.TERMINAL:
        raise ValidationFailed("the terminal role belongs to shop terminals, not people")
    existing = session.get(PersonRole, (person.id, role.value))
    if existing is None:
        session.add(
            PersonRole(
                person_id=person.id,
                role=role.value,
                scope_ref=scope_ref,
                granted_at=utcnow(),
                granted_by=granted_by,
            )
        )
    if role is Role.MEMBER and person.ledger_account_id is None:
        account = ledger.open_account(
            session,
            code=f"member:{person.id}",
            type=ledger.AccountType.MEMBER,
            name=person.name,
            owner_ref=f"person:{person.id}",
        )
        person.ledger_account_id = account.id
        session.add(person)
    session.flush()


def roles_of(session: Session, person_id: int) -> dict[Role, str | None]:
    """The roles a person holds, with their scope."""
    rows = session.execute(
        select(PersonRole.role, PersonRole.scope_ref).where(PersonRole.person_id == person_id)  # type: ignore[arg-type]
    )
    return {Role(r): s for r, s in rows}


def issue_token(
    session: Session,
    *,
    person_id: int,
    role: Role,
    name: str,
    created_by: str,
) -> tuple[ApiToken, str]:
    """Create an API token for ``person_id`` acting as ``role``; return it and its secret.

    The secret is returned here only: it is stored as a SHA-256 digest (it is 256 random
    bits, so a fast hash is enough). The person must hold the role.
    """
    held = roles_of(session, person_id)
    if role not in held:
        raise Forbidden(f"person {person_id} does not hold the {role.value} role")
    name = (name or "").strip()
    if not 0 < len(name) <= 100:
        raise ValidationFailed(
            T("a token needs a name (at most 100 characters)"), errors={"name": [T("Required.")]}
        )
    token, secret = mint_token(session, role=role, name=name, created_by=created_by)
    token.person_id = person_id
    session.add(token)
    session.flush()
    return token, secret


def revoke_token(session: Session, token_id: int, *, person_id: int | None = None) -> ApiToken:
    """Revoke a token (idempotent). With ``person_id``, only that person's own token."""
    token = session.get(ApiToken, token_id)
    if token is None or (person_id is not None and token.person_id != person_id):
        raise NotFound(f"no token {token_id}")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.add(token)
        session.flush()
    return token


def member_account_id(session: Session, person_id: int) -> int:
    """The ledger account of a member; NotFound if they are not one."""
    person = session.get(Person, person_id)
    if person is None or person.ledger_account_id is None:
        raise NotFound(f"person {person_id} has no member account")
    return person.ledger_account_id
