"""Outgoing mail: one small interface, two implementations.

- :class:`FileMailer` (development and tests, the embedded default): each message is written
  as an ``.eml`` file into ``<instance>/mail/``. :func:`read_outbox` reads them back.
- :class:`SmtpMailer` (production): selected by ``CREDITS_SMTP_URL``:
  ``smtp+starttls://user:password@host:587`` (STARTTLS, the usual choice),
  ``smtps://user:password@host:465`` (TLS from the start), or ``smtp://localhost:25`` (a relay
  on the same machine; a password is refused over an unencrypted connection to anywhere else).

Messages are plain en-GB text rendered from ``credits/mail/templates/<name>.txt`` (first line
``Subject: ...``). Use cases never send mail themselves: they return :class:`Message` objects
and the caller sends them *after* the unit of work commits, so a rolled-back use case sends
nothing and no transaction is held open while a mail server answers.
"""

from __future__ import annotations

import email.policy
import logging
import os
import secrets
import smtplib
import ssl
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import jinja2

from credits.config import Settings

log = logging.getLogger(__name__)

#: How long an SMTP conversation may take before we give up (seconds).
SMTP_TIMEOUT_S = 15

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("credits.mail", "templates"),
    autoescape=False,  # plain text: nothing is interpreted as markup  # noqa: S701
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class Attachment:
    """A file sent with a message (a remittance advice's PDF)."""

    filename: str
    content_type: str  # "application/pdf"
    data: bytes


@dataclass(frozen=True)
class Message:
    """One plain-text email to one person, with any attachments."""

    to: str
    subject: str
    body: str
    #: The template it came from (``invitation``, ``password_reset``...): handy in tests/logs.
    kind: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    attachments: tuple[Attachment, ...] = ()


def render(kind: str, *, to: str, **context: Any) -> Message:
    """Render ``templates/<kind>.txt`` (first line ``Subject: ...``) into a :class:`Message`."""
    text = _templates.get_template(f"{kind}.txt").render(**context)
    first, _, body = text.partition("\n")
    if not first.startswith("Subject: "):
        raise ValueError(f"mail template {kind} must start with a Subject: line")
    return Message(
        to=to, subject=first.removeprefix("Subject: ").strip(), body=body.lstrip("\n"), kind=kind
    )


def _to_email(message: Message, sender: str) -> EmailMessage:
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = sender
    msg["To"] = message.to
    msg["Subject"] = message.subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain=(parseaddr(sender)[1].partition("@")[2] or None))
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies, please
    if message.kind:
        msg["X-Credits-Kind"] = message.kind
    for name, value in message.headers.items():
        msg[name] = value
    msg.set_content(message.body, charset="utf-8")
    for item in message.attachments:
        maintype, _, subtype = item.content_type.partition("/")
        msg.add_attachment(item.data, maintype=maintype, subtype=subtype, filename=item.filename)
    return msg


class Mailer(Protocol):
    """Anything that can deliver messages."""

    def send(self, message: Message) -> None:
        """Deliver now; raise :class:`MailError` if the message could not be handed over."""

    def send_soon(self, messages: Iterable[Message]) -> None:
        """Deliver without making the caller wait (failures are logged, not raised).

        Used where the response time must not depend on whether mail was sent — e.g. the
        password-reset request, which must not reveal whether an address is registered.
        """


class MailError(Exception):
    """A message could not be handed to the mail server."""


class FileMailer:
    """Writes each message as ``<folder>/<UTC time>-<random>.eml`` (development, tests)."""

    def __init__(self, folder: Path, sender: str) -> None:
        self.folder = folder
        self.sender = sender

    def send(self, message: Message) -> None:
        """Write the message atomically (a reader never sees half a file)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        name = f"{stamp}-{secrets.token_hex(4)}.eml"
        tmp = self.folder / f".{name}.tmp"
        tmp.write_bytes(_to_email(message, self.sender).as_bytes())
        os.replace(tmp, self.folder / name)

    def send_soon(self, messages: Iterable[Message]) -> None:
        """Write them now: a file is quick and uniform (and tests read them at once)."""
        for message in messages:
            try:
                self.send(message)
            except OSError:
                log.exception("could not write mail to %s", message.to)


class SmtpMailer:
    """Delivers over SMTP; see the module docstring for the URL forms."""

    _pool: ThreadPoolExecutor | None = None
    _pool_lock = threading.Lock()

    def __init__(self, url: str, sender: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtp+starttls", "smtps"):
            raise ValueError(
                "CREDITS_SMTP_URL must start smtp+starttls://, smtps:// or smtp:// "
                f"(got {parts.scheme or 'nothing'}://)"
            )
        self.mode = parts.scheme
        self.host = parts.hostname or "localhost"
        self.port = parts.port or {"smtp": 25, "smtp+starttls": 587, "smtps": 465}[self.mode]
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.sender = sender
        local = self.host in ("localhost", "127.0.0.1", "::1")
        if self.mode == "smtp" and self.password and not local:
            raise ValueError(
                "refusing to send an SMTP password unencrypted: use smtp+starttls:// or smtps://"
            )

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        if self.mode == "smtps":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=SMTP_TIMEOUT_S, context=context)
        conn = smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT_S)
        if self.mode == "smtp+starttls":
            conn.starttls(context=context)
        return conn

    def send(self, message: Message) -> None:
        """Hand one message to the server, or raise :class:`MailError`."""
        try:
            with self._connect() as conn:
                if self.username:
                    conn.login(self.username, self.password or "")
                conn.send_message(_to_email(message, self.sender))
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"the mail server did not accept the message: {exc}") from exc

    def send_soon(self, messages: Iterable[Message]) -> None:
        """Hand them to a small background pool (2 threads); failures are logged."""
        batch = list(messages)
        if not batch:
            return
        with self._pool_lock:
            if SmtpMailer._pool is None:
                SmtpMailer._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="mail")
        SmtpMailer._pool.submit(self._send_logged, batch)

    def _send_logged(self, batch: list[Message]) -> None:
        for message in batch:
            try:
                self.send(message)
            except MailError:
                log.exception("mail to %s (%s) was not sent", message.to, message.kind)


def mail_folder(settings: Settings) -> Path:
    """Where the development mailer writes messages."""
    return settings.instance_path / "mail"


def build_mailer(settings: Settings) -> Mailer:
    """The mailer the settings ask for: SMTP if ``smtp_url`` is set, else files."""
    if settings.smtp_url:
        return SmtpMailer(settings.smtp_url, settings.mail_from)
    return FileMailer(mail_folder(settings), settings.mail_from)


# --- reading the development outbox (tests, and developers curious what was sent) -----------


@dataclass(frozen=True)
class SentMail:
    """A message read back from the development outbox."""

    path: Path
    to: str
    subject: str
    body: str
    kind: str
    raw: EmailMessage

    def links(self) -> list[str]:
        """Every http(s) link in the body, in order."""
        return [
            word.rstrip(".,)")
            for word in self.body.split()
            if word.startswith(("http://", "https://"))
        ]

    def link(self) -> str:
        """The one link in the body (asserts there is exactly one)."""
        found = self.links()
        assert len(found) == 1, f"expected one link in {self.subject!r}, found {found}"
        return found[0]


def read_outbox(folder: Path, *, to: str | None = None, kind: str | None = None) -> list[SentMail]:
    """The messages in a :class:`FileMailer` folder, oldest first, optionally filtered."""
    if not folder.exists():
        return []
    parser = BytesParser(policy=email.policy.default)
    out = []
    for path in sorted(folder.glob("*.eml")):
        msg = parser.parsebytes(path.read_bytes())
        assert isinstance(msg, EmailMessage)
        body = msg.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        mail = SentMail(
            path=path,
            to=str(msg["To"]),
            subject=str(msg["Subject"]),
            body=text,
            kind=str(msg.get("X-Credits-Kind", "")),
            raw=msg,
        )
        if to is not None and mail.to.lower() != to.lower():
            continue
        if kind is not None and mail.kind != kind:
            continue
        out.append(mail)
    return out
