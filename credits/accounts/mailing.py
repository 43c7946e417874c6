"""The emails people-and-access sends, built from templates in credits/mail/templates.

Use cases get an :class:`Outgoing` from the web or API layer: who signs the mail, how to
make an absolute link to a page, and the language of the page the request came from. They
return :class:`~credits.mail.Message` objects; the caller sends them after the unit of work
commits.

An email is written in its recipient's language (``person.language``). Someone who has not
chosen one gets what they asked for on a page themselves (registering, resetting a password)
in that page's language, and what the council sends them (an invitation, a decision) in
English.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from credits import i18n
from credits.accounts.models import Person, Role
from credits.i18n import T
from credits.mail import Message, render

#: Page names a link can point to (the web layer maps them to URLs).
LINK_PAGES = ("invitation", "password_reset", "confirm_email", "sign_in", "forgot_password")

ROLE_WORDS = {
    Role.MEMBER: T("a volunteer"),
    Role.COORDINATOR: T("a coordinator"),
    Role.SHOP_STAFF: T("shop staff"),
    Role.OFFICER: T("a council officer"),
    Role.ADMIN: T("an administrator"),
}


@dataclass(frozen=True)
class Outgoing:
    """What a use case needs to write an email."""

    council: str
    #: ``link(page, token)`` → an absolute URL (``token`` is None for sign_in/forgot_password).
    link: Callable[[str, str | None], str]
    #: The language of the page the request came from (English for the API).
    language: str = i18n.DEFAULT


def when(moment: datetime, language: str = i18n.DEFAULT) -> str:
    """A time in London as the reader writes it: ``Wednesday, 2 December 2026, 14:05``."""
    return i18n.format_when_full(moment, language)


def _roles_text(roles: list[Role], language: str) -> str:
    return i18n.format_list([ROLE_WORDS[r] for r in roles if r in ROLE_WORDS], language)


def asked_by_them(out: Outgoing, person: Person) -> str:
    """The language of an email the person asked for on a page (their own, or the page's)."""
    return person.language or out.language


def from_the_council(person: Person) -> str:
    """The language of an email the council sends of its own accord (theirs, or English)."""
    return person.language or i18n.DEFAULT


def invitation(
    out: Outgoing, person: Person, secret: str, expires_at: datetime, roles: list[Role]
) -> Message:
    """The invitation: a link to choose a password (7 days, once)."""
    language = from_the_council(person)
    return render(
        "invitation",
        to=person.email,
        language=language,
        name=person.name,
        council=out.council,
        url=out.link("invitation", secret),
        expires=when(expires_at, language),
        roles=_roles_text(roles, language),
    )


def registration_confirm(
    out: Outgoing, person: Person, secret: str, expires_at: datetime
) -> Message:
    """After registering: a link to confirm the email address."""
    language = asked_by_them(out, person)
    return render(
        "registration_confirm",
        to=person.email,
        language=language,
        name=person.name,
        council=out.council,
        url=out.link("confirm_email", secret),
        expires=when(expires_at, language),
    )


def registration_exists(out: Outgoing, person: Person) -> Message:
    """To the owner of an address someone tried to register again."""
    return render(
        "registration_exists",
        to=person.email,
        language=asked_by_them(out, person),
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
        language=from_the_council(person),
        name=person.name,
        council=out.council,
        url=out.link("sign_in", None),
    )


def registration_declined(out: Outgoing, person: Person, reason: str) -> Message:
    """The council declined the registration, with its reason."""
    return render(
        "registration_declined",
        to=person.email,
        language=from_the_council(person),
        name=person.name,
        council=out.council,
        reason=reason,
    )


def password_reset(out: Outgoing, person: Person, secret: str, expires_at: datetime) -> Message:
    """A link to choose a new password (1 hour, once)."""
    language = asked_by_them(out, person)
    return render(
        "password_reset",
        to=person.email,
        language=language,
        name=person.name,
        council=out.council,
        url=out.link("password_reset", secret),
        expires=when(expires_at, language),
    )


def password_changed(
    out: Outgoing, person: Person, at: datetime, *, tokens_revoked: int = 0
) -> Message:
    """The password was changed (and ``tokens_revoked`` API tokens with it): if it was not
    you, act now."""
    language = asked_by_them(out, person)
    return render(
        "password_changed",
        to=person.email,
        language=language,
        name=person.name,
        council=out.council,
        when=when(at, language),
        tokens_revoked=tokens_revoked,
        forgot_url=out.link("forgot_password", None),
    )
