"""Rate limits stored in the database, so they hold across gunicorn workers and servers.

Each limit allows ``max_events`` events per ``window`` per key (an account, an email address
or a client IP address). An event is a row in ``rate_limit_event`` (bucket, time); the
bucket is the limit's name plus a SHA-256 of the key, so no address or email is stored.
Counting is a sliding window: the oldest event in the window says when the next one is
allowed (``Retry-After``).

- Checking and recording take the bucket's lock first (an advisory transaction lock on
  PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serialises writers), so two requests at
  the same moment cannot both slip in under the limit.
- Rows stay bounded: a bucket holds at most ``max_events`` rows in its window (over the
  limit nothing more is recorded); recording prunes the bucket's expired rows, and now and
  then (1 in :data:`SWEEP_ONE_IN`) every row older than :data:`KEEP`.

The limits themselves are in :data:`LIMITS` and documented in docs/people-and-access.md.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Column, Index, String, delete, func, insert, select, text
from sqlalchemy.orm import Session
from sqlmodel import Field, SQLModel

from credits.db import UTCDateTime, utcnow
from credits.errors import CreditsError
from credits.i18n import T, Text, Tn
from credits.ledger.models import BigId

#: Rows older than this are swept away (longer than the longest window).
KEEP = timedelta(days=1)
SWEEP_ONE_IN = 100


class RateLimitEvent(SQLModel, table=True):
    __tablename__ = "rate_limit_event"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    bucket: str = Field(sa_column=Column(String(100), nullable=False))
    occurred_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))

    __table_args__ = (Index("ix_rate_limit_event_bucket_occurred_at", "bucket", "occurred_at"),)


T_EVENT = RateLimitEvent.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Limit:
    """At most ``max_events`` per ``window`` for one key."""

    name: str
    max_events: int
    window: timedelta
    #: Said to the person who hits it: "Too many {what}."
    what: Text


# Translators: the limits' "what" follows "Too many ..." (see _refuse).
SIGN_IN_ACCOUNT = Limit("sign_in_account", 5, timedelta(minutes=15), T("failed sign-ins"))
SIGN_IN_IP = Limit("sign_in_ip", 20, timedelta(minutes=15), T("failed sign-ins"))
#: A browser that signed in before (a device cookie) counts its failures here instead of
#: against the account (credits/accounts/devices.py).
SIGN_IN_DEVICE = Limit("sign_in_device", 5, timedelta(minutes=15), T("failed sign-ins"))
RESET_EMAIL = Limit("reset_email", 3, timedelta(hours=1), T("password reset requests"))
RESET_IP = Limit("reset_ip", 10, timedelta(hours=1), T("password reset requests"))
REGISTER_EMAIL = Limit("register_email", 3, timedelta(hours=1), T("registrations"))
REGISTER_IP = Limit("register_ip", 5, timedelta(hours=1), T("registrations"))
LINK_ACCOUNT = Limit("link_account", 10, timedelta(minutes=15), T("attempts with this link"))
LINK_IP = Limit("link_ip", 20, timedelta(minutes=15), T("attempts with emailed links"))

#: Every limit, by name (documented in docs/people-and-access.md).
LIMITS = {
    limit.name: limit
    for limit in (
        SIGN_IN_ACCOUNT,
        SIGN_IN_IP,
        SIGN_IN_DEVICE,
        RESET_EMAIL,
        RESET_IP,
        REGISTER_EMAIL,
        REGISTER_IP,
        LINK_ACCOUNT,
        LINK_IP,
    )
}


class RateLimited(CreditsError):
    code = "rate_limited"
    title = T("Too many attempts")

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail, retry_after=retry_after_s)
        self.retry_after_s = retry_after_s

    @property
    def headers(self) -> dict[str, str]:
        """``Retry-After`` (RFC 9110), in seconds."""
        return {"Retry-After": str(self.retry_after_s)}


def bucket(limit: Limit, key: str) -> str:
    """The stored bucket name: the limit and a digest of the key (no personal data)."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]
    return f"{limit.name}:{digest}"


def _lock(session: Session, name: str) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:b, 0))"), {"b": name})


def _window(session: Session, name: str, since: datetime) -> tuple[int, datetime | None]:
    count, oldest = session.execute(
        select(func.count(), func.min(T_EVENT.c.occurred_at)).where(
            T_EVENT.c.bucket == name, T_EVENT.c.occurred_at > since
        )
    ).one()
    if oldest is not None and oldest.tzinfo is None:  # defensive: stored times are UTC
        oldest = oldest.replace(tzinfo=UTC)
    return int(count), oldest


def _refuse(limit: Limit, oldest: datetime | None, now: datetime) -> RateLimited:
    wait = (oldest + limit.window - now).total_seconds() if oldest else limit.window.total_seconds()
    wait_s = max(1, math.ceil(wait))
    minutes = max(1, math.ceil(wait_s / 60))
    return RateLimited(
        Tn(
            "Too many %(what)s. Please wait %(num)s minute and try again.",
            "Too many %(what)s. Please wait %(num)s minutes and try again.",
            minutes,
            what=limit.what,
        ),
        retry_after_s=wait_s,
    )


def check(session: Session, limit: Limit, key: str, *, now: datetime | None = None) -> int:
    """Raise :class:`RateLimited` if ``key`` has used up ``limit``; else return how many
    events it has left. Takes the bucket's lock until the transaction ends."""
    now = now or utcnow()
    name = bucket(limit, key)
    _lock(session, name)
    count, oldest = _window(session, name, now - limit.window)
    if count >= limit.max_events:
        raise _refuse(limit, oldest, now)
    return limit.max_events - count


@dataclass(frozen=True)
class Hit:
    """A recorded event: its row (to take it back, see :func:`unhit`) and what is left."""

    event_id: int
    left: int


def hit(session: Session, limit: Limit, key: str, *, now: datetime | None = None) -> Hit:
    """Record one event for ``key`` (after :func:`check`)."""
    now = now or utcnow()
    name = bucket(limit, key)
    _lock(session, name)
    session.execute(
        delete(RateLimitEvent).where(
            T_EVENT.c.bucket == name, T_EVENT.c.occurred_at <= now - limit.window
        )
    )
    event_id = session.execute(
        insert(RateLimitEvent).values(bucket=name, occurred_at=now).returning(T_EVENT.c.id)
    ).scalar_one()
    if random.randrange(SWEEP_ONE_IN) == 0:
        sweep(session, now=now)
    count, _ = _window(session, name, now - limit.window)
    return Hit(event_id=int(event_id), left=limit.max_events - count)


def unhit(session: Session, event_id: int) -> None:
    """Take back one recorded event (an attempt reserved before it turned out to succeed)."""
    session.execute(delete(RateLimitEvent).where(T_EVENT.c.id == event_id))


def attempt(session: Session, *checks: tuple[Limit, str], now: datetime | None = None) -> None:
    """Check every (limit, key) and, if none is used up, record one event in each.

    For limits that count every attempt (registration, reset requests, link use): run it in
    its own unit of work *before* the use case, so the attempt counts even if the use case
    then fails."""
    now = now or utcnow()
    for limit, key in checks:
        check(session, limit, key, now=now)
    for limit, key in checks:
        hit(session, limit, key, now=now)


def clear(session: Session, limit: Limit, key: str) -> None:
    """Forget ``key``'s events (a successful sign-in clears the account's failures)."""
    session.execute(delete(RateLimitEvent).where(T_EVENT.c.bucket == bucket(limit, key)))


def sweep(session: Session, *, now: datetime | None = None) -> int:
    """Delete every event older than :data:`KEEP`; return how many."""
    now = now or utcnow()
    result = session.execute(delete(RateLimitEvent).where(T_EVENT.c.occurred_at < now - KEEP))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def client_ip(remote_addr: str | None, forwarded_for: str | None, trusted_proxies: int) -> str:
    """The client's address: ``remote_addr``, or — behind ``trusted_proxies`` proxies that
    each append to X-Forwarded-For — the entry that many hops from the right (entries further
    left are whatever the client chose to send, so they are never trusted)."""
    if trusted_proxies > 0 and forwarded_for:
        hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
        if len(hops) >= trusted_proxies:
            return hops[-trusted_proxies][:64]
    return (remote_addr or "unknown")[:64]
