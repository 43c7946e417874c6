"""Paginated lists in the API: ``?page=&per_page=`` in, an envelope out.

    {"items": [...], "page": 1, "per_page": 25, "total": 61, "pages": 3}

Use :class:`PageArgs` (or a subclass with your filters) as the query schema and
:func:`page_schema` for the response; return ``page_out(page, convert)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import marshmallow as ma

from credits.api import inputs
from credits.paging import DEFAULT_PER_PAGE, MAX_PER_PAGE, Page


class PageArgs(ma.Schema):
    page = inputs.Integer(
        load_default=1,
        validate=ma.validate.Range(min=1, max=1_000_000),
        metadata={"description": "from 1"},
    )
    per_page = inputs.Integer(
        load_default=DEFAULT_PER_PAGE,
        validate=ma.validate.Range(min=1, max=MAX_PER_PAGE),
        metadata={"description": f"1–{MAX_PER_PAGE}"},
    )


_cache: dict[str, type[ma.Schema]] = {}


def page_schema(item: type[ma.Schema], name: str) -> type[ma.Schema]:
    """A schema for one page of ``item`` (named ``name`` in the OpenAPI document)."""
    if name not in _cache:
        _cache[name] = type(
            name,
            (ma.Schema,),
            {
                "items": ma.fields.List(ma.fields.Nested(item), required=True),
                "page": inputs.Integer(required=True),
                "per_page": inputs.Integer(required=True),
                "total": inputs.Integer(required=True),
                "pages": inputs.Integer(required=True),
            },
        )
    return _cache[name]


def page_out(page: Page[Any], convert: Callable[[Any], Any] = lambda x: x) -> dict[str, Any]:
    """The envelope for ``page``, each item passed through ``convert``."""
    return {
        "items": [convert(item) for item in page.items],
        "page": page.page,
        "per_page": page.per_page,
        "total": page.total,
        "pages": page.pages,
    }
