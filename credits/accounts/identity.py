"""Who acts, and the two things every kind of account needs: a clean email address and a
new API token.

Below both credits.accounts.service (people's tokens) and credits.shops.service (terminals'
tokens), so neither imports the other for them.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from sqlalchemy.orm import Session

from credits.accounts.models import ApiToken, Role
from credits.db import RetryTransaction, unique_violation, utcnow
from credits.errors import ValidationFailed
from credits.i18n import T

TOKEN_PREFIX = "cc_"

_EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,188}\.[^@\s]{1,60}$")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is making a request, acting in exactly one role."""

    role: Role
    name: str
    person_id: int | None = None
    token_id: int | None = None
    #: What the role is limited to (``shop:<id>`` for shop staff and terminals).
    scope_ref: str | None = None
    #: The shop terminal behind a terminal token.
    terminal_id: int | None = None
    #: How they authenticated, for attribution: ``token:12`` or ``session:<id>``.
    via: str = ""
    #: The language they chose to read the scheme in (``person.language``), if any.
    language: str | None = None

    @property
    def actor(self) -> str:
        """The attribution written on every entry and audit record."""
        if self.person_id is not None:
            who = f"person:{self.person_id}"
        elif self.terminal_id is not None:
            who = f"terminal:{self.terminal_id}"
        else:
            who = self.name
        return f"{who} as {self.role.value} via {self.via}" if self.via else who


def normalise_email(email: str) -> str:
    """Trim and lower-case an email address; refuse anything that is not one."""
    email = (email or "").strip().lower()
    if not _EMAIL_RE.match(email):
        raise ValidationFailed(
            T("'%(email)s' is not an email address", email=email),
            errors={"email": [T("Not a valid email address.")]},
        )
    return email


def token_digest(token: str) -> str:
    """How a token's secret is stored and looked up: its SHA-256, in hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def mint_token(session: Session, *, role: Role, name: str, created_by: str) -> tuple[ApiToken, str]:
    """Store a new random token for ``role`` (owner set by the caller); return it and its
    secret. The secret is 256 random bits, kept only as its SHA-256."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        token_hash=token_digest(secret),
        prefix=secret[:10],
        name=name,
        role=role.value,
        created_at=utcnow(),
        created_by=created_by,
    )
    session.add(token)
    try:
        session.flush()
    except Exception as exc:  # a 256-bit collision: astronomically unlikely, but retry
        if unique_violation(exc, "token_hash"):
            raise RetryTransaction("token collision") from exc
        raise
    return token, secret
