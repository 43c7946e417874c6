"""Coordinators record awards: one balanced entry at the activity's rate, in scope only,
attributed, idempotent; claims wait for a coordinator of the member's group."""

from datetime import timedelta

import pytest
from sqlalchemy import select, text

from credits import earning, ledger
from credits.accounts import Principal, Role
from credits.api.problems import status_of
from credits.earning import dates
from credits.earning.errors import (
    ActivityInactive,
    AwardNotFound,
    AwardNotPending,
    NotInGroup,
    NotYourGroup,
    SelfAward,
    UnknownActivity,
    UnknownMember,
)
from credits.earning.models import Award
from credits.errors import Forbidden, PeriodClosed, ValidationFailed

from .conftest import as_principal, yesterday


def test_a_record_posts_one_balanced_entry_at_the_rate(scheme, db):
    before = scheme.entries()
    award = scheme.record(quantity="1.5", key="snow-1")
    assert (award.state, award.credits, award.kind) == ("posted", 15, "record")
    assert award.member.id == scheme.ann.id and award.quantity == "1.5"
    assert scheme.entries() == before + 1
    assert scheme.balance(scheme.ann) == 15
    with db.read() as s:
        entry = ledger.get_entry(s, award.entry_id)
        issuance = ledger.scheme_account(s, ledger.ISSUANCE)
    assert entry.kind is ledger.EntryKind.EARN
    assert {p.account_id: p.amount_credits for p in entry.postings} == {
        issuance.id: -15,
        scheme.ann.account_id: 15,
    }
    # Dated London midnight of the day (the same London month as the date).
    assert entry.occurred_at == dates.entry_time(yesterday())
    assert "Snow clearing" in entry.memo and "1.5 hours" in entry.memo
    assert scheme.verify() == []


def test_every_step_is_attributed_on_the_award_and_the_entry(scheme, db):
    cara = Principal(
        role=Role.COORDINATOR, name="Cara", person_id=scheme.coord.id, token_id=7, via="token:7"
    )
    award = db.run(
        lambda s: earning.record_award(
            s,
            cara,
            member_email=scheme.ann.email,
            activity="snow-clearing",
            quantity="1",
            occurred_on=yesterday().isoformat(),
            idempotency_key="attr-1",
        )
    )
    actor = f"person:{scheme.coord.id} as coordinator via token:7"
    assert award.created.actor == actor and award.created.person.id == scheme.coord.id
    assert award.first_approval.actor == actor
    with db.read() as s:
        assert ledger.get_entry(s, award.entry_id).actor == actor
        row = s.get(Award, award.id)
        assert row.created_at.tzinfo is not None and row.posted_at.tzinfo is not None
    # A claim: filed by the member's session, decided by the coordinator's.
    claim = scheme.claim()
    assert claim.created.actor == f"person:{scheme.ann.id} as member via test"
    rejected = scheme.run(earning.reject, scheme.coord, claim.id, reason="Not on the rota")
    assert rejected.rejection.person.id == scheme.coord.id
    assert rejected.rejection.actor.startswith(f"person:{scheme.coord.id} as coordinator")
    assert rejected.reject_reason == "Not on the rota"


def test_a_replay_returns_the_first_award_and_posts_nothing(scheme):
    first = scheme.record(quantity="2", key="retry-me")
    entries, awards = scheme.entries(), scheme.awards()
    again = scheme.record(quantity="2", key="retry-me")
    assert again.id == first.id and again.entry_id == first.entry_id and again.replayed
    assert (scheme.entries(), scheme.awards()) == (entries, awards)
    assert scheme.balance(scheme.ann) == 20
    with pytest.raises(ledger.IdempotencyConflict):
        scheme.record(quantity="3", key="retry-me")
    # Keys are the coordinator's own: another coordinator's identical key is another award.
    other = scheme.record(scheme.coord2, quantity="2", key="retry-me")
    assert other.id != first.id and scheme.balance(scheme.ann) == 40


def test_a_replay_a_day_later_still_replays(scheme):
    from freezegun import freeze_time

    day = yesterday().isoformat()
    first = scheme.record(quantity="1", key="late-retry", occurred_on=day)
    with freeze_time(dates.london_today() + timedelta(days=61)):
        # The date is now outside the window, but the retry only asks for what was done.
        again = scheme.record(quantity="1", key="late-retry", occurred_on=day)
    assert again.id == first.id and again.replayed


def test_coordinators_act_only_for_their_groups_people_and_activities(scheme):
    entries = scheme.entries()
    # Zed is in the gym group, which Cara does not run.
    with pytest.raises(UnknownMember):
        scheme.record(member_email=scheme.zed.email)
    # An email nobody has is indistinguishable from someone else's member.
    with pytest.raises(UnknownMember) as unknown:
        scheme.record(member_email="nobody@test.example")
    assert "nobody@test.example" in unknown.value.detail
    with pytest.raises(UnknownMember):
        scheme.record(member_email=scheme.outsider.email)
    # Cara's group does not do Good Gym runs.
    with pytest.raises(NotYourGroup) as theirs:
        scheme.record(activity="good-gym-run", quantity="1")
    assert status_of(theirs.value) == 403
    # Gus runs the gym group: not snow clearing, not Ann.
    with pytest.raises(NotYourGroup):
        scheme.record(scheme.other_coord)
    ok = scheme.record(scheme.other_coord, member_email=scheme.zed.email, activity="good-gym-run")
    assert ok.state == "posted"
    # A deactivated group gives its coordinators no scope.
    scheme.run(earning.update_group, scheme.officer, scheme.snow_team, {"active": False})
    with pytest.raises(NotYourGroup):
        scheme.record()
    assert scheme.entries() == entries + 1


def test_only_coordinators_record(scheme):
    for who in (scheme.officer, scheme.ann, scheme.shop):
        with pytest.raises(Forbidden):
            scheme.record(who)


def test_nobody_awards_themselves(scheme, make_person):
    both = make_person(Role.COORDINATOR, roles=(Role.COORDINATOR, Role.MEMBER), name="Both")
    scheme.run(earning.add_coordinator, scheme.officer, scheme.snow_team, both.email)
    scheme.run(earning.add_member, scheme.officer, scheme.snow_team, both.email)
    with pytest.raises(SelfAward):
        scheme.record(both, member_email=both.email)
    assert scheme.record(both).state == "posted"  # they may award others


def test_unknown_and_inactive_activities(scheme):
    with pytest.raises(UnknownActivity):
        scheme.record(activity="juggling")
    scheme.run(earning.update_activity, scheme.officer, "snow-clearing", {"active": False})
    with pytest.raises(ActivityInactive):
        scheme.record()
    with pytest.raises(ActivityInactive):
        scheme.claim()
    assert scheme.entries() == 0 and scheme.awards() == 0


def test_dates_future_too_old_and_closed_months_are_refused(scheme, db):
    from freezegun import freeze_time

    today = dates.london_today()
    for day, says in (
        (today + timedelta(days=1), "in the future"),
        (today - timedelta(days=61), "more than 60 days ago"),
    ):
        with pytest.raises(ValidationFailed, match=says):
            scheme.record(occurred_on=day.isoformat())
        with pytest.raises(ValidationFailed, match=says):
            scheme.claim(occurred_on=day.isoformat())
    assert scheme.record(occurred_on=today.isoformat()).state == "posted"
    assert scheme.record(occurred_on=(today - timedelta(days=60)).isoformat()).state == "posted"
    # Close last month (as of a fixed day early in a month, so that it is in the window).
    with freeze_time("2026-11-03 12:00:00"):
        db.run(
            lambda s: ledger.close_month(
                s, ledger.Month(2026, 10), closed_by="test", now=dates.utcnow()
            )
        )
        entries = scheme.entries()
        with pytest.raises(PeriodClosed) as closed:
            scheme.record(occurred_on="2026-10-31")
        assert closed.value.code == "period_closed" and closed.value.extra["month"] == "2026-10"
        with pytest.raises(PeriodClosed):
            scheme.claim(occurred_on="2026-10-31")
        assert scheme.record(occurred_on="2026-11-01").state == "posted"
        assert scheme.entries() == entries + 1


def test_a_claim_waits_then_a_coordinator_of_the_group_approves_it(scheme):
    claim = scheme.claim(quantity="2")
    assert (claim.state, claim.credits, claim.entry_id) == ("pending", 20, None)
    assert scheme.balance(scheme.ann) == 0 and scheme.entries() == 0
    # The other group's coordinator does not even see it.
    with pytest.raises(AwardNotFound):
        scheme.run(earning.approve, scheme.other_coord, claim.id, idempotency_key="a")
    assert [a.id for a in scheme.run(earning.queue, scheme.other_coord)] == []
    assert [a.id for a in scheme.run(earning.queue, scheme.coord)] == [claim.id]
    approved = scheme.run(earning.approve, scheme.coord, claim.id, idempotency_key="a")
    assert approved.state == "posted" and approved.entry_id is not None
    assert [p.id for p in approved.approvers] == [scheme.coord.id]
    assert scheme.balance(scheme.ann) == 20
    mine = scheme.run(earning.member_claims, scheme.ann)
    assert [(c.id, c.state) for c in mine] == [(claim.id, "posted")]
    # A second coordinator of the group comes too late.
    with pytest.raises(AwardNotPending) as late:
        scheme.run(earning.approve, scheme.coord2, claim.id, idempotency_key="b")
    assert "Cara Coordinator" in late.value.detail
    assert scheme.run(earning.queue, scheme.coord) == []
    assert scheme.verify() == []


def test_approving_a_claim_again_with_the_same_key_replays(scheme):
    claim = scheme.claim()
    first = scheme.run(earning.approve, scheme.coord, claim.id, idempotency_key="tap-tap")
    entries = scheme.entries()
    again = scheme.run(earning.approve, scheme.coord, claim.id, idempotency_key="tap-tap")
    assert again.replayed and again.entry_id == first.entry_id and scheme.entries() == entries
    with pytest.raises(AwardNotPending):
        scheme.run(earning.approve, scheme.coord, claim.id, idempotency_key="another-key")
    assert scheme.balance(scheme.ann) == 20


def test_a_rejected_claim_posts_nothing_and_says_why(scheme):
    claim = scheme.claim()
    with pytest.raises(ValidationFailed):
        scheme.run(earning.reject, scheme.coord, claim.id, reason="   ")
    rejected = scheme.run(earning.reject, scheme.coord, claim.id, reason="No session that day")
    assert (rejected.state, rejected.reject_reason) == ("rejected", "No session that day")
    again = scheme.run(earning.reject, scheme.coord, claim.id, reason="No session that day")
    assert again.replayed
    with pytest.raises(AwardNotPending):
        scheme.run(earning.approve, scheme.coord, claim.id, idempotency_key="x")
    assert scheme.entries() == 0 and scheme.balance(scheme.ann) == 0
    mine = scheme.run(earning.member_claims, scheme.ann)
    assert mine[0].state == "rejected" and mine[0].reject_reason == "No session that day"


def test_members_claim_only_their_groups_activities(scheme):
    with pytest.raises(NotInGroup):
        scheme.claim(activity="good-gym-run", quantity="1")
    with pytest.raises(NotInGroup):
        scheme.claim(scheme.outsider)
    claim = scheme.claim(scheme.zed, activity="good-gym-run", quantity="1")
    assert claim.state == "pending" and scheme.awards() == 1


def test_a_claim_keeps_the_rate_it_was_filed_at(scheme):
    claim = scheme.claim(quantity="2")
    scheme.run(earning.update_activity, scheme.officer, "snow-clearing", {"credits_per_unit": 20})
    approved = scheme.run(earning.approve, scheme.coord, claim.id, idempotency_key="k")
    assert approved.credits == 20 and approved.credits_per_unit == 10
    assert scheme.balance(scheme.ann) == 20


def test_members_see_only_their_own_claims(scheme):
    mine = scheme.claim()
    scheme.claim(scheme.bola)
    assert [c.id for c in scheme.run(earning.member_claims, scheme.ann)] == [mine.id + 0]
    with pytest.raises(AwardNotFound):
        scheme.run(earning.get_award, scheme.bola, mine.id)
    assert scheme.run(earning.get_award, scheme.ann, mine.id).id == mine.id


def test_the_same_claim_key_files_once(scheme):
    first = scheme.claim(key="phone-double-tap")
    again = scheme.claim(key="phone-double-tap")
    assert again.id == first.id and again.replayed and scheme.awards() == 1
    with pytest.raises(ledger.IdempotencyConflict):
        scheme.claim(key="phone-double-tap", quantity="3")


def test_history_says_what_for_and_who_approved(scheme, db):
    scheme.record(quantity="1.5")
    claim = scheme.claim(quantity="1", note="Gritted the steps")
    scheme.run(earning.approve, scheme.coord2, claim.id, idempotency_key="k")
    with db.read() as s:
        items, more = earning.member_history(s, scheme.ann.id)
    assert more is None
    assert [(i.amount, i.activity_slug, i.approved_by) for i in items] == [
        (10, "snow-clearing", ("Dev Coordinator",)),
        (15, "snow-clearing", ("Cara Coordinator",)),
    ]
    assert items[1].description == "Snow clearing: 1.5 hours"
    # Other entries are described plainly.
    with db.read() as s:
        vouchers = ledger.scheme_account(s, ledger.VOUCHERS_OUTSTANDING)
    db.run(
        lambda s: ledger.post_entry(
            s,
            ledger.EntryRequest(
                kind=ledger.EntryKind.VOUCHER_ISSUE,
                legs=(ledger.Leg(scheme.ann.account_id, -5), ledger.Leg(vouchers.id, 5)),
                memo="voucher 1",
                actor="test",
                idempotency_key="v1",
            ),
        )
    )
    with db.read() as s:
        items, _ = earning.member_history(s, scheme.ann.id)
    assert (items[0].amount, items[0].description) == (-5, "Credits put into a voucher")


def test_history_pages_by_cursor_newest_first(scheme, db):
    for n in range(5):
        scheme.record(quantity="1", key=f"page-{n}")
    with db.read() as s:
        first, cursor = earning.member_history(s, scheme.ann.id, limit=2)
        second, cursor2 = earning.member_history(s, scheme.ann.id, before=cursor, limit=2)
        third, end = earning.member_history(s, scheme.ann.id, before=cursor2, limit=2)
    ids = [i.id for i in first + second + third]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 5 and end is None
    # Bola's history is his own.
    with db.read() as s:
        assert earning.member_history(s, scheme.bola.id)[0] == []


def test_group_management_is_for_officers(scheme):
    for who in (scheme.coord, scheme.ann):
        with pytest.raises(Forbidden):
            scheme.run(earning.create_group, who, {"name": "Mine"})
        with pytest.raises(Forbidden):
            scheme.run(earning.add_member, who, scheme.snow_team, scheme.outsider.email)
    # Coordinators see only the groups they run, with their members.
    assert [g.name for g in scheme.run(earning.list_groups, scheme.coord)] == [
        "Acre Lane snow team"
    ]
    from credits.earning.errors import GroupNotFound

    with pytest.raises(GroupNotFound):
        scheme.run(earning.get_group, scheme.coord, scheme.gym_group)
    team = scheme.run(earning.get_group, scheme.coord, scheme.snow_team)
    assert {m.name for m in team.members} == {"Ann Okafor", "Bola Adeyemi"}
    assert len(scheme.run(earning.list_groups, scheme.officer)) == 2


def test_removing_a_member_ends_the_coordinators_scope_not_their_credits(scheme):
    scheme.record(quantity="1")
    scheme.run(earning.remove_member, scheme.officer, scheme.snow_team, scheme.ann.id)
    with pytest.raises(UnknownMember):
        scheme.record(quantity="1")
    assert scheme.balance(scheme.ann) == 10
    with pytest.raises(UnknownMember):
        scheme.run(earning.add_member, scheme.officer, scheme.snow_team, "nobody@test.example")
    with pytest.raises(UnknownMember):  # a coordinator is not a member
        scheme.run(earning.add_member, scheme.officer, scheme.snow_team, scheme.coord.email)


def test_the_database_refuses_a_posted_award_without_its_entry(scheme, db):
    from sqlalchemy.exc import IntegrityError

    claim = scheme.claim()
    with pytest.raises(IntegrityError):
        db.run(
            lambda s: s.execute(
                text("UPDATE award SET state = 'posted' WHERE id = :id"), {"id": claim.id}
            )
        )
    with db.read() as s:
        assert s.execute(select(Award.state).where(Award.id == claim.id)).scalar_one() == "pending"


def test_verify_finds_a_counter_that_drifted(scheme, db):
    scheme.record(quantity="2")
    assert scheme.verify() == []
    db.run(lambda s: s.execute(text("UPDATE member_activity_usage SET credits = credits - 5")))
    problems = scheme.verify()
    assert problems and all("counter" in p for p in problems)
    db.run(lambda s: s.execute(text("UPDATE activity_budget SET issued_credits = 0")))
    assert any("month" in p for p in scheme.verify())


def test_a_principal_without_a_person_cannot_use_earning(scheme, db):
    terminal = Principal(role=Role.COORDINATOR, name="robot", person_id=None, via="token:1")
    with pytest.raises(Forbidden):
        db.run(lambda s: earning.queue(s, terminal))
    assert as_principal(scheme.coord).person_id == scheme.coord.id
