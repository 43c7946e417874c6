"""The rounding rule (never round: refuse) and London dates, without a database."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from credits.earning import dates
from credits.earning.quantities import (
    InvalidQuantity,
    credits_for,
    describe,
    parse_quantity,
    quantity_text,
    step,
    to_centi,
)
from credits.errors import ValidationFailed


@pytest.mark.parametrize(
    "sent, exact",
    [
        ("1.5", "1.50"),
        ("2", "2.00"),
        ("0.25", "0.25"),
        ("1.500", "1.50"),  # trailing zeros say nothing more
        (" 2 ", "2.00"),
        (3, "3.00"),
        (0.1, "0.10"),  # the JSON number 0.1 means 0.1, not 0.1000000000000000055...
        (1.25, "1.25"),
        (100.0, "100.00"),
    ],
)
def test_quantities_are_read_exactly(sent, exact):
    assert parse_quantity(sent) == Decimal(exact)
    assert str(parse_quantity(sent)) == exact


@pytest.mark.parametrize(
    "sent, says",
    [
        ("1.005", "more than 2 decimal places"),
        (0.30000000000000004, "more than 2 decimal places"),  # 0.1 + 0.2 computed in float
        (1e-7, "more than 2 decimal places"),
        (float("nan"), "finite"),
        (float("inf"), "finite"),
        (True, "must be a number"),
        (None, "must be a number"),
        ([1], "must be a number"),
        ({"value": 1}, "must be a number"),
        ("", "is required"),
        ("   ", "is required"),
        ("1e2", "is not a number"),
        ("1,5", "is not a number"),
        ("½", "is not a number"),
        ("١", "is not a number"),  # Arabic-Indic digit one
        ("0x10", "is not a number"),
        ("-1", "more than 0"),
        (-0.5, "more than 0"),
        ("0", "more than 0"),
        ("0.00", "more than 0"),
        (0, "more than 0"),
        (10**30, "far too large"),
        (1e300, "far too large"),
        ("9" * 30, "is not a number"),
    ],
)
def test_bad_quantities_are_refused_with_a_reason(sent, says):
    with pytest.raises(InvalidQuantity) as caught:
        parse_quantity(sent)
    assert says in caught.value.detail
    assert isinstance(caught.value, ValidationFailed)
    assert caught.value.extra["errors"] == {"quantity": [caught.value.detail]}


@pytest.mark.parametrize(
    "quantity, unit, rate, credits",
    [
        ("1", "hour", 10, 10),
        ("1.5", "hour", 10, 15),
        ("0.1", "hour", 10, 1),
        ("0.25", "hour", 4, 1),
        ("0.75", "hour", 4, 3),
        ("1.4", "hour", 15, 21),
        ("24", "hour", 10, 240),
        ("3", "hour", 3, 9),
        ("1", "session", 20, 20),
        ("10", "session", 20, 200),
        ("2", "run", 15, 30),
    ],
)
def test_whole_credits_are_awarded_exactly(quantity, unit, rate, credits):
    got = credits_for(Decimal(quantity), unit, rate)
    assert got == credits and type(got) is int


@pytest.mark.parametrize(
    "quantity, unit, rate, says",
    [
        ("0.25", "hour", 10, "steps of 0.1 (try 0.2 or 0.3)"),
        ("1.5", "hour", 15, "steps of 0.2 (try 1.4 or 1.6)"),
        ("0.01", "hour", 3, "steps of 1 (try 1)"),
        ("1.5", "hour", 3, "steps of 1 (try 1 or 2)"),
        ("1.5", "session", 20, "counted whole: 1 or 2, not 1.5"),
        ("0.5", "run", 15, "counted whole: at least 1"),
        ("24.1", "hour", 10, "at most 24 hours"),
        ("11", "session", 20, "at most 10 sessions"),
        ("11", "run", 1, "at most 10 runs"),
    ],
)
def test_quantities_that_would_need_rounding_are_refused(quantity, unit, rate, says):
    with pytest.raises(InvalidQuantity) as caught:
        credits_for(Decimal(quantity), unit, rate)
    assert says in caught.value.detail


@given(
    centi=st.integers(min_value=1, max_value=2400),
    rate=st.integers(min_value=1, max_value=1000),
)
def test_an_hours_award_is_accepted_exactly_when_it_is_whole(centi, rate):
    """The property behind the rule: accepted ⇔ quantity × rate is whole; never rounded."""
    quantity = Decimal(centi) / 100
    exact = quantity * rate
    try:
        got = credits_for(quantity, "hour", rate)
    except InvalidQuantity:
        assert exact != exact.to_integral_value()
        assert quantity % step("hour", rate) != 0
    else:
        assert Decimal(got) == exact


def test_steps_are_the_smallest_whole_credit_quantities():
    assert [str(step("hour", r)) for r in (10, 4, 15, 3, 100, 25, 7)] == [
        "0.1",
        "0.25",
        "0.2",
        "1",
        "0.01",
        "0.04",
        "1",
    ]
    assert step("session", 7) == step("run", 3) == 1


def test_quantities_are_stored_as_hundredths_and_shown_plainly():
    assert to_centi(Decimal("1.50")) == 150
    assert quantity_text(150) == "1.5" and quantity_text(200) == "2"
    assert describe(150, "hour") == "1.5 hours"
    assert describe(100, "hour") == "1 hour"
    assert describe(100, "session") == "1 session" and describe(300, "run") == "3 runs"


# --- London dates -------------------------------------------------------------------------


def test_weeks_are_london_iso_weeks_monday_to_sunday():
    sunday, monday = date(2026, 11, 29), date(2026, 11, 30)
    assert dates.week_key(sunday) == "2026-W48"
    assert dates.week_key(monday) == "2026-W49"
    assert dates.week_bounds(sunday) == (date(2026, 11, 23), date(2026, 11, 29))
    # ISO years: 1 January 2027 (a Friday) is in the last week of 2026.
    assert dates.week_key(date(2027, 1, 1)) == "2026-W53"
    assert dates.month_key(date(2027, 1, 1)) == "2027-01"


def test_today_is_the_london_date_not_the_utc_one():
    # 23:30 UTC on 30 June is 00:30 on 1 July in London (summer time).
    assert dates.london_today(datetime(2026, 6, 30, 23, 30, tzinfo=UTC)) == date(2026, 7, 1)
    # In winter London is on UTC.
    assert dates.london_today(datetime(2026, 12, 31, 23, 30, tzinfo=UTC)) == date(2026, 12, 31)


def test_entries_are_dated_london_midnight_in_utc():
    assert dates.entry_time(date(2026, 7, 1)) == datetime(2026, 6, 30, 23, 0, tzinfo=UTC)
    assert dates.entry_time(date(2026, 12, 1)) == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


def test_the_backdating_window():
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    dates.check_window(date(2026, 11, 25), now)  # today
    dates.check_window(date(2026, 9, 26), now)  # 60 days ago: the oldest allowed
    with pytest.raises(ValidationFailed, match="more than 60 days ago"):
        dates.check_window(date(2026, 9, 25), now)
    with pytest.raises(ValidationFailed, match="in the future"):
        dates.check_window(date(2026, 11, 26), now)


@pytest.mark.parametrize(
    "sent", ["20261120", "2026-11-20T10:00:00", "2026-1-2", "2026-02-30", "", None, 20261120]
)
def test_dates_are_written_yyyy_mm_dd_and_real(sent):
    with pytest.raises(ValidationFailed) as caught:
        dates.parse_date(sent)
    assert "occurred_on" in caught.value.extra["errors"]
