"""Managing API tokens: a person lists, creates and revokes their own; officers list and
revoke anyone's (people's and shop terminals').

A token acts in exactly one role its holder has, and its secret is shown once. A person may
hold at most :data:`MAX_ACTIVE_TOKENS` working tokens. Through the API a token can only make
tokens for its own role (a leaked member token cannot mint an officer token); signed in on
the pages, a person can make one for any role they hold.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from credits import audit
from credits.accounts.identity import Principal
from credits.accounts.models import ApiToken, Person, Role
from credits.accounts.service import issue_token, roles_of
from credits.db import utcnow
from credits.errors import Conflict, Forbidden, NotFound, ValidationFailed
from credits.i18n import T
from credits.paging import Page, paginate

MAX_ACTIVE_TOKENS = 20
T_TOKEN = ApiToken.__table__  # type: ignore[attr-defined]


class TooManyTokens(Conflict):
    code = "too_many_tokens"
    title = T("Too many API tokens")


def list_tokens(
    session: Session,
    *,
    person_id: int | None = None,
    active: bool | None = None,
    page: int | None = 1,
    per_page: int | None = None,
) -> Page[ApiToken]:
    """Tokens, newest first; of one person, and only working (or only revoked) ones."""
    query = select(ApiToken)
    if person_id is not None:
        query = query.where(T_TOKEN.c.person_id == person_id)
    if active is True:
        query = query.where(T_TOKEN.c.revoked_at.is_(None))
    elif active is False:
        query = query.where(T_TOKEN.c.revoked_at.is_not(None))
    query = query.order_by(T_TOKEN.c.created_at.desc(), T_TOKEN.c.id.desc())
    return paginate(session, query, page=page, per_page=per_page)


def holders(session: Session, tokens: list[ApiToken]) -> dict[int, str]:
    """person id -> name, for showing whose tokens these are."""
    ids = {t.person_id for t in tokens if t.person_id is not None}
    if not ids:
        return {}
    t_person = Person.__table__  # type: ignore[attr-defined]
    rows = session.execute(select(t_person.c.id, t_person.c.name).where(t_person.c.id.in_(ids)))
    return {pid: name for pid, name in rows}


def create_own_token(
    session: Session, who: Principal, *, name: str, role: str | Role, any_held_role: bool
) -> tuple[ApiToken, str]:
    """Make a token for the caller; return it and its secret (shown once).

    ``any_held_role``: a signed-in person (pages) may choose any role they hold; a token
    (API) may only make tokens for its own role.
    """
    if who.person_id is None:
        raise Forbidden("only people have API tokens of their own")
    try:
        wanted = Role(role)
    except ValueError:
        raise ValidationFailed(
            T("unknown role '%(role)s'", role=role), errors={"role": [T("Not a role.")]}
        ) from None
    if not any_held_role and wanted is not who.role:
        raise Forbidden(
            f"a {who.role.value} token can only make {who.role.value} tokens; sign in to the "
            "pages to make tokens for your other roles"
        )
    if wanted not in roles_of(session, who.person_id):
        raise ValidationFailed(
            T("you do not hold the %(role)s role", role=wanted.value),
            errors={"role": [T("Choose a role you hold.")]},
        )
    active = session.execute(
        select(func.count()).where(
            T_TOKEN.c.person_id == who.person_id, T_TOKEN.c.revoked_at.is_(None)
        )
    ).scalar_one()
    if active >= MAX_ACTIVE_TOKENS:
        raise TooManyTokens(
            T(
                "you already have %(active)s working tokens (at most %(most)s); revoke one you "
                "no longer use first",
                active=active,
                most=MAX_ACTIVE_TOKENS,
            )
        )
    token, secret = issue_token(
        session, person_id=who.person_id, role=wanted, name=name, created_by=who.actor
    )
    audit.record(
        session,
        who,
        "token.create",
        f"token:{token.id}",
        name=token.name,
        role=wanted.value,
        holder=f"person:{who.person_id}",
        prefix=token.prefix,
    )
    return token, secret


def revoke(session: Session, who: Principal, token_id: int, *, own_only: bool) -> ApiToken:
    """Revoke a token (idempotent: revoking a revoked token changes nothing). With
    ``own_only`` only the caller's own tokens are found (anyone else's is "not found")."""
    token = session.get(ApiToken, token_id, with_for_update=True)
    if token is None or (own_only and (who.person_id is None or token.person_id != who.person_id)):
        raise NotFound(f"there is no token {token_id}" + (" of yours" if own_only else ""))
    others_admin = (
        not own_only
        and who.role is not Role.ADMIN
        and token.person_id is not None
        and token.person_id != who.person_id
        and Role.ADMIN in roles_of(session, token.person_id)
    )
    if others_admin:
        raise Forbidden(T("only an administrator can revoke an administrator's tokens"))
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        token.revoked_by = who.actor
        session.add(token)
        session.flush()
        audit.record(
            session,
            who,
            "token.revoke",
            f"token:{token.id}",
            name=token.name,
            role=token.role,
            holder=f"person:{token.person_id}" if token.person_id else None,
        )
    return token
