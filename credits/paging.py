"""Pages of results: one shape for every paginated list (API and pages alike).

``paginate(session, query, page=2, per_page=25)`` runs a count and one page of ``query`` and
returns a :class:`Page`. Pages are numbered from 1; ``per_page`` is capped at
:data:`MAX_PER_PAGE` (put a limit on everything).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
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
    """Run ``query`` (already ordered) for one page; scalar rows if it selects one entity."""
    page, per_page = clamp(page, per_page)
    total = session.execute(
        select(func.count()).select_from(query.order_by(None).subquery())
    ).scalar_one()
    rows = session.execute(query.limit(per_page).offset((page - 1) * per_page))
    items = list(rows.scalars()) if len(query.column_descriptions) == 1 else list(rows)
    return Page(items=items, page=page, per_page=per_page, total=int(total))
