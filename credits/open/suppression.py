"""Counts of people on the public record, and the rule that keeps small ones unrecoverable.

The rule (docs/open-data.md, "Nobody's personal data"):

1. A count of people from 1 to 4 is never published: it is shown as "fewer than 5" (the
   marker ``<5`` in the data). 0 and 5 or more are shown as they are.
2. A suppressed count must not be recoverable by differencing. The counts published
   together are *distinct* people: a month's active volunteers, and each activity's
   volunteers in that month (someone who cleared snow and ran a speed watch counts once in
   the month and once in each activity). So the total is not the sum of its parts, but it
   bounds them: the people of a suppressed activity number at least the month's total less
   every other activity's count (``total - sum(others)``); the obvious subtraction gives
   that figure exactly when nobody did two activities. A suppressed count is safe when that
   lower bound can be no more than 1 — then every value from 1 to 4 stays possible, and the
   published figures say nothing more than "fewer than 5". When it is not safe, one more
   count is withheld as well (the marker ``[c]``, "withheld so that a smaller figure cannot
   be worked out"): the smallest published activity count, whose possible size (anything
   from 5 to the total) makes the bound useless; if every activity is already suppressed,
   the total is withheld instead.
3. The year so far publishes the distinct people of its months together. Its total is
   checked the same way against the months' published totals (a month's figures never
   change once published, so the year's total is the one withheld when needed).

Everything here is pure arithmetic on integers: no database, no Flask.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import TypeVar

#: Counts of people below this are suppressed.
THRESHOLD = 5
#: The marker of a count of 1 to 4 people (in the JSON and the CSV, in place of the number).
FEWER_THAN_5 = "<5"
#: The marker of a count withheld so that a suppressed one cannot be worked out.
WITHHELD = "[c]"
MARKERS: dict[str, str] = {
    FEWER_THAN_5: "fewer than 5 people (from 1 to 4): not published, so that nobody can be "
    "singled out",
    WITHHELD: "withheld: 5 or more people, not published so that a figure of fewer than 5 "
    "cannot be worked out by subtracting the other figures from a total",
}

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class PeopleCount:
    """A count of people as published: ``value`` is the true count (never published when
    ``marker`` is set), ``marker`` is ``<5``, ``[c]`` or None (published as it is)."""

    value: int
    marker: str | None = None

    @property
    def shown(self) -> int | str:
        """What the public record carries: the number, or its marker."""
        return self.marker if self.marker is not None else self.value

    @property
    def published(self) -> bool:
        return self.marker is None


def _initial(value: int) -> PeopleCount:
    if value < 0:
        raise ValueError(f"a count of people cannot be negative: {value}")
    return PeopleCount(value, FEWER_THAN_5 if 0 < value < THRESHOLD else None)


def _highest(count: PeopleCount, total: int) -> int:
    """The largest value a reader could think ``count`` has: 4 for "fewer than 5", the
    total for a withheld count (a part of distinct people never exceeds the total)."""
    if count.marker == FEWER_THAN_5:
        return THRESHOLD - 1
    if count.marker == WITHHELD:
        return total
    return count.value


def lower_bounds(total: int, parts: Mapping[K, PeopleCount]) -> dict[K, int]:
    """For each part shown as "fewer than 5", the least it can be given a published
    ``total`` of distinct people and every other part as shown: the total less the most the
    other parts can hold. (A union of groups is no larger than the sum of the groups.)"""
    out = {}
    for key, count in parts.items():
        if count.marker != FEWER_THAN_5:
            continue
        others = sum(_highest(c, total) for k, c in parts.items() if k != key)
        out[key] = total - others
    return out


def _safe(total: PeopleCount, parts: Mapping[K, PeopleCount]) -> bool:
    if not total.published:
        return True  # nothing to subtract from
    return all(bound <= 1 for bound in lower_bounds(total.value, parts).values())


def protect(total: int, parts: Mapping[K, int]) -> tuple[PeopleCount, dict[K, PeopleCount]]:
    """Publishable cells for a total of distinct people and its parts (each part a subset
    of the total's people): rule 1, then rule 2 (module docstring).

    Guarantees: no published count is from 1 to 4; every part shown as "fewer than 5" keeps
    every value from 1 to 4 consistent with the published total and the other parts; at
    most one further count is withheld, the smallest published part (ties: the first in
    ``parts``' order) or else the total.
    """
    if any(v > total for v in parts.values()):
        raise ValueError("a part of distinct people cannot exceed the total")
    shown_total = _initial(total)
    shown = {k: _initial(v) for k, v in parts.items()}
    if _safe(shown_total, shown):
        return shown_total, shown
    candidates = [k for k, c in shown.items() if c.published and c.value > 0]
    if candidates:
        smallest = min(candidates, key=lambda k: shown[k].value)
        shown[smallest] = PeopleCount(shown[smallest].value, WITHHELD)
    else:
        shown_total = PeopleCount(total, WITHHELD)
    assert _safe(shown_total, shown)
    return shown_total, shown


def protect_total(total: int, parts: list[PeopleCount]) -> PeopleCount:
    """A total of distinct people over parts already published (the year so far over its
    months): rule 1 for the total, and withheld when the months' published counts would let
    a reader narrow down one shown as "fewer than 5" (rule 3)."""
    if any(p.value > total for p in parts):
        raise ValueError("a part of distinct people cannot exceed the total")
    shown = _initial(total)
    if _safe(shown, dict(enumerate(parts))):
        return shown
    return PeopleCount(total, WITHHELD)
