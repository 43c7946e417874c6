"""One-time links sent by email: invitations, password resets, email confirmations.

A link carries 256 random bits; the table holds only their SHA-256, so a copy of the
database cannot be used to take over accounts. A link is single use (consumed with a
conditional UPDATE, so two clicks at once cannot both succeed), expires (invitations and
confirmations after 7 days, password resets after 1 hour), and is revoked when a newer link
of the same kind is sent to the same person, when the person is disabled, or — for reset
links — when the password changes.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import Column, ForeignKey, Index, String, select, update
from sqlalchemy.orm import Session
from sqlmodel import Field, SQLModel

from credits.db import RetryTransaction, UTCDateTime, unique_violation, utcnow
from credits.errors import CreditsError
from credits.i18n import T, Text
from credits.ledger.models import BigId


class LinkPurpose(StrEnum):
    INVITATION = "invitation"
    PASSWORD_RESET = "password_reset"
    CONFIRM_EMAIL = "confirm_email"


LIFETIMES: dict[LinkPurpose, timedelta] = {
    LinkPurpose.INVITATION: timedelta(days=7),
    LinkPurpose.PASSWORD_RESET: timedelta(hours=1),
    LinkPurpose.CONFIRM_EMAIL: timedelta(days=7),
}


class AccountLink(SQLModel, table=True):
    __tablename__ = "account_link"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    purpose: str = Field(sa_column=Column(String(20), nullable=False))
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    person_id: int = Field(sa_column=Column(BigId, ForeignKey("person.id"), nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    created_by: str = Field(sa_column=Column(String(200), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))

    __table_args__ = (Index("ix_account_link_person_id", "person_id"),)


T_LINK = AccountLink.__table__  # type: ignore[attr-defined]
#: A link token is 43 URL-safe characters; anything much longer is not one of ours.
MAX_TOKEN_CHARS = 100


class LinkInvalid(CreditsError):
    code = "link_invalid"
    title = T("That link is not valid")


class LinkExpired(CreditsError):
    code = "link_expired"
    title = T("That link has expired")


class LinkUsed(CreditsError):
    code = "link_used"
    title = T("That link has already been used")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_link(
    session: Session, *, person_id: int, purpose: LinkPurpose, created_by: str
) -> tuple[AccountLink, str]:
    """Create a link for ``person_id`` and return it with its secret (shown only here, to
    put in an email). Earlier open links of the same purpose for the person are revoked."""
    now = utcnow()
    revoke_links(session, person_id, purposes=(purpose,))
    secret = secrets.token_urlsafe(32)
    link = AccountLink(
        purpose=purpose.value,
        token_hash=_digest(secret),
        person_id=person_id,
        created_at=now,
        created_by=created_by[:200],
        expires_at=now + LIFETIMES[purpose],
    )
    session.add(link)
    try:
        session.flush()
    except Exception as exc:  # a 256-bit collision: never in practice, but be correct
        if unique_violation(exc, "token_hash"):
            raise RetryTransaction("link token collision") from exc
        raise
    return link, secret


def find_link(session: Session, secret: str, purpose: LinkPurpose) -> AccountLink:
    """The usable link behind ``secret``; :class:`LinkInvalid`, :class:`LinkExpired` or
    :class:`LinkUsed` otherwise. Does not consume it (showing the form is not using it)."""
    if not secret or len(secret) > MAX_TOKEN_CHARS:
        raise LinkInvalid(_invalid_text(purpose))
    link = session.execute(
        select(AccountLink).where(T_LINK.c.token_hash == _digest(secret))
    ).scalar_one_or_none()
    if link is None or link.purpose != purpose.value or link.revoked_at is not None:
        raise LinkInvalid(_invalid_text(purpose))
    if link.used_at is not None:
        raise LinkUsed(
            T("This link has already been used. Sign in with your password, or ask for a new link.")
            if purpose is not LinkPurpose.CONFIRM_EMAIL
            else T("This link has already been used. Your email address is confirmed.")
        )
    if link.expires_at <= utcnow():
        raise LinkExpired(_expired_text(purpose))
    return link


def consume_link(session: Session, secret: str, purpose: LinkPurpose) -> AccountLink:
    """Use a link once: exactly one of any number of concurrent attempts succeeds."""
    link = find_link(session, secret, purpose)
    now = utcnow()
    done = session.execute(
        update(AccountLink)
        .where(
            T_LINK.c.id == link.id,
            T_LINK.c.used_at.is_(None),
            T_LINK.c.revoked_at.is_(None),
            T_LINK.c.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise LinkUsed(T("This link has just been used. Sign in, or ask for a new link."))
    link.used_at = now
    return link


def revoke_links(
    session: Session, person_id: int, *, purposes: tuple[LinkPurpose, ...] | None = None
) -> int:
    """Revoke a person's open links (of ``purposes``, or all). Returns how many."""
    query = update(AccountLink).where(
        T_LINK.c.person_id == person_id,
        T_LINK.c.used_at.is_(None),
        T_LINK.c.revoked_at.is_(None),
    )
    if purposes:
        query = query.where(T_LINK.c.purpose.in_([p.value for p in purposes]))
    result = session.execute(
        query.values(revoked_at=utcnow()).execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def latest_link(session: Session, person_id: int, purpose: LinkPurpose) -> AccountLink | None:
    """The person's most recent link of ``purpose`` (used, revoked or not)."""
    return session.execute(
        select(AccountLink)
        .where(T_LINK.c.person_id == person_id, T_LINK.c.purpose == purpose.value)
        .order_by(T_LINK.c.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def _invalid_text(purpose: LinkPurpose) -> Text:
    return {
        LinkPurpose.INVITATION: T(
            "This invitation link is not valid: it may have been replaced by a newer one or "
            "withdrawn. Ask the council to send you a new invitation."
        ),
        LinkPurpose.PASSWORD_RESET: T(
            "This password reset link is not valid: it may have been replaced by a newer one. "
            "Ask for a new link."
        ),
        LinkPurpose.CONFIRM_EMAIL: T(
            "This confirmation link is not valid: it may have been replaced by a newer one."
        ),
    }[purpose]


def _expired_text(purpose: LinkPurpose) -> Text:
    return {
        LinkPurpose.INVITATION: T(
            "This invitation has expired. Ask the council to send you a new one."
        ),
        LinkPurpose.PASSWORD_RESET: T(
            "This password reset link has expired (they work for one hour). Ask for a new link."
        ),
        LinkPurpose.CONFIRM_EMAIL: T(
            "This confirmation link has expired. Register again to get a new one."
        ),
    }[purpose]
