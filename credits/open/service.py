"""Serving the public record fast: a per-process cache that a close, a hold or a release
invalidates in every process at once.

Guarantees:

- A process reads one cheap *stamp* from the database (:func:`stamp`: three counts that
  only grow — months closed, holds made, holds released) at most once every ``recheck_s``
  seconds (the setting ``OPEN_RECHECK_MS``, default 1000; 0 reads it on every request).
  While it is unchanged the process serves what it built before: the record, the files'
  bytes, their ETags and signatures, the pages. A close, hold or release commits a new
  stamp, so every gunicorn worker rebuilds within ``recheck_s`` of the commit (the process
  that made the change at once: :meth:`PublicRecordService.expire`); no worker serves a
  held month longer than that. Serving a page therefore costs the database nothing most of
  the time, however widely it is shared.
- The stamp is read before the record it keys, in the same session: a cached record is never
  older than its stamp (a close committing in between only makes the next request rebuild).
- The files are the canonical bytes of credits.open.render, signed with the statement key
  (credits.statements.signing): the same bytes, ETag and signature in every process.
- A month that is not closed, or is held back, is refused with a clear error (404
  ``not_found`` / ``publication_held``); a malformed month with ``validation_error``.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text

from credits.db import Database
from credits.errors import NotFound, ValidationFailed
from credits.ledger.periods import Month
from credits.open import render
from credits.open.record import PublicRecord, PublishedMonth, build_record
from credits.statements import signing

FORMATS = ("json", "csv")
MEDIA_TYPES = {"json": "application/json", "csv": "text/csv; charset=utf-8"}

_STAMP = (
    "SELECT (SELECT count(*) FROM month_close), (SELECT count(*) FROM publication_hold), "
    "(SELECT count(released_at) FROM publication_hold)"
)


class PublicationHeld(NotFound):
    code = "publication_held"
    title = "That month's publication is held back"


def stamp(db: Database) -> tuple[int, ...]:
    """The public record's version: any close, hold or release changes it. On PostgreSQL one
    round trip in autocommit on a pooled connection (no BEGIN, no ROLLBACK, no ORM; the
    statement prepared server-side); on SQLite a read of the local file."""
    if db.dialect == "postgresql":
        row = db.execute_autocommit(_STAMP, {})
    else:
        with db.read() as session:
            row = session.execute(text(_STAMP)).one()
    return tuple(int(v) for v in row)


@dataclass(frozen=True, slots=True)
class OpenFile:
    """A public file: its exact bytes, media type, download name, ETag and signature."""

    data: bytes
    media_type: str
    filename: str
    signature: str

    @property
    def etag(self) -> str:
        return hashlib.sha256(self.data).hexdigest()[:32]


class RecordVersion:
    """One version of the public record in one process, with everything derived from it
    (files, pages, charts) built at most once. Obtained from
    :meth:`PublicRecordService.current`; a request uses one version throughout."""

    def __init__(
        self, stamp_: tuple[int, ...], record: PublicRecord, service: PublicRecordService
    ) -> None:
        self.stamp = stamp_
        self.record = record
        self._service = service
        self._made: dict[Any, Any] = {}

    def memo(self, key: Any, make: Callable[[], Any]) -> Any:
        """``make()`` once per version (idempotent, so a race only builds it twice)."""
        try:
            return self._made[key]
        except KeyError:
            value = make()
            self._made[key] = value
            return value

    def cached(self, key: Any, make: Callable[[PublicRecord], Any]) -> Any:
        """Something derived from the record (a page, a chart), built once per version and
        process. ``key`` must name everything ``make`` depends on besides the record (the
        page, the language...)."""
        return self.memo(("derived", key), lambda: make(self.record))

    def _file(self, data: bytes, media_type: str, filename: str) -> OpenFile:
        signature = signing.sign(self._service.instance_path, data)
        return OpenFile(data, media_type, filename, signature)

    def published_month(self, text_: str) -> PublishedMonth:
        """The published month ``YYYY-MM``, or the reason it is not public."""
        month = Month.parse(text_)
        entry = self.record.entry(month)
        if entry is None:
            raise NotFound(
                f"{month} is not on the public record: only closed months are published",
                month=str(month),
            )
        if entry.published is None:
            raise PublicationHeld(
                f"the council has held back the publication of {month}",
                month=str(month),
                held_since=entry.held_on.isoformat() if entry.held_on else None,
            )
        return entry.published

    def month_file(self, text_: str, fmt: str) -> OpenFile:
        """A published month as JSON or CSV (the exact bytes, signed)."""
        if fmt not in FORMATS:
            raise ValidationFailed(
                f"format must be one of {', '.join(FORMATS)}", errors={"format": ["Unknown."]}
            )
        pm = self.published_month(text_)
        meta = self._service.meta

        def make() -> OpenFile:
            data = render.month_json(pm, meta) if fmt == "json" else render.month_csv(pm)
            return self._file(data, MEDIA_TYPES[fmt], f"open-{pm.figures.month}.{fmt}")

        return self.memo(("month", pm.figures.month, fmt), make)  # type: ignore[no-any-return]

    def months_file(self) -> OpenFile:
        """The index of closed months and the year so far (JSON)."""

        def make() -> OpenFile:
            data = render.canonical_json(render.months_document(self.record, self._service.meta))
            return self._file(data, MEDIA_TYPES["json"], "open-months.json")

        return self.memo("months", make)  # type: ignore[no-any-return]

    def datapackage_file(self) -> OpenFile:
        """datapackage.json: every published month's CSV, with its table schema."""

        def make() -> OpenFile:
            published = self.record.published
            signatures = {
                pm.figures.month: self.month_file(pm.figures.month, "csv").signature
                for pm in published
            }
            package = render.datapackage(published, self._service.meta, signatures)
            data = render.canonical_json(package)
            return self._file(data, MEDIA_TYPES["json"], "datapackage.json")

        return self.memo("datapackage", make)  # type: ignore[no-any-return]

    def resource_file(self, filename: str) -> OpenFile:
        """A data package resource by its file name (``2026-10.csv``)."""
        if not filename.endswith(".csv"):
            raise NotFound(f"there is no file {filename[:40]!r} in the data package")
        return self.month_file(filename.removesuffix(".csv"), "csv")


class PublicRecordService:
    """The public record of one process (one per app): see the module docstring."""

    def __init__(
        self,
        db: Database,
        instance_path: Path | str,
        meta: render.Meta,
        *,
        recheck_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.instance_path = instance_path
        self.meta = meta
        #: How long a version is served before the stamp is read again (0: every request).
        self.recheck_s = recheck_s
        self._clock = clock
        self._checked_at = -math.inf
        self._version: RecordVersion | None = None
        self._lock = threading.Lock()
        #: Records built so far (the cache's misses), for tests and the benchmark.
        self.builds = 0
        #: Stamps read so far (database round trips), for tests and the benchmark.
        self.stamp_reads = 0

    def expire(self) -> None:
        """Read the stamp on the next request (this process just closed, held or released a
        month: its own next page must show it)."""
        self._checked_at = -math.inf

    def current(self) -> RecordVersion:
        """The current version: the stamp read at most once every ``recheck_s`` seconds in
        this process, and the record rebuilt only when the stamp changed."""
        version = self._version
        checked = self._clock()
        if version is not None and checked - self._checked_at < self.recheck_s:
            return version
        now = stamp(self.db)
        self.stamp_reads += 1
        if version is not None and version.stamp == now:
            self._checked_at = checked
            return version
        with self._lock:
            version = self._version
            if version is not None and version.stamp == now:
                return version
            with self.db.read() as session:
                # The stamp first, then the record: never an older record under a newer stamp.
                fresh = tuple(int(v) for v in session.execute(text(_STAMP)).one())
                record = build_record(session)
            version = RecordVersion(fresh, record, self)
            self._version = version
            self._checked_at = checked
            self.builds += 1
            return version

    # One call, one version: shorthands for a request that needs one thing.

    def record(self) -> PublicRecord:
        return self.current().record

    def published_month(self, text_: str) -> PublishedMonth:
        return self.current().published_month(text_)

    def month_file(self, text_: str, fmt: str) -> OpenFile:
        return self.current().month_file(text_, fmt)

    def months_file(self) -> OpenFile:
        return self.current().months_file()

    def datapackage_file(self) -> OpenFile:
        return self.current().datapackage_file()

    def resource_file(self, filename: str) -> OpenFile:
        return self.current().resource_file(filename)
