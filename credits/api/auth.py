"""Authorisation for the API: decided before the request body is read.

Decorate a view with ``@require(Role.MEMBER, ...)`` *below* ``@blp.route`` and *above*
``@blp.arguments``: the token is checked (401) and its role compared (403) before the parser
touches the body, so a caller without the right role learns nothing from what it sends.
Object-level checks (a member sees only their own account) belong in the use case, which
receives the :class:`~credits.accounts.Principal` from :func:`principal`.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import g, request

from credits.accounts import Principal, Role
from credits.api.context import current_services
from credits.api.inputs import Blueprint
from credits.bearer_tokens import authenticate_token
from credits.errors import Forbidden, Unauthorized

F = TypeVar("F", bound=Callable[..., Any])


def bearer_token() -> str | None:
    """The token from ``Authorization: Bearer <token>``, if any."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


#: Tokens resolved recently, by SHA-256 digest: digest -> (valid until (monotonic), principal).
#: Used only where the use case re-checks the token in the same statement that moves credits
#: (redemption on PostgreSQL), so revoking a token still stops it at once there.
_TOKEN_CACHE: dict[str, tuple[float, Principal]] = {}
TOKEN_CACHE_S = 30.0
TOKEN_CACHE_MAX = 10_000


def token_digest(token: str) -> str:
    """The SHA-256 hex a token is stored as."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def authenticate(*, cached: bool = False) -> Principal | None:
    """Resolve the request's bearer token (kept on ``g`` for the request; with ``cached``,
    also for :data:`TOKEN_CACHE_S` in this worker — see :data:`_TOKEN_CACHE`)."""
    if "principal" in g:
        known: Principal | None = g.principal
        return known
    token = bearer_token()
    found = None
    if token is not None:
        digest = token_digest(token)
        hit = _TOKEN_CACHE.get(digest) if cached else None
        if hit is not None and hit[0] > time.monotonic():
            found = hit[1]
        else:
            # It notes when the token was last used: doing that twice changes nothing.
            found = current_services().db.run(
                lambda s: authenticate_token(s, token), idempotent=True
            )
            if cached and found is not None:
                if len(_TOKEN_CACHE) >= TOKEN_CACHE_MAX:
                    _TOKEN_CACHE.clear()
                _TOKEN_CACHE[digest] = (time.monotonic() + TOKEN_CACHE_S, found)
    g.principal = found
    return found


def forget_token_digest(digest: str) -> None:
    """Drop a token from this worker's cache (it was found revoked)."""
    _TOKEN_CACHE.pop(digest, None)


def principal() -> Principal:
    """The authenticated caller of a view decorated with :func:`require`."""
    p: Principal | None = g.get("principal")
    assert p is not None, "principal() outside @require"
    return p


def require(*roles: Role, cached: bool = False) -> Callable[[F], F]:
    """Allow the view only to a bearer token scoped to one of ``roles``. ``cached``: the token
    may be resolved from this worker's short cache (only for a use case that re-checks the
    token itself when it moves credits)."""
    allowed = frozenset(roles)
    assert allowed, "require() needs at least one role"

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            who = authenticate(cached=cached)
            if who is None:
                raise Unauthorized(
                    "send a valid API token: Authorization: Bearer <token>",
                )
            if who.role not in allowed:
                raise Forbidden(
                    f"a {who.role.value} token cannot do this "
                    f"(needs: {', '.join(sorted(r.value for r in allowed))})",
                    # Tells a refusal by role apart from an object-level one (a member asking
                    # for someone else's voucher); the access-matrix test relies on it.
                    required_roles=sorted(r.value for r in allowed),
                )
            return view(*args, **kwargs)

        # Document the requirement through flask-smorest's public decorator: the bearer
        # scheme, the roles (after the docstring's own description, which a manual
        # description would otherwise replace), and the 401/403 answers as references to
        # the response components the Api registers for every HTTP status.
        roles_text = ", ".join(sorted(r.value for r in allowed))
        description = "\n\n".join(
            filter(None, [_docstring_description(view), f"Roles: {roles_text}."])
        )
        documented = Blueprint.doc(
            security=[{"bearer": []}],
            description=description,
            responses={"401": "UNAUTHORIZED", "403": "FORBIDDEN"},
        )(wrapper)
        documented.required_roles = allowed  # type: ignore[attr-defined]
        return documented  # type: ignore[no-any-return]

    return decorator


def _docstring_description(view: Callable[..., Any]) -> str:
    """The description flask-smorest takes from a view's docstring: what follows the first
    blank line (the summary is the lines before it), up to a ``---`` line."""
    text = inspect.cleandoc(view.__doc__ or "")
    text = text.split("\n---", 1)[0]
    _, _, rest = text.partition("\n\n")
    return rest.strip()
