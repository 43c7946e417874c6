"""Serving the public record fast: a per-process cache that a close, a hold or a release
invalidates in every process at once.

Guarantees:

- Each request reads one cheap *stamp* from the database (:func:`stamp`: three counts that
  only grow — months closed, holds made, holds released). While it is unchanged the process
  serves what it built before: the record, the files' bytes, their ETags and signatures.
  A close, hold or release commits a new stamp, so every gunicorn worker rebuilds on its
  next request; none can serve a held month after the hold commits.
- The stamp is read before the record it keys, in the same session: a cached record is never
  older than its stamp (a close committing in between only makes the next request rebuild).
- The files are the canonical bytes of credits.open.render, signed with the statement key
  (credits.statements.signing): the same bytes, ETag and signature in every process.
- A month that is not closed, or is held back, is refused with a clear error (404
  ``not_found`` / ``publication_held``); a malformed month with ``validation_error``.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
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
    """The public record's version: any close, hold or release changes it. One round trip
    on a pooled connection, outside the ORM."""
    with db.read() as session:
        return tuple(int(v) for v in session.execute(text(_STAMP)).one())


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


@dataclass
class _Built:
    stamp: tuple[int, ...]
    record: PublicRecord
    files: dict[Any, Any] = field(default_factory=dict)


class PublicRecordService:
    """The public record of one process (one per app): see the module docstring."""

    def __init__(self, db: Database, instance_path: Path | str, meta: render.Meta) -> None:
        self.db = db
        self.instance_path = instance_path
        self.meta = meta
        self._built: _Built | None = None
        self._lock = threading.Lock()
        #: Records built so far (the cache's misses), for tests and the benchmark.
        self.builds = 0

    # --- the cache ---------------------------------------------------------------------------

    def _current(self) -> _Built:
        now = stamp(self.db)
        built = self._built
        if built is not None and built.stamp == now:
            return built
        with self._lock:
            built = self._built
            if built is not None and built.stamp == now:
                return built
            with self.db.read() as session:
                # The stamp first, then the record: never an older record under a newer stamp.
                fresh = tuple(int(v) for v in session.execute(text(_STAMP)).one())
                record = build_record(session)
            built = _Built(fresh, record)
            self._built = built
            self.builds += 1
            return built

    def _memo(self, built: _Built, key: Any, make: Callable[[], Any]) -> Any:
        """Build ``key`` once per record (idempotent, so a race only builds it twice)."""
        try:
            return built.files[key]
        except KeyError:
            value = make()
            built.files[key] = value
            return value

    def cached(self, key: Any, make: Callable[[PublicRecord], Any]) -> Any:
        """Something derived from the record (a page fragment, a chart), built once per
        version of the record and process. ``key`` must name everything ``make`` depends
        on besides the record (the page, the language...)."""
        built = self._current()
        return self._memo(built, ("derived", key), lambda: make(built.record))

    def record(self) -> PublicRecord:
        """The current public record."""
        return self._current().record

    def _file(self, data: bytes, media_type: str, filename: str) -> OpenFile:
        return OpenFile(data, media_type, filename, signing.sign(self.instance_path, data))

    # --- what is served ------------------------------------------------------------------------

    def published_month(self, text_: str) -> PublishedMonth:
        """The published month ``YYYY-MM``, or the reason it is not public."""
        return self._published(self._current(), text_)

    def _published(self, built: _Built, text_: str) -> PublishedMonth:
        month = Month.parse(text_)
        entry = built.record.entry(month)
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
        return self._month_file(self._current(), text_, fmt)

    def _month_file(self, built: _Built, text_: str, fmt: str) -> OpenFile:
        pm = self._published(built, text_)

        def make() -> OpenFile:
            data = render.month_json(pm, self.meta) if fmt == "json" else render.month_csv(pm)
            return self._file(data, MEDIA_TYPES[fmt], f"open-{pm.figures.month}.{fmt}")

        return self._memo(built, ("month", pm.figures.month, fmt), make)  # type: ignore[no-any-return]

    def months_file(self) -> OpenFile:
        """The index of closed months and the year so far (JSON)."""
        built = self._current()

        def make() -> OpenFile:
            data = render.canonical_json(render.months_document(built.record, self.meta))
            return self._file(data, MEDIA_TYPES["json"], "open-months.json")

        return self._memo(built, "months", make)  # type: ignore[no-any-return]

    def datapackage_file(self) -> OpenFile:
        """datapackage.json: every published month's CSV, with its table schema."""
        built = self._current()

        def make() -> OpenFile:
            published = built.record.published
            signatures = {
                pm.figures.month: self._month_file(built, pm.figures.month, "csv").signature
                for pm in published
            }
            package = render.datapackage(published, self.meta, signatures)
            data = render.canonical_json(package)
            return self._file(data, MEDIA_TYPES["json"], "datapackage.json")

        return self._memo(built, "datapackage", make)  # type: ignore[no-any-return]

    def resource_file(self, filename: str) -> OpenFile:
        """A data package resource by its file name (``2026-10.csv``)."""
        if not filename.endswith(".csv"):
            raise NotFound(f"there is no file {filename[:40]!r} in the data package")
        return self.month_file(filename.removesuffix(".csv"), "csv")
