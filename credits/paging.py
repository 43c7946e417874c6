"""Paging: one way per kind of list, each said here with why.

- **Numbered pages** (:func:`paginate` → :class:`Page`): the officers' lists (people, tokens,
  the audit log, adjustments, settlement runs...). They are small and read by people who
  want "page 2 of 5" and a total; an offset is cheap at that size, and a row arriving while
  someone pages only shifts a line. Pages are numbered from 1; ``per_page`` is capped at
  :data:`MAX_PER_PAGE` (put a limit on everything).
- **A window by limit and offset** (:func:`window` → :class:`Window`): a member's vouchers
  in the API, whose contract (v1) speaks ``?limit=&offset=`` and answers with a ``total``.
  The same count and slice as a numbered page, addressed by row rather than by page: a
  member holds few vouchers (a cap on open ones), so the offset stays small.
- **A cursor** (:func:`newest_first`, :func:`cursor_page` → :class:`CursorPage`): the
  append-only, ever-growing histories (a member's ledger entries, claims, the approval
  queues). Rows are read newest first by id below ``before``; ids only grow, so a page
  never repeats or skips a row while new ones are posted, and it costs the same on page
  1,000 as on page 1 (an index range, no count, no offset to walk).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")

DEFAULT_PER_PAGE = 25
MAX_PER_PAGE = 100


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a longer list."""

    items: list[T]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        """How many pages there are (at least 1, so "page 1 of 1" reads right when empty)."""
        return max(1, -(-self.total // self.per_page))

    @property
    def has_next(self) -> bool:
        """Whether a later page exists."""
        return self.page < self.pages

    @property
    def has_previous(self) -> bool:
        """Whether an earlier page exists."""
        return self.page > 1


def clamp(page: int | None, per_page: int | None) -> tuple[int, int]:
    """Bring a requested page and page size into range."""
    page = max(1, int(page or 1))
    per_page = min(MAX_PER_PAGE, max(1, int(per_page or DEFAULT_PER_PAGE)))
    return page, per_page


def paginate(
    session: Session, query: Select[Any], *, page: int | None, per_page: int | None
) -> Page[Any]:
    """Run ``query`` (already ordered) for one numbered page; scalar rows if it selects one
    entity."""
    page, per_page = clamp(page, per_page)
    found = window(session, query, limit=per_page, offset=(page - 1) * per_page)
    return Page(items=found.items, page=page, per_page=per_page, total=found.total)


@dataclass(frozen=True)
class Window(Generic[T]):
    """``limit`` rows of a longer list from ``offset``, and how many rows the list has."""

    items: list[T]
    total: int


def window(session: Session, query: Select[Any], *, limit: int, offset: int) -> Window[Any]:
    """Count ``query`` (already ordered) and run it for ``limit`` rows from ``offset``
    (the caller bounds both); scalar rows if it selects one entity."""
    total = session.execute(
        select(func.count()).select_from(query.order_by(None).subquery())
    ).scalar_one()
    rows = session.execute(query.limit(limit).offset(offset))
    items = list(rows.scalars()) if len(query.column_descriptions) == 1 else list(rows)
    return Window(items=items, total=int(total))


def newest_first(
    query: Select[Any], id_column: ColumnElement[Any], *, before: int | None, limit: int
) -> Select[Any]:
    """``query`` for one cursor page: rows with ``id_column`` below ``before`` (all if None),
    highest id first, at most ``limit`` of them."""
    if before is not None:
        query = query.where(id_column < before)
    return query.order_by(id_column.desc()).limit(limit)


@dataclass(frozen=True)
class CursorPage(Generic[T]):
    """One cursor page: its rows, and the ``before`` of the next page (None at the end)."""

    items: list[T]
    next_before: int | None


def cursor_page(
    session: Session,
    query: Select[Any],
    id_column: ColumnElement[Any],
    *,
    before: int | None,
    limit: int,
) -> CursorPage[Any]:
    """Run :func:`newest_first` with one row more than ``limit``, so that the cursor of the
    next page is given only when there is one (``id_column`` must be the query's first
    column)."""
    rows = list(session.execute(newest_first(query, id_column, before=before, limit=limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return CursorPage(items=rows, next_before=int(rows[-1][0]) if more and rows else None)
