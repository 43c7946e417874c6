"""Europe/London months over UTC instants, around both 2026 clock changes."""

from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time

from credits.db import utcnow
from credits.errors import ValidationFailed
from credits.ledger import Month


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_march_2026_is_one_hour_short_and_october_one_hour_long():
    assert Month(2026, 3).ends_at - Month(2026, 3).starts_at == timedelta(days=31, hours=-1)
    assert Month(2026, 10).ends_at - Month(2026, 10).starts_at == timedelta(days=31, hours=1)
    # A month without a clock change is exactly its days.
    assert Month(2026, 2).ends_at - Month(2026, 2).starts_at == timedelta(days=28)


def test_month_starts_at_local_midnight():
    # Winter: London is UTC. Summer: London is UTC+1, so local midnight is 23:00 UTC.
    assert Month(2026, 1).starts_at == utc(2026, 1, 1, 0, 0)
    assert Month(2026, 4).starts_at == utc(2026, 3, 31, 23, 0)
    assert Month(2026, 11).starts_at == utc(2026, 11, 1, 0, 0)
    assert Month(2026, 10).starts_at == utc(2026, 9, 30, 23, 0)


@pytest.mark.parametrize(
    ("instant", "month"),
    [
        # 23:30 and 00:30 local time either side of the end of March (BST from 29 March).
        (utc(2026, 3, 31, 22, 30), "2026-03"),  # 23:30 BST on 31 March
        (utc(2026, 3, 31, 23, 30), "2026-04"),  # 00:30 BST on 1 April
        # The clock change itself: 01:00 GMT on 29 March becomes 02:00 BST.
        (utc(2026, 3, 29, 0, 59), "2026-03"),
        (utc(2026, 3, 29, 1, 0), "2026-03"),
        # End of February / start of March: GMT, local = UTC.
        (utc(2026, 2, 28, 23, 30), "2026-02"),
        (utc(2026, 3, 1, 0, 30), "2026-03"),
        # End of October (GMT again from 25 October): local = UTC.
        (utc(2026, 10, 31, 23, 30), "2026-10"),
        (utc(2026, 11, 1, 0, 30), "2026-11"),
        # End of September (BST): 23:30 local on the 30th is 22:30 UTC;
        # 00:30 local on 1 October is 23:30 UTC.
        (utc(2026, 9, 30, 22, 30), "2026-09"),
        (utc(2026, 9, 30, 23, 30), "2026-10"),
        # The repeated hour on 25 October: 01:30 happens twice, both in October.
        (utc(2026, 10, 25, 0, 30), "2026-10"),
        (utc(2026, 10, 25, 1, 30), "2026-10"),
    ],
)
def test_instant_falls_in_its_local_month(instant: datetime, month: str):
    assert str(Month.containing(instant)) == month
    assert Month.parse(month).contains(instant)
    assert not Month.parse(month).next().contains(instant)
    assert not Month.parse(month).previous().contains(instant)


@pytest.mark.parametrize(
    "frozen",
    ["2026-03-31 22:30:00", "2026-03-31 23:30:00", "2026-10-25 01:30:00", "2026-10-31 23:59:59"],
)
def test_now_under_freezegun_maps_to_the_local_month(frozen: str):
    with freeze_time(frozen):
        now = utcnow()
        assert now.tzinfo is not None
        expected = "2026-04" if frozen == "2026-03-31 23:30:00" else frozen[:7]
        assert str(Month.containing(now)) == expected


def test_months_chain_without_gaps_through_a_year():
    m = Month(2025, 12)
    for _ in range(14):
        assert m.ends_at == m.next().starts_at
        assert m.next().previous() == m
        m = m.next()


@pytest.mark.parametrize(
    "bad", ["2026-13", "2026-00", "26-01", "2026/01", "", "2026-1", "1999-01", "abcd-ef"]
)
def test_bad_month_text_is_a_validation_error(bad: str):
    with pytest.raises(ValidationFailed):
        Month.parse(bad)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError):
        Month.containing(datetime(2026, 1, 1))
