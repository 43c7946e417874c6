"""`credits verify`'s earning checks: counters and awards against the ledger, on both legs.

PostgreSQL runs them as set-based queries, SQLite in Python; both must report the same
problems in the same words, so these tests name the exact messages.
"""

from datetime import date, timedelta

import pytest
from sqlalchemy import text

from credits import earning, ledger
from credits.earning import dates
from credits.earning.checks import check_awards_posted, check_counters

from ..ledger_helpers import post, scheme
from ..test_ledger_tamper import raw
from .conftest import yesterday


def run(db, check):
    with db.read() as s:
        return check(s)


@pytest.fixture
def awarded(scheme):
    """Two records, a session sheet, a pending claim and a rejected one."""
    scheme.record(quantity="2")
    scheme.record(member_email=scheme.bola.email, activity="speed-watch", quantity="1")
    scheme.run(
        earning.record_session,
        scheme.coord,
        activity="snow-clearing",
        occurred_on=yesterday().isoformat(),
        idempotency_key="sheet",
        lines=[
            {"member_email": scheme.ann.email, "quantity": "1"},
            {"member_email": scheme.bola.email, "quantity": "1.5"},
        ],
    )
    scheme.claim()
    rejected = scheme.claim(who=scheme.bola)
    scheme.run(earning.reject, scheme.coord, rejected.id, reason="not on the rota")
    return scheme


def test_an_honest_history_passes(db, awarded):
    counters, awards = run(db, check_counters), run(db, check_awards_posted)
    assert counters.problems == [] and awards.problems == []
    # 2 budget rows (snow, speed) + each member's week and month rows per activity.
    assert counters.checked == 2 + 2 * 3
    assert awards.checked == 5


def _ids(db):
    with db.read() as s:
        return {
            "snow": s.execute(
                text("SELECT id FROM activity WHERE slug = 'snow-clearing'")
            ).scalar(),
            "awards": s.execute(
                text("SELECT id, entry_id FROM award WHERE state = 'posted' ORDER BY id")
            ).all(),
        }


def test_a_drifted_counter_is_reported(db, awarded):
    ids = _ids(db)
    month, week = dates.month_key(yesterday()), dates.week_key(yesterday())
    ann = awarded.ann.id
    raw(
        db,
        "UPDATE activity_budget SET issued_credits = issued_credits + 5 WHERE activity_id = :a",
        a=ids["snow"],
    )
    raw(
        db,
        "UPDATE member_activity_usage SET credits = credits - 10 "
        "WHERE person_id = :p AND activity_id = :a AND period = :w",
        p=ann,
        a=ids["snow"],
        w=week,
    )
    raw(
        db,
        "INSERT INTO member_activity_usage (person_id, activity_id, period, credits) "
        "VALUES (:p, :a, '2020-W01', 7)",
        p=ann,
        a=ids["snow"],
    )
    result = run(db, check_counters)
    assert result.problems == [
        f"activity {ids['snow']} month {month}: counter 50, posted awards 45",
        f"member {ann} activity {ids['snow']} period 2020-W01: counter 7, posted awards 0",
        f"member {ann} activity {ids['snow']} period {week}: counter 20, posted awards 30",
    ]
    assert result.checked == 2 + 2 * 3 + 1


def test_an_award_that_does_not_match_its_entry_is_reported(db, awarded):
    ids = _ids(db)
    (first, first_entry), (second, _), (sheet, sheet_entry) = ids["awards"][:3]
    raw(db, "UPDATE award_line SET credits = credits + 5 WHERE award_id = :a", a=first)
    raw(db, "UPDATE award SET total_credits = total_credits + 1 WHERE id = :a", a=sheet)
    issuance, adjustments = scheme(db, ledger.ISSUANCE), scheme(db, ledger.ADJUSTMENTS)
    other = post(db, ledger.EntryKind.ADJUSTMENT, {issuance: -1, adjustments: 1}, "adj")
    raw(db, "UPDATE award SET entry_id = :e WHERE id = :a", e=other.id, a=second)
    result = run(db, check_awards_posted)
    assert result.problems == [
        f"award {first}: entry {first_entry} does not match its lines",
        f"award {second}: entry {other.id} is not an earn entry",
        f"award {sheet}: entry {sheet_entry} does not match its lines",
    ]


@pytest.mark.postgres
@pytest.mark.parametrize(
    "day",
    [date(2020, 12, 31) + timedelta(days=n) for n in range(-3, 12)]
    + [date(2026, 12, 28), date(2027, 1, 3), date(2027, 1, 4), date(2015, 12, 31)],
)
def test_the_databases_week_and_month_keys_are_the_pythons(db, day):
    """The set-based check names periods with to_char; they must be dates.py's keys."""
    with db.read() as s:
        month, week = s.execute(
            text(
                "SELECT to_char(CAST(:d AS date), 'YYYY-MM'), "
                "to_char(CAST(:d AS date), 'IYYY-\"W\"IW')"
            ),
            {"d": day},
        ).one()
    assert (month, week) == (dates.month_key(day), dates.week_key(day))
