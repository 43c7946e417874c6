"""Closes and check runs started from the officer's pages, run in the background.

At borough size the reconciliation checks take a minute or two together
(docs/benchmarks.md), longer than a web request may last (gunicorn stops a worker after
30 s). So the close page starts a *run* and answers at once; a thread of the web process
runs the checks (and, for a close, :func:`credits.statements.close.close_month`) while the
page shows how far it got, and then how it ended.

Guarantees (each tested):

- One run at a time across every process: ``close_run.active`` is unique, so starting a run
  while one is going is refused with :class:`RunInProgress` (``close_in_progress``), which
  names it. A close that could not start (the month has not ended, is closed already, an
  earlier month is open) is refused before any run is recorded.
- The close itself is :func:`~credits.statements.close.close_month`, one transaction: a run
  that dies half-way has closed nothing, and what it reports is what happened — ``closed``
  (the close committed), ``refused`` (a check failed; every check's result is kept),
  ``error`` (the close refused for another reason, or failed unexpectedly: nothing written);
  a run of the checks alone ends ``passed`` or ``failed``.
- One at a time across servers, with the command line too: a run holds the ``month-close``
  job lease (credits.jobs) from the moment it is recorded until it ends, renewed with its
  heartbeat; ``credits close-month`` takes the same lease, so neither starts while the
  other is going.
- A run writes a heartbeat every few seconds. One whose heartbeat stopped and whose process
  is gone shows as stopped, and is marked ``abandoned`` when the next run starts. (A run on
  this host is alive while its process is: on SQLite a close holds the database's write
  lock, so neither its heartbeat nor its progress can be written until it ends.)
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from credits import jobs as leases
from credits.db import Database, unique_violation, utcnow
from credits.errors import Conflict, CreditsError
from credits.i18n import T
from credits.ledger import CheckResult
from credits.ledger.periods import Month
from credits.statements import close
from credits.statements.models import T_CLOSE_RUN, CloseRun

log = logging.getLogger(__name__)

#: What a run does: ``check`` runs every check and reports; ``close`` closes if they pass.
PURPOSES = ("check", "close")
#: How often a running run writes its heartbeat and progress.
HEARTBEAT_EVERY = timedelta(seconds=5)
#: A run whose heartbeat is older than this has stopped, unless its process is alive here.
STALE_AFTER = timedelta(seconds=60)
#: ...and one older than this has stopped whatever its process id says (ids are reused).
GIVE_UP_AFTER = timedelta(hours=6)
#: How long a run's month-close lease lasts without a heartbeat renewing it.
LEASE_TTL = timedelta(minutes=2)

_STOPPED = (
    "The run stopped before it reported how it ended (the service was restarted or its "
    "process ended). Nothing is left half-done: a close is one transaction, so the month "
    "is either closed or exactly as it was."
)
_UNEXPECTED = (
    "An unexpected error stopped the run, and nothing was changed. The details are in the "
    "service's log."
)


class RunInProgress(Conflict):
    """Another close or check run is going: one at a time."""

    code = "close_in_progress"
    title = T("A month close or a run of the checks is already going")


@dataclass
class Started:
    """A run just recorded, and the thread running it (tests join it; the pages don't)."""

    run_id: int
    thread: threading.Thread


def total_checks() -> int:
    """How many checks a run runs (``credits verify``'s full list)."""
    from credits.ledger.verify import reported
    from credits.verify_checks import all_checks

    return reported(all_checks())


def start(db: Database, by: Any, month: Month, purpose: str, *, jobs: int = 1) -> Started:
    """Record a run of ``purpose`` for ``month`` by ``by`` (a Principal) and start it in a
    thread of this process. Raises :class:`RunInProgress` if a run is going, and for a close
    whatever :func:`close.check_can_close` raises; nothing is recorded then."""
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {PURPOSES}, not {purpose!r}")
    total = total_checks()
    holder = leases.new_holder("close-run")

    def record(session: Session) -> int:
        now = utcnow()
        _abandon_stopped(session, now)
        going = current(session)
        if going is not None:
            raise _in_progress(going)
        # A page run's lease is taken and given back with its active slot, so one held by a
        # page run while no run is active belongs to a run that stopped (just abandoned).
        held = leases.holder_of(session, leases.MONTH_CLOSE, now=now)
        if held is not None and held.holder.startswith("close-run:"):
            leases.release(session, leases.MONTH_CLOSE, holder=held.holder)
        try:
            leases.take(session, leases.MONTH_CLOSE, holder=holder, ttl=LEASE_TTL, now=now)
        except leases.JobRunning as exc:
            raise RunInProgress(
                f"A month close is running from the command line ({exc.extra['holder']}): "
                "wait for it to finish"
            ) from exc
        if purpose == "close":
            close.check_can_close(session, month, now=now)
        run = CloseRun(
            month=str(month),
            purpose=purpose,
            requested_by=by.actor,
            requested_at=now,
            heartbeat_at=now,
            worker=_this_worker(),
            status="running",
            active=1,
            progress={"total": total, "done": [], "phase": "checks"},
        )
        session.add(run)
        session.flush()
        assert run.id is not None
        return run.id

    try:
        run_id = db.run(record)
    except IntegrityError as exc:
        # Two officers pressed at the same moment: the other one's run got the slot.
        if unique_violation(exc, "active"):
            raise RunInProgress("Another run started a moment ago: wait for it to finish") from exc
        raise
    thread = threading.Thread(
        target=_execute,
        args=(db, run_id, by, month, purpose, jobs, total, holder),
        name=f"close-run-{run_id}",
        # Not a daemon: a worker asked to stop lets a close finish within its grace period.
        daemon=False,
    )
    try:
        thread.start()
    except RuntimeError:  # no thread to be had: say so now rather than leave it "running"
        log.exception("close run %s: could not start its thread", run_id)
        _finish(
            db, run_id, _Outcome("error", error_code="internal", error=_UNEXPECTED), None, holder
        )
        raise
    return Started(run_id, thread)


def current(session: Session) -> CloseRun | None:
    """The run going now (possibly stopped: see :func:`is_stopped`), or None."""
    return session.execute(select(CloseRun).where(T_CLOSE_RUN.c.active == 1)).scalars().first()


def latest(session: Session, month: Month) -> CloseRun | None:
    """The most recent run for ``month``, or None."""
    return (
        session.execute(
            select(CloseRun)
            .where(T_CLOSE_RUN.c.month == str(month))
            .order_by(T_CLOSE_RUN.c.id.desc())
            .limit(1)
        )
        .scalars()
        .first()
    )


def is_stopped(run: CloseRun, now: datetime) -> bool:
    """True if ``run`` says it is running but has stopped: its heartbeat is old and its
    process is not alive on this host (or is on another host, or the heartbeat is very old)."""
    if run.status != "running" or run.heartbeat_at >= now - STALE_AFTER:
        return False
    if run.heartbeat_at < now - GIVE_UP_AFTER:
        return True
    return not _alive_here(run.worker)


def _this_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive_here(worker: str) -> bool:
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def _in_progress(run: CloseRun) -> RunInProgress:
    what = "closing" if run.purpose == "close" else "checking"
    return RunInProgress(
        f"A run {what} {run.month} is going (started by {run.requested_by} at "
        f"{run.requested_at:%H:%M:%S} UTC): wait for it to finish",
        run_id=run.id,
        month=run.month,
    )


def _abandon_stopped(session: Session, now: datetime) -> None:
    going = current(session)
    if going is None or not is_stopped(going, now):
        return
    session.execute(
        update(T_CLOSE_RUN)
        .where(T_CLOSE_RUN.c.id == going.id, T_CLOSE_RUN.c.active == 1)
        .values(
            status="abandoned", active=None, finished_at=now, error_code="abandoned", error=_STOPPED
        )
    )
    session.expire(going)


# --- the run itself (in its own thread) ------------------------------------------------------


@dataclass
class _Progress:
    """What the heartbeat reports; written by the checks' threads as each finishes."""

    total: int
    results: list[CheckResult] = field(default_factory=list)
    phase: str = "checks"
    lock: threading.Lock = field(default_factory=threading.Lock)

    def restart(self) -> None:
        with self.lock:
            self.results.clear()
            self.phase = "checks"

    def done(self, result: CheckResult) -> None:
        with self.lock:
            self.results.append(result)
            if len(self.results) >= self.total:
                self.phase = "closing"

    def as_json(self) -> dict[str, Any]:
        with self.lock:
            return {
                "total": self.total,
                "done": [r.name for r in self.results],
                "phase": self.phase,
            }


@dataclass
class _Outcome:
    status: str
    checks: list[dict[str, Any]] | None = None
    error_code: str | None = None
    error: str | None = None


def _execute(
    db: Database,
    run_id: int,
    by: Any,
    month: Month,
    purpose: str,
    jobs: int,
    total: int,
    holder: str,
) -> None:
    progress = _Progress(total)
    stop = threading.Event()
    beat = threading.Thread(
        target=_heartbeat,
        args=(db, run_id, progress, stop, holder),
        name=f"close-run-{run_id}-beat",
        daemon=True,
    )
    beat.start()
    try:
        outcome = _run(db, by, month, purpose, jobs, progress)
    except Exception:
        log.exception("close run %s (%s %s) failed", run_id, purpose, month)
        outcome = _Outcome("error", error_code="internal", error=_UNEXPECTED)
    finally:
        stop.set()
        beat.join()
    try:
        _finish(db, run_id, outcome, progress, holder)
    except Exception:
        log.exception("close run %s: could not record how it ended (%s)", run_id, outcome.status)


def _run(
    db: Database, by: Any, month: Month, purpose: str, jobs: int, progress: _Progress
) -> _Outcome:
    if purpose == "check":
        with db.read() as session:
            results = close.run_checks(session, jobs=jobs, on_done=progress.done)
        checks = [r.as_dict() for r in results]
        return _Outcome("passed" if all(c["ok"] for c in checks) else "failed", checks)

    def closing(session: Session) -> close.CloseResult:
        progress.restart()  # db.run may run it again (a deadlock, a locked SQLite file)
        return close.close_month(session, by, month, now=utcnow(), jobs=jobs, on_done=progress.done)

    try:
        result = db.run(closing)
    except close.CloseRefused as exc:
        return _Outcome("refused", exc.checks, exc.code, exc.detail)
    except CreditsError as exc:  # closed meanwhile, an earlier month open...
        return _Outcome("error", None, exc.code, exc.detail)
    return _Outcome("closed", result.checks)


def _heartbeat(
    db: Database, run_id: int, progress: _Progress, stop: threading.Event, holder: str
) -> None:
    while not stop.wait(HEARTBEAT_EVERY.total_seconds()):
        try:
            with db.engine.begin() as conn:
                conn.execute(
                    update(T_CLOSE_RUN)
                    .where(T_CLOSE_RUN.c.id == run_id, T_CLOSE_RUN.c.status == "running")
                    .values(heartbeat_at=utcnow(), progress=progress.as_json())
                )
                now = utcnow()
                conn.execute(
                    update(leases.T_JOB_LEASE)
                    .where(
                        leases.T_JOB_LEASE.c.name == leases.MONTH_CLOSE,
                        leases.T_JOB_LEASE.c.holder == holder,
                    )
                    .values(renewed_at=now, expires_at=now + LEASE_TTL)
                )
        except OperationalError as exc:
            if "database is locked" in str(exc.orig):
                continue  # SQLite, while the close holds the write lock: expected
            log.warning("close run %s: heartbeat not written", run_id, exc_info=True)
        except Exception:  # a lost connection: try again next beat
            log.warning("close run %s: heartbeat not written", run_id, exc_info=True)


def _finish(
    db: Database, run_id: int, outcome: _Outcome, progress: _Progress | None, holder: str
) -> None:
    values: dict[str, Any] = {
        "status": outcome.status,
        "active": None,
        "finished_at": utcnow(),
        "heartbeat_at": utcnow(),
        "checks": outcome.checks,
        "error_code": outcome.error_code,
        "error": outcome.error,
    }
    if progress is not None:
        values["progress"] = progress.as_json()

    def write(session: Session) -> None:
        # By id alone: if the run was marked abandoned meanwhile, what happened wins.
        session.execute(update(T_CLOSE_RUN).where(T_CLOSE_RUN.c.id == run_id).values(**values))
        leases.release(session, leases.MONTH_CLOSE, holder=holder)

    db.run(write)
