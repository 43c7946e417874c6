"""What pages and API views of people-and-access need from the request: the client's
address (for rate limits), how to write an email's links, and sending mail after commit."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from urllib.parse import urlencode

import flask_babel
from flask import request, url_for

from credits import i18n
from credits.accounts.mailing import Outgoing
from credits.api.context import current_services
from credits.i18n import T
from credits.mail import MailError, Message
from credits.ratelimit import client_ip as _client_ip

log = logging.getLogger(__name__)

#: Page name (credits.accounts.mailing.LINK_PAGES) -> endpoint of the page it opens.
LINK_ENDPOINTS = {
    "invitation": "account.accept_invitation",
    "password_reset": "account.reset_password",
    "confirm_email": "account.confirm_email",
    "sign_in": "auth.sign_in",
    "forgot_password": "account.forgot_password",
}


def client_ip() -> str:
    """The caller's address, trusting X-Forwarded-For only as far as configured."""
    return _client_ip(
        request.remote_addr,
        request.headers.get("X-Forwarded-For"),
        current_services().settings.trusted_proxies,
    )


def outgoing() -> Outgoing:
    """Who signs the emails and where their links point: ``CREDITS_PUBLIC_URL`` if set
    (production: never trust the Host header for links that carry secrets), else this
    request's own address."""
    settings = current_services().settings
    base = (settings.public_url or request.host_url).rstrip("/")

    def link(page: str, token: str | None) -> str:
        path = url_for(LINK_ENDPOINTS[page])
        return base + path + (("?" + urlencode({"token": token})) if token else "")

    # A page's language (the API speaks English): the fallback for emails people ask for.
    locale = flask_babel.get_locale()
    language = i18n.normalise(str(locale)) if locale is not None else None
    return Outgoing(council=settings.council_name, link=link, language=language or i18n.DEFAULT)


def deliver(messages: Iterable[Message]) -> list[str]:
    """Send now (after the unit of work has committed); return a sentence for each message
    that could not be sent, for the officer to see (nothing is rolled back: resend later)."""
    problems = []
    for message in messages:
        try:
            current_services().mailer.send(message)
        except MailError as exc:
            log.error("mail to %s (%s) failed: %s", message.to, message.kind, exc)
            problems.append(
                T(
                    "The email to %(to)s could not be sent (%(error)s).",
                    to=message.to,
                    error=str(exc),
                )
            )
    return problems


def deliver_quietly(messages: Iterable[Message]) -> None:
    """Send without making the caller wait or learn the outcome (anonymous requests: the
    response must not depend on whether an address is registered)."""
    current_services().mailer.send_soon(list(messages))
