"""The suppression rule of the public record (credits/open/suppression.py), on its own.

A reader knows the published cells and that the counts are of distinct people: each part is
a subset of the total, so max(parts) <= total <= sum(parts). The rule must leave every value
from 1 to 4 possible for each count shown as "fewer than 5".
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credits.open.suppression import (
    FEWER_THAN_5,
    WITHHELD,
    PeopleCount,
    protect,
    protect_total,
)


def feasible_values(total: PeopleCount, parts: dict[str, PeopleCount], key: str) -> set[int]:
    """Every value the part ``key`` can have, given what is published (brute force)."""

    def options(count: PeopleCount, cap: int) -> range:
        if count.marker == FEWER_THAN_5:
            return range(1, 5)
        if count.marker == WITHHELD:
            return range(5, cap + 1)
        return range(count.value, count.value + 1)

    cap = 4 * len(parts) + sum(p.value for p in parts.values()) + 10
    totals = options(total, cap) if total.marker != WITHHELD else range(5, cap + 1)
    names = list(parts)
    found = set()
    for t in totals:
        for combo in itertools.product(*(options(parts[n], t) for n in names)):
            if max(combo, default=0) <= t <= sum(combo):
                found.add(combo[names.index(key)])
    return found


def test_small_counts_are_fewer_than_5_and_the_rest_as_they_are():
    total, parts = protect(20, {"snow": 12, "speed": 0, "gym": 8})
    assert total.shown == 20
    assert {k: v.shown for k, v in parts.items()} == {"snow": 12, "speed": 0, "gym": 8}
    total, parts = protect(3, {"snow": 2, "gym": 1})
    assert total.shown == FEWER_THAN_5
    assert {k: v.shown for k, v in parts.items()} == {"snow": FEWER_THAN_5, "gym": FEWER_THAN_5}


def test_the_obvious_differencing_does_not_recover_a_small_count():
    # 9 people: 7 cleared snow, 2 ran a speed watch. Publishing 9 and 7 would give 2 away.
    total, parts = protect(9, {"snow": 7, "speed": 2})
    assert parts["speed"].shown == FEWER_THAN_5
    assert parts["snow"].shown == WITHHELD, "the complementary cell is withheld too"
    assert total.shown == 9
    shown_others = [p.shown for k, p in parts.items() if k != "speed"]
    assert all(not isinstance(v, int) for v in shown_others), "nothing left to subtract"
    assert feasible_values(total, parts, "speed") == {1, 2, 3, 4}


def test_the_smallest_published_part_is_the_one_withheld():
    # 37 different people, nobody in two: 37 - 20 - 8 - 6 would give d = 3 away.
    total, parts = protect(37, {"a": 20, "b": 8, "c": 6, "d": 3})
    assert parts["d"].shown == FEWER_THAN_5
    # and with overlap enough, nothing more is withheld: 30 - 34 says nothing
    assert protect(30, {"a": 20, "b": 8, "c": 6, "d": 3})[1]["c"].shown == 6
    assert parts["c"].shown == WITHHELD
    assert parts["a"].shown == 20 and parts["b"].shown == 8
    assert feasible_values(total, parts, "d") == {1, 2, 3, 4}


def test_a_safe_month_withholds_nothing_more():
    # 16 people, 15 of them cleared snow: the Good Gym's runners number at least 16 - 15 = 1,
    # which "fewer than 5" says already.
    total, parts = protect(16, {"snow": 15, "gym": 4})
    assert parts["gym"].shown == FEWER_THAN_5
    assert parts["snow"].shown == 15  # 16 - 15 = 1: says nothing
    assert feasible_values(total, parts, "gym") == {1, 2, 3, 4}


def test_when_every_part_is_small_the_total_is_withheld():
    # 8 people: 4 and 4, nobody in both. Both "fewer than 5" and the total 8 would pin
    # both at exactly 4.
    total, parts = protect(8, {"snow": 4, "gym": 4})
    assert total.shown == WITHHELD
    assert feasible_values(total, parts, "snow") == {1, 2, 3, 4}


def test_the_year_total_is_withheld_when_months_would_give_a_small_one_away():
    october = PeopleCount(12)
    november = PeopleCount(3, FEWER_THAN_5)
    # 15 different people in the year: 15 - 12 = 3, so November had at least 3.
    assert protect_total(15, [october, november]).shown == WITHHELD
    # 13: November had at least 1 — nothing new.
    assert protect_total(13, [october, november]).shown == 13
    assert protect_total(4, [PeopleCount(4, FEWER_THAN_5)]).shown == FEWER_THAN_5


def test_impossible_inputs_are_refused():
    with pytest.raises(ValueError):
        protect(3, {"a": 4})
    with pytest.raises(ValueError):
        protect(-1, {})


@st.composite
def months(draw):
    """A month of people doing activities: each person does one or more of up to 4."""
    people = draw(st.integers(0, 30))
    activities = draw(st.integers(1, 4))
    doing = [
        draw(st.sets(st.integers(0, activities - 1), min_size=1, max_size=activities))
        for _ in range(people)
    ]
    parts = {f"a{i}": sum(1 for d in doing if i in d) for i in range(activities)}
    return people, parts


@settings(max_examples=300, deadline=None)
@given(months())
def test_no_small_count_can_be_narrowed_down(month):
    people, counts = month
    total, parts = protect(people, counts)
    for key, cell in parts.items():
        if not cell.published:
            assert cell.value == counts[key]
        if cell.marker == FEWER_THAN_5:
            assert feasible_values(total, parts, key) == {1, 2, 3, 4}
        assert cell.marker is not None or not 0 < cell.value < 5
    assert total.marker is not None or not 0 < total.value < 5
    withheld = [c for c in [total, *parts.values()] if c.marker == WITHHELD]
    assert len(withheld) <= 1
