"""Who a bearer API token stands for: a person acting in one role (credits.accounts) or a
shop's terminal (credits.shops).

Sits above both packages: a token row belongs to accounts, a terminal's principal to shops,
and this is the one place that needs both (the API's authentication asks it).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from credits.accounts.identity import Principal, token_digest
from credits.accounts.models import ApiToken, Person, PersonStatus, Role
from credits.accounts.service import roles_of
from credits.db import utcnow
from credits.shops.service import terminal_principal

#: How stale ``last_used_at`` may get before a request refreshes it (one write a minute at
#: most per token, not one per request on the redemption hot path).
LAST_USED_RESOLUTION = timedelta(minutes=1)


def authenticate_token(session: Session, secret: str) -> Principal | None:
    """The principal a bearer token stands for, or None if it is unknown, revoked, or its
    holder is disabled or no longer holds the token's role."""
    if not secret or len(secret) > 200:
        return None
    token = session.execute(
        select(ApiToken).where(ApiToken.token_hash == token_digest(secret))  # type: ignore[arg-type]
    ).scalar_one_or_none()
    if token is None or token.revoked_at is not None:
        return None
    role = Role(token.role)
    scope: str | None = None
    name = token.name
    if token.terminal_id is not None:
        return terminal_principal(session, token)
    if token.person_id is not None:
        person = session.get(Person, token.person_id)
        if person is None or person.status != PersonStatus.ACTIVE.value:
            return None
        held = roles_of(session, token.person_id)
        if role not in held:
            return None
        scope = held[role]
        name = person.name
    else:
        return None
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        session.execute(
            update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now)  # type: ignore[arg-type]
        )
    return Principal(
        role=role,
        name=name,
        person_id=token.person_id,
        token_id=token.id,
        scope_ref=scope,
        via=f"token:{token.id}",
    )
