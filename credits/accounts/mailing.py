"""The emails people-and-access sends, built from templates in credits/mail/templates.

Use cases get an :class:`Outgoing` from the web or API layer: who signs the mail and how to
make an absolute link to a page. They return :class:`~credits.mail.Message` objects; the
caller sends them after the unit of work commits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from credits.accounts.models import Person, Role
from credits.ledger import LONDON
from credits.mail import Message, render

#: Page names a link can point to (the web layer maps them to URLs).
LINK_PAGES = ("invitation", "password_reset", "confirm_email", "sign_in", "forgot_password")

ROLE_WORDS = {
    Role.MEMBER: "a volunteer",
    Role.COORDINATOR: "a coordinator",
    Role.SHOP_STAFF: "shop staff",
    Role.OFFICER: "a council officer",
    Role.ADMIN: "an administrator",
}


@dataclass(frozen=True)
class Outgoing:
    """What a use case needs to write an email."""

    council: str
    #: ``link(page, token)`` → an absolute URL (``token`` is None for sign_in/forgot_password).
    link: Callable[[str, str | None], str]


def when(moment: datetime) -> str:
    """A time as people in the UK read it: ``Wednesday 2 December 2026 at 2:05pm``."""
    local = moment.astimezone(LONDON)
    hour = local.strftime("%I").lstrip("0") or "12"
    return f"{local:%A} {local.day} {local:%B %Y} at {hour}:{local:%M}{local:%p}".replace(
        "AM", "am"
    ).replace("PM", "pm")


def _roles_text(roles: list[Role]) -> str:
    words = [ROLE_WORDS[r] for r in roles if r in ROLE_WORDS]
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def invitation(
    out: Outgoing, person: Person, secret: str, expires_at: datetime, roles: list[Role]
) -> Message:
    """The invitation: a link to choose a password (7 days, once)."""
    return render(
        "invitation",
        to=person.email,
        name=person.name,
        council=out.council,
        url=out.link("invitation", secret),
        expires=when(expires_at),
        roles=_roles_text(roles),
    )


def registration_confirm(
    out: Outgoing, person: Person, secret: str, expires_at: datetime
) -> Message:
    """After registering: a link to confirm the email address."""
    return render(
        "registration_confirm",
        to=person.email,
        name=person.name,
        council=out.council,
        url=out.link("confirm_email", secret),
        expires=when(expires_at),
    )


def registration_exists(out: Outgoing, person: Person) -> Message:
    """To the owner of an address someone tried to register again."""
    return render(
        "registration_exists",
        to=person.email,
        name=person.name,
        council=out.council,
        status=person.status,
        sign_in_url=out.link("sign_in", None),
        forgot_url=out.link("forgot_password", None),
    )


def registration_approved(out: Outgoing, person: Person) -> Message:
    """The council approved the registration: how to sign in."""
    return render(
        "registration_approved",
        to=person.email,
        name=person.name,
        council=out.council,
        url=out.link("sign_in", None),
    )


def registration_declined(out: Outgoing, person: Person, reason: str) -> Message:
    """The council declined the registration, with its reason."""
    return render(
        "registration_declined",
        to=person.email,
        name=person.name,
        council=out.council,
        reason=reason,
    )


def password_reset(out: Outgoing, person: Person, secret: str, expires_at: datetime) -> Message:
    """A link to choose a new password (1 hour, once)."""
    return render(
        "password_reset",
        to=person.email,
        name=person.name,
        council=out.council,
        url=out.link("password_reset", secret),
        expires=when(expires_at),
    )


def password_changed(
    out: Outgoing, person: Person, at: datetime, *, tokens_revoked: int = 0
) -> Message:
    """The password was changed (and ``tokens_revoked`` API tokens with it): if it was not
    you, act now."""
    return render(
        "password_changed",
        to=person.email,
        name=person.name,
        council=out.council,
        when=when(at),
        tokens_revoked=tokens_revoked,
        forgot_url=out.link("forgot_password", None),
    )
