"""Every Jinja filter the pages use, registered in one place.

Two modules once registered a filter under the same name (``london``) with different
signatures; whichever blueprint came last won, and a page calling ``london(false)`` crashed.
:func:`register_filters` is the only place filters are added, and it refuses a name that is
already taken, so that cannot happen silently again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from flask import Flask

from credits.earning.quantities import describe
from credits.ledger import LONDON

STATE_LABELS = {
    "pending": "Waiting for approval",
    "awaiting_officer": "Waiting for a council officer",
    "posted": "Approved",
    "rejected": "Not approved",
}
KIND_LABELS = {"record": "Recorded", "session": "Session sheet", "claim": "Claim"}


def london(moment: datetime | None, with_time: bool = True) -> str:
    """A stored UTC time as people here read it, in London time: ``3 December 2026, 14:05``
    (``with_time=False``: ``3 December 2026``); ``–`` when there is none."""
    if moment is None:
        return "–"
    local = moment.astimezone(LONDON)
    return local.strftime("%-d %B %Y, %H:%M" if with_time else "%-d %B %Y")


def london_day(moment: datetime | None) -> str:
    """The London date of a stored UTC time: ``3 December 2026``; empty when there is none."""
    return "" if moment is None else london(moment, with_time=False)


def london_date(value: date | datetime | None, fmt: str = "%a %-d %b %Y") -> str:
    """A date, or an instant shown as its London date: ``Tue 24 Nov 2026``."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(LONDON)
    return value.strftime(fmt)


def london_time(value: datetime | None) -> str:
    """An instant in London time, short: ``24 Nov 2026, 14:05``."""
    if value is None:
        return ""
    return value.astimezone(LONDON).strftime("%-d %b %Y, %H:%M")


def signed(amount: int) -> str:
    """``+15`` or ``−5`` (a real minus sign)."""
    return f"+{amount}" if amount > 0 else f"\u2212{-amount}" if amount < 0 else "0"


def capfirst(text: str) -> str:
    """``at 10 credits...`` → ``At 10 credits...`` (messages start lower-case)."""
    return text[:1].upper() + text[1:] if text else text


def state_label(state: str) -> str:
    """An award's state in plain words."""
    return STATE_LABELS.get(state, state)


def kind_label(kind: str) -> str:
    """How an award was made, in plain words."""
    return KIND_LABELS.get(kind, kind)


FILTERS: dict[str, Callable[..., Any]] = {
    "london": london,
    "london_day": london_day,
    "london_date": london_date,
    "london_time": london_time,
    "signed": signed,
    "capfirst": capfirst,
    "state_label": state_label,
    "kind_label": kind_label,
    "describe_quantity": describe,
}


def register_filters(app: Flask) -> None:
    """Add every filter in :data:`FILTERS` to the app; a name already taken (by Jinja or by
    anyone else) is an error at start-up, not a wrong filter at render time."""
    for name, function in FILTERS.items():
        if name in app.jinja_env.filters:
            raise RuntimeError(f"a template filter named {name!r} is already registered")
        app.add_template_filter(function, name)
