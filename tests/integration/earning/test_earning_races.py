"""Caps and budgets under real concurrency: threads against PostgreSQL.

Two coordinators awarding at once near a cap or a budget must never exceed it. Every
thread really commits; the barrier in run_threads releases them together.
"""

from collections import Counter

import pytest

from credits import earning
from credits.accounts import Role
from credits.earning.errors import AwardNotPending, BudgetExceeded, CapExceeded
from tests.integration.test_ledger_races import run_threads

from .conftest import yesterday

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True)
def no_four_eyes(scheme):
    scheme.run(earning.set_four_eyes_threshold, scheme.officer, 10_000)


def kinds(outcomes):
    return Counter(type(o).__name__ for o in outcomes)


def test_two_coordinators_racing_at_a_members_week_cap(scheme):
    """Snow clearing: 100 credits a week. 24 awards of 10 credits to Ann at once, from two
    coordinators: exactly 10 post, the rest are refused, and the cap holds."""
    day = yesterday().isoformat()

    def award(i):
        who = scheme.coord if i % 2 else scheme.coord2
        return scheme.record(who, quantity="1", occurred_on=day, key=f"race-{i}")

    outcomes = run_threads(24, award)
    got = kinds(outcomes)
    assert got == Counter({"AwardView": 10, "CapExceeded": 14}), outcomes
    assert all(o.extra["credits_left"] < 10 for o in outcomes if isinstance(o, CapExceeded))
    assert scheme.balance(scheme.ann) == 100
    assert scheme.verify() == []


def test_racing_at_an_activitys_monthly_budget(scheme, make_person, db):
    """A month's budget of 100 and 16 members each awarded 20 credits at once, from two
    coordinators: exactly 5 awards post."""
    month = earning.dates.month_key(yesterday())
    scheme.run(earning.set_month_budget, scheme.officer, "snow-clearing", month, 100)
    volunteers = [make_person(Role.MEMBER, name=f"Volunteer {n}") for n in range(16)]
    db.run(
        lambda s: [
            earning.add_member(s, scheme.p(scheme.officer), scheme.snow_team, v.email)
            for v in volunteers
        ]
    )
    day = yesterday().isoformat()

    def award(i):
        who = scheme.coord if i % 2 else scheme.coord2
        return scheme.record(
            who, member_email=volunteers[i].email, quantity="2", occurred_on=day, key=f"b-{i}"
        )

    outcomes = run_threads(16, award)
    assert kinds(outcomes) == Counter({"AwardView": 5, "BudgetExceeded": 11}), outcomes
    assert sum(scheme.balance(v) for v in volunteers) == 100
    with db.read() as s:
        view = earning.budget_view(s, earning.get_activity(s, "snow-clearing"), _month(month))
    assert (view.issued_credits, view.left_credits) == (100, 0)
    assert scheme.verify() == []


def test_session_sheets_and_single_awards_racing_for_one_budget(scheme, make_person, db):
    """Sheets (two volunteers each) and single awards share one budget lock: 150 credits of
    budget, each request worth 30: exactly 5 of 12 post, whichever they are."""
    month = earning.dates.month_key(yesterday())
    scheme.run(earning.set_month_budget, scheme.officer, "snow-clearing", month, 150)
    volunteers = [make_person(Role.MEMBER, name=f"Volunteer {n}") for n in range(24)]
    db.run(
        lambda s: [
            earning.add_member(s, scheme.p(scheme.officer), scheme.snow_team, v.email)
            for v in volunteers
        ]
    )
    day = yesterday().isoformat()

    def request(i):
        a, b = volunteers[2 * i], volunteers[2 * i + 1]
        if i % 2:
            return scheme.record(
                scheme.coord, member_email=a.email, quantity="3", occurred_on=day, key=f"s-{i}"
            )
        return scheme.run(
            earning.record_session,
            scheme.coord2,
            activity="snow-clearing",
            occurred_on=day,
            idempotency_key=f"sheet-{i}",
            lines=[
                {"member_email": a.email, "quantity": "1"},
                {"member_email": b.email, "quantity": "2"},
            ],
        )

    outcomes = run_threads(12, request)
    got = kinds(outcomes)
    assert got["AwardView"] == 5 and got["BudgetExceeded"] == 7, outcomes
    assert sum(scheme.balance(v) for v in volunteers) == 150
    assert not any(
        isinstance(o, BudgetExceeded) and o.extra["credits_left"] >= 30 for o in outcomes
    )
    assert scheme.verify() == []


def test_concurrent_retries_of_one_award_post_it_once(scheme):
    outcomes = run_threads(12, lambda i: scheme.record(quantity="2", key="tapped-twelve-times"))
    assert kinds(outcomes) == Counter({"AwardView": 12}), outcomes
    assert len({o.id for o in outcomes}) == 1 and sum(not o.replayed for o in outcomes) == 1
    assert scheme.balance(scheme.ann) == 20 and scheme.entries() == 1
    assert scheme.verify() == []


def test_concurrent_approvals_of_one_claim_post_it_once(scheme):
    claim = scheme.claim(quantity="2")
    approvers = [scheme.coord, scheme.coord2, scheme.officer, scheme.officer2] * 3

    def approve(i):
        return scheme.run(earning.approve, approvers[i], claim.id, idempotency_key=f"a-{i}")

    outcomes = run_threads(12, approve)
    got = kinds(outcomes)
    assert got == Counter({"AwardView": 1, "AwardNotPending": 11}), outcomes
    assert all(isinstance(o, AwardNotPending | earning.AwardView) for o in outcomes)
    assert scheme.balance(scheme.ann) == 20 and scheme.entries() == 1
    assert scheme.verify() == []


def _month(text):
    from credits.ledger import Month

    return Month.parse(text)
