"""Caps per member per London ISO week and month, and budgets per activity per London month.

Snow clearing: 10 credits an hour, caps 100 a week and 300 a month, budget 1000 a month.
"""

import pytest
from freezegun import freeze_time
from sqlalchemy import text

from credits import earning
from credits.api.problems import status_of
from credits.earning.errors import BudgetExceeded, CapExceeded, LinesRefused
from credits.errors import ValidationFailed


@pytest.fixture(autouse=True)
def no_four_eyes(scheme):
    """These tests are about limits: let awards up to 1000 credits post at once."""
    scheme.run(earning.set_four_eyes_threshold, scheme.officer, 1000)


def usage(scheme, person):
    with scheme.db.read() as s:
        return dict(
            s.execute(
                text("SELECT period, credits FROM member_activity_usage WHERE person_id = :p"),
                {"p": person.id},
            ).all()
        )


@freeze_time("2026-11-25 12:00:00")  # a Wednesday
def test_the_week_cap_counts_monday_to_sunday_in_london(scheme):
    scheme.record(quantity="6", occurred_on="2026-11-23")  # Monday: 60
    scheme.record(quantity="3", occurred_on="2026-11-24")  # 90
    with pytest.raises(CapExceeded) as over:
        scheme.record(quantity="2", occurred_on="2026-11-25")  # would be 110
    problem = over.value
    assert status_of(problem) == 409 and problem.code == "cap_exceeded"
    assert problem.extra == {
        "credits_left": 10,
        "credits_asked": 20,
        "cap_credits": 100,
        "period": "2026-W48",
    }
    assert "10 more credits" in problem.detail and "23 Nov to 29 Nov 2026" in problem.detail
    scheme.record(quantity="1", occurred_on="2026-11-25")  # exactly the cap: 100
    with pytest.raises(CapExceeded):
        scheme.record(quantity="0.1", occurred_on="2026-11-23")
    # The Sunday before is week 47: a week of its own.
    assert scheme.record(quantity="1", occurred_on="2026-11-22").state == "posted"
    assert usage(scheme, scheme.ann) == {"2026-W48": 100, "2026-W47": 10, "2026-11": 110}


@freeze_time("2026-11-30 09:00:00")  # a Monday
def test_sunday_and_monday_are_different_weeks(scheme):
    scheme.record(quantity="10", occurred_on="2026-11-29")  # Sunday, week 48: the cap
    with pytest.raises(CapExceeded) as over:
        scheme.record(quantity="1", occurred_on="2026-11-23")
    assert over.value.extra["period"] == "2026-W48"
    monday = scheme.record(quantity="10", occurred_on="2026-11-30")  # week 49, a new week
    assert monday.state == "posted"
    assert usage(scheme, scheme.ann) == {"2026-W48": 100, "2026-W49": 100, "2026-11": 200}


@freeze_time("2026-06-30 23:30:00")  # 00:30 on 1 July in London (summer time)
def test_london_midnight_not_utc_decides_the_day_week_and_month(scheme):
    # In UTC it is still 30 June, but in London it is 1 July: not a future date.
    july = scheme.record(quantity="2", occurred_on="2026-07-01")
    assert july.state == "posted"
    with pytest.raises(ValidationFailed, match="in the future"):
        scheme.record(quantity="1", occurred_on="2026-07-02")
    used = usage(scheme, scheme.ann)
    assert used["2026-07"] == 20 and "2026-06" not in used
    # 28 June is a Sunday (week 26), 29 June a Monday (week 27), 1 July the same week 27.
    scheme.record(quantity="8", occurred_on="2026-06-28")
    scheme.record(quantity="8", occurred_on="2026-06-29")
    with pytest.raises(CapExceeded) as over:
        scheme.record(quantity="1", occurred_on="2026-06-29")
    assert over.value.extra["period"] == "2026-W27" and over.value.extra["credits_left"] == 0
    assert usage(scheme, scheme.ann)["2026-06"] == 160


@freeze_time("2026-11-03 12:00:00")
def test_the_month_cap_spans_the_weeks_of_a_london_month(scheme):
    for day in ("2026-10-05", "2026-10-12", "2026-10-19"):  # three weeks at the week cap
        scheme.record(quantity="10", occurred_on=day)
    with pytest.raises(CapExceeded) as over:
        scheme.record(quantity="1", occurred_on="2026-10-27")  # a fresh week, a full month
    assert over.value.extra == {
        "credits_left": 0,
        "credits_asked": 10,
        "cap_credits": 300,
        "period": "2026-10",
    }
    assert "October 2026" in over.value.detail
    assert scheme.record(quantity="1", occurred_on="2026-11-02").state == "posted"
    # Caps are per member: Bola is not affected.
    assert scheme.record(member_email=scheme.bola.email, occurred_on="2026-10-27").credits == 10
    # ...and per activity: Ann can still do speed watch in October.
    speed = scheme.record(activity="speed-watch", quantity="1", occurred_on="2026-10-27")
    assert speed.credits == 20


@freeze_time("2026-11-25 12:00:00")
def test_the_monthly_budget_and_a_months_own_budget(scheme, make_person):
    scheme.run(earning.set_month_budget, scheme.officer, "snow-clearing", "2026-11", 50)
    scheme.record(quantity="4", occurred_on="2026-11-24")  # 40 of 50
    entries = scheme.entries()
    with pytest.raises(BudgetExceeded) as over:
        scheme.record(member_email=scheme.bola.email, quantity="2", occurred_on="2026-11-24")
    assert status_of(over.value) == 409 and over.value.code == "budget_exceeded"
    assert over.value.extra == {
        "credits_left": 10,
        "credits_asked": 20,
        "budget_credits": 50,
        "month": "2026-11",
    }
    assert scheme.entries() == entries
    # A session sheet's total counts against the budget as one.
    with pytest.raises(BudgetExceeded):
        scheme.run(
            earning.record_session,
            scheme.coord,
            activity="snow-clearing",
            occurred_on="2026-11-24",
            idempotency_key="sheet",
            lines=[
                {"member_email": scheme.bola.email, "quantity": "0.6"},
                {"member_email": scheme.ann.email, "quantity": "0.5"},
            ],
        )
    assert scheme.record(member_email=scheme.bola.email, quantity="1").credits == 10  # = 50
    # October still has the default budget (1000), and a budget below what was issued is
    # refused.
    assert scheme.record(quantity="1", occurred_on="2026-10-30").state == "posted"
    with pytest.raises(ValidationFailed, match="already been issued"):
        scheme.run(earning.set_month_budget, scheme.officer, "snow-clearing", "2026-11", 49)
    back = scheme.run(earning.set_month_budget, scheme.officer, "snow-clearing", "2026-11", None)
    assert (back.budget_credits, back.is_default, back.issued_credits) == (1000, True, 50)
    assert back.left_credits == 950


@freeze_time("2026-11-25 12:00:00")
def test_a_sheet_lists_every_line_over_its_cap_and_posts_nothing(scheme):
    scheme.record(quantity="9", occurred_on="2026-11-23")  # Ann: 90 this week
    entries, awards = scheme.entries(), scheme.awards()
    with pytest.raises(LinesRefused) as refused:
        scheme.run(
            earning.record_session,
            scheme.coord,
            activity="snow-clearing",
            occurred_on="2026-11-24",
            idempotency_key="snow-day",
            lines=[
                {"member_email": scheme.bola.email, "quantity": "3"},
                {"member_email": scheme.ann.email, "quantity": "2"},
            ],
        )
    assert [(x["line"], x["code"], x["credits_left"]) for x in refused.value.lines] == [
        (2, "cap_exceeded", 10)
    ]
    assert (scheme.entries(), scheme.awards()) == (entries, awards)
    assert usage(scheme, scheme.bola) == {}


def test_budgets_and_settings_are_for_officers(scheme):
    from credits.errors import Forbidden

    for who in (scheme.coord, scheme.ann):
        with pytest.raises(Forbidden):
            scheme.run(earning.set_month_budget, who, "snow-clearing", "2026-11", 5)
        with pytest.raises(Forbidden):
            scheme.run(earning.set_four_eyes_threshold, who, 10)
        with pytest.raises(Forbidden):
            scheme.run(earning.update_activity, who, "snow-clearing", {"credits_per_unit": 99})


def test_activity_fields_are_checked_all_at_once(scheme):
    from credits.earning.errors import ActivityExists

    with pytest.raises(ValidationFailed) as bad:
        scheme.run(
            earning.create_activity,
            scheme.officer,
            {
                "slug": "Bad Slug",
                "name": "",
                "unit": "day",
                "credits_per_unit": 0,
                "week_cap_credits": 500,
                "month_cap_credits": 100,
                "monthly_budget_credits": -1,
            },
        )
    assert set(bad.value.extra["errors"]) == {
        "slug",
        "name",
        "unit",
        "credits_per_unit",
        "week_cap_credits",
        "monthly_budget_credits",
    }
    with pytest.raises(ActivityExists):
        scheme.run(
            earning.create_activity,
            scheme.officer,
            {
                "slug": "snow-clearing",
                "name": "Again",
                "unit": "hour",
                "credits_per_unit": 1,
                "week_cap_credits": 1,
                "month_cap_credits": 1,
                "monthly_budget_credits": 1,
            },
        )
