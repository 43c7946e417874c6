"""Sign-in sessions for the pages: server-side rows behind a random cookie.

The cookie holds 256 random bits; the table holds their SHA-256, the person, the role the
session acts in, and when it expires or was revoked — so signing out, a password reset or an
officer disabling someone ends the session at once, everywhere. Sessions expire after
``SESSION_IDLE`` without use and ``SESSION_MAX_AGE`` in all.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import Column, ForeignKey, Index, String, select, update
from sqlalchemy.orm import Session
from sqlmodel import Field, SQLModel

from credits.accounts.identity import Principal, normalise_email
from credits.accounts.models import Person, PersonStatus, Role
from credits.accounts.passwords import hash_password
from credits.accounts.service import normalise_phone, roles_of
from credits.db import UTCDateTime, utcnow
from credits.errors import Forbidden, Unauthorized, ValidationFailed
from credits.i18n import T
from credits.ledger.models import BigId

SESSION_IDLE = timedelta(hours=12)
SESSION_MAX_AGE = timedelta(days=14)
#: A session's last_seen is refreshed at most this often (one write per page view is waste).
LAST_SEEN_RESOLUTION = timedelta(minutes=5)

#: When a person holds several roles, the one a new session starts in (they can switch).
ROLE_PRIORITY = (Role.OFFICER, Role.ADMIN, Role.COORDINATOR, Role.SHOP_STAFF, Role.MEMBER)


@functools.cache
def _dummy_hash() -> str:
    """A real hash to check against when the login is unknown, so that a wrong email and a
    wrong password cost the same time (no account enumeration by timing)."""
    return hash_password(secrets.token_urlsafe(16))


class WebSession(SQLModel, table=True):
    __tablename__ = "web_session"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    person_id: int = Field(sa_column=Column(BigId, ForeignKey("person.id"), nullable=False))
    role: str = Field(sa_column=Column(String(20), nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    last_seen_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    user_agent: str | None = Field(default=None, sa_column=Column(String(200)))

    __table_args__ = (Index("ix_web_session_person_id", "person_id"),)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class SignInFailed(Unauthorized):
    code = "sign_in_failed"
    title = T("Those details did not match")


def find_person_for_sign_in(session: Session, login: str) -> Person | None:
    """The person whose email (or phone number) is ``login``."""
    login = (login or "").strip()
    if not login or len(login) > 254:
        return None
    if "@" in login:
        try:
            email = normalise_email(login)
        except ValidationFailed:
            return None
        query = select(Person).where(Person.email == email)  # type: ignore[arg-type]
    else:
        try:
            phone = normalise_phone(login)
        except ValidationFailed:
            return None
        query = select(Person).where(Person.phone == phone)  # type: ignore[arg-type]
    return session.execute(query).scalar_one_or_none()


def start_session(
    session: Session, person: Person, *, user_agent: str | None = None, role: Role | None = None
) -> tuple[WebSession, str]:
    """Open a session for ``person``; return it and the cookie value (shown only here)."""
    assert person.id is not None
    held = roles_of(session, person.id)
    if not held:
        raise Forbidden(T("this account has no role yet; ask the council to approve it"))
    if role is None:
        role = next(r for r in ROLE_PRIORITY if r in held)
    elif role not in held:
        raise Forbidden(T("you do not hold the %(role)s role", role=role.value))
    token = secrets.token_urlsafe(32)
    now = utcnow()
    row = WebSession(
        token_hash=_digest(token),
        person_id=person.id,
        role=role.value,
        created_at=now,
        last_seen_at=now,
        expires_at=now + SESSION_MAX_AGE,
        user_agent=(user_agent or "")[:200] or None,
    )
    session.add(row)
    session.flush()
    return row, token


def resolve_session(session: Session, token: str) -> tuple[Principal, WebSession] | None:
    """The principal behind a session cookie, or None if it is unknown, expired, revoked,
    or its person is no longer active or no longer holds the session's role."""
    if not token or len(token) > 200:
        return None
    row = session.execute(
        select(WebSession).where(WebSession.token_hash == _digest(token))  # type: ignore[arg-type]
    ).scalar_one_or_none()
    now = utcnow()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    if now - row.last_seen_at > SESSION_IDLE:
        return None
    person = session.get(Person, row.person_id)
    if person is None or person.status != PersonStatus.ACTIVE.value:
        return None
    held = roles_of(session, row.person_id)
    role = Role(row.role)
    if role not in held:
        return None
    if now - row.last_seen_at > LAST_SEEN_RESOLUTION:
        session.execute(
            update(WebSession).where(WebSession.id == row.id).values(last_seen_at=now)  # type: ignore[arg-type]
        )
    principal = Principal(
        role=role,
        name=person.name,
        person_id=person.id,
        scope_ref=held[role],
        via=f"session:{row.id}",
        language=person.language,
    )
    return principal, row


def switch_role(session: Session, row_id: int, person_id: int, role: Role) -> None:
    """Make an open session act in another role its person holds."""
    if role not in roles_of(session, person_id):
        raise Forbidden(T("you do not hold the %(role)s role", role=role.value))
    session.execute(
        update(WebSession)
        .where(WebSession.id == row_id, WebSession.person_id == person_id)  # type: ignore[arg-type]
        .values(role=role.value)
    )


def end_session(session: Session, token: str) -> None:
    """Revoke the session behind a cookie (signing out). Unknown tokens are ignored."""
    session.execute(
        update(WebSession)
        .where(WebSession.token_hash == _digest(token), WebSession.revoked_at.is_(None))  # type: ignore[arg-type, union-attr]
        .values(revoked_at=utcnow())
    )
