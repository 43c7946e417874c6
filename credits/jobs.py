"""One-at-a-time jobs across every app server: leases held in the database.

The scheduled and officer-started jobs — the month close, the voucher expiry sweep, the
inactivity run — must not run twice at once when several app servers (or a timer on each)
share one database. Their ledger writes are safe under concurrency by themselves (each is
keyed and conditional); the lease keeps the *job* single: no doubled work, no two closes
racing for the journal's lock, one clear answer to "is it running, and where?".

A lease is a row of ``job_lease`` (name, holder, expiry), taken in a transaction of its own
(:func:`exclusive`) or inside a use case's (:func:`take`). It is not a session advisory
lock on purpose: those belong to a server connection, and behind PgBouncer in transaction
pooling a connection is not ours between transactions. A holder renews its lease while it
works (:meth:`Lease.renew`); a holder that died stops renewing, and its lease can be taken
once it has expired. Times are the app servers' clocks (keep them in NTP sync, as any
server's); the expiry is minutes, so seconds of skew do not matter.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, String, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import Field, SQLModel

from credits.db import Database, RetryTransaction, UTCDateTime, unique_violation, utcnow
from credits.errors import Conflict

log = logging.getLogger(__name__)

#: The jobs that take a lease, and how long one lasts without being renewed.
MONTH_CLOSE = "month-close"
EXPIRE_VOUCHERS = "expire-vouchers"
EXPIRE_INACTIVE = "expire-inactive"
DEFAULT_TTL = timedelta(minutes=5)


class JobLease(SQLModel, table=True):
    """Who runs a one-at-a-time job now, and until when their claim holds."""

    __tablename__ = "job_lease"

    name: str = Field(sa_column=Column(String(60), primary_key=True))
    holder: str = Field(sa_column=Column(String(200), nullable=False))
    acquired_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    renewed_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


T_JOB_LEASE = JobLease.__table__  # type: ignore[attr-defined]


class JobRunning(Conflict):
    """The job is already running (here or on another server)."""

    code = "job_running"
    title = "That job is already running"


def new_holder(label: str = "") -> str:
    """A holder name unique to this attempt: host, process, and a random tag."""
    tag = f"{label}:" if label else ""
    return f"{tag}{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"[:200]


def take(
    session: Session, name: str, *, holder: str, ttl: timedelta, now: datetime | None = None
) -> JobLease:
    """Take the lease ``name`` for ``holder`` in the caller's transaction; raise
    :class:`JobRunning` if someone else holds it and it has not expired. A lease that has
    expired (its holder died or hung) is taken over."""
    now = now or utcnow()
    row = session.execute(
        select(JobLease).where(T_JOB_LEASE.c.name == name).with_for_update()
    ).scalar_one_or_none()
    if row is not None and row.holder != holder and row.expires_at > now:
        raise JobRunning(
            f"{name} is already running ({row.holder}, since "
            f"{row.acquired_at:%Y-%m-%d %H:%M:%S} UTC)",
            job=name,
            holder=row.holder,
            since=row.acquired_at.isoformat(),
        )
    if row is None:
        row = JobLease(
            name=name, holder=holder, acquired_at=now, renewed_at=now, expires_at=now + ttl
        )
        session.add(row)
        try:
            session.flush()
        except IntegrityError as exc:
            # Another server took it a moment ago: run again, and find its row.
            if unique_violation(exc, "job_lease") or unique_violation(exc, "name"):
                raise RetryTransaction(str(exc)) from exc
            raise
        return row
    if row.holder != holder:
        log.warning("job %s: taking over the expired lease of %s", name, row.holder)
        row.acquired_at = now
    row.holder, row.renewed_at, row.expires_at = holder, now, now + ttl
    session.add(row)
    session.flush()
    return row


def renew(
    session: Session, name: str, *, holder: str, ttl: timedelta, now: datetime | None = None
) -> bool:
    """Extend ``holder``'s lease; False if it is no longer theirs (it expired and was taken)."""
    now = now or utcnow()
    result = session.execute(
        update(T_JOB_LEASE)
        .where(T_JOB_LEASE.c.name == name, T_JOB_LEASE.c.holder == holder)
        .values(renewed_at=now, expires_at=now + ttl)
    )
    return bool(getattr(result, "rowcount", 0))


def release(session: Session, name: str, *, holder: str) -> None:
    """Give the lease back (only ``holder``'s own)."""
    session.execute(
        delete(T_JOB_LEASE).where(T_JOB_LEASE.c.name == name, T_JOB_LEASE.c.holder == holder)
    )
    # The row may be loaded in this session: forget it, so a take() after this one starts
    # from what the database holds.
    for obj in list(session.identity_map.values()):
        if isinstance(obj, JobLease) and obj.name == name:
            session.expunge(obj)


def holder_of(session: Session, name: str, *, now: datetime | None = None) -> JobLease | None:
    """The live lease of ``name``, or None if nobody holds it (or theirs expired)."""
    now = now or utcnow()
    row = session.get(JobLease, name)
    return row if row is not None and row.expires_at > now else None


class LeaseLost(RuntimeError):
    """The lease expired and another holder took it: this holder must stop."""


@dataclass
class Lease:
    """A lease held by this process; renew it while working."""

    db: Database
    name: str
    holder: str
    ttl: timedelta
    renewed: datetime = field(default_factory=utcnow)

    def renew(self) -> None:
        """Renew now. Raises :class:`LeaseLost` if it is no longer ours."""
        if not self.db.run(
            lambda s: renew(s, self.name, holder=self.holder, ttl=self.ttl), idempotent=True
        ):
            raise LeaseLost(f"the {self.name} lease of {self.holder} was taken over")
        self.renewed = utcnow()

    def keep(self) -> None:
        """Renew when a third of the lease has gone by (cheap to call in a loop)."""
        if utcnow() - self.renewed >= self.ttl / 3:
            self.renew()


@contextmanager
def exclusive(db: Database, name: str, *, ttl: timedelta = DEFAULT_TTL) -> Iterator[Lease]:
    """Hold the lease ``name`` for the ``with`` block; raise :class:`JobRunning` at once if
    another holder has it. A thread renews it every third of ``ttl`` meanwhile (the job may
    spend longer than that in one transaction, as the month close does); it is released at
    the end, or left to expire if this process dies."""
    holder = new_holder()
    db.run(lambda s: take(s, name, holder=holder, ttl=ttl), idempotent=True)
    lease = Lease(db, name, holder, ttl)
    done = threading.Event()

    def keep_alive() -> None:
        while not done.wait(ttl.total_seconds() / 3):
            try:
                lease.renew()
            except LeaseLost:
                log.error("job %s: the lease was taken over while %s still ran", name, holder)
                return
            except Exception:  # the database out of reach a moment: try at the next beat
                log.warning("job %s: lease not renewed", name, exc_info=True)

    beat = threading.Thread(target=keep_alive, name=f"lease-{name}", daemon=True)
    beat.start()
    try:
        yield lease
    finally:
        done.set()
        beat.join()
        try:
            db.run(lambda s: release(s, name, holder=holder), idempotent=True)
        except Exception:
            log.warning("job %s: lease not released; it expires by itself", name, exc_info=True)


def describe(session: Session, names: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The live leases (for operators): name, holder, since, until."""
    now = utcnow()
    query = select(JobLease).where(T_JOB_LEASE.c.expires_at > now)
    if names:
        query = query.where(T_JOB_LEASE.c.name.in_(names))
    return [
        {
            "name": r.name,
            "holder": r.holder,
            "since": r.acquired_at.isoformat(),
            "until": r.expires_at.isoformat(),
        }
        for r in session.execute(query).scalars()
    ]
