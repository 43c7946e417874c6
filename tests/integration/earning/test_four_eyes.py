"""Four eyes: an award line above the officers' threshold (default 50 credits) needs a second
approval by an officer who is not the first approver. Nobody approves their own credits."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from credits import earning, ledger
from credits.accounts import Principal, Role
from credits.api.problems import status_of
from credits.earning.errors import (
    AwardNotPending,
    CapExceeded,
    SecondApproverRequired,
    SelfAward,
)

from .conftest import yesterday


def test_a_record_above_the_threshold_waits_for_an_officer(scheme, db):
    with db.read() as s:
        assert earning.settings_view(s)["four_eyes_threshold_credits"] == 50
    at_threshold = scheme.record(quantity="5")  # 50: not above
    assert at_threshold.state == "posted"
    entries = scheme.entries()
    big = scheme.record(member_email=scheme.bola.email, quantity="6")  # 60
    assert (big.state, big.entry_id, big.needs_officer) == ("awaiting_officer", None, True)
    assert [p.id for p in big.approvers] == [scheme.coord.id]  # recording is approval one
    assert scheme.entries() == entries and scheme.balance(scheme.bola) == 0
    # Coordinators cannot give the second approval, not even another one of the group.
    for coordinator in (scheme.coord, scheme.coord2):
        with pytest.raises(SecondApproverRequired):
            scheme.run(earning.approve, coordinator, big.id, idempotency_key="k")
    assert [a.id for a in scheme.run(earning.queue, scheme.officer, stage="officer")] == [big.id]
    posted = scheme.run(earning.approve, scheme.officer, big.id, idempotency_key="ok")
    assert posted.state == "posted" and scheme.balance(scheme.bola) == 60
    assert [p.id for p in posted.approvers] == [scheme.coord.id, scheme.officer.id]
    with db.read() as s:
        entry = ledger.get_entry(s, posted.entry_id)
    assert entry.actor.startswith(f"person:{scheme.officer.id} as officer")
    assert posted.second_approval.actor == entry.actor
    assert scheme.verify() == []


def test_the_same_person_can_never_give_both_approvals(scheme):
    claim = scheme.claim(quantity="6")  # 60 credits
    first = scheme.run(earning.approve, scheme.officer, claim.id, idempotency_key="one")
    assert first.state == "awaiting_officer" and scheme.entries() == 0
    # The same officer again, with another key, is refused; with the same key, a replay.
    with pytest.raises(SecondApproverRequired) as twice:
        scheme.run(earning.approve, scheme.officer, claim.id, idempotency_key="two")
    assert status_of(twice.value) == 403 and twice.value.code == "second_approver_required"
    replay = scheme.run(earning.approve, scheme.officer, claim.id, idempotency_key="one")
    assert replay.replayed and replay.state == "awaiting_officer"
    assert scheme.entries() == 0
    done = scheme.run(earning.approve, scheme.officer2, claim.id, idempotency_key="two")
    assert done.state == "posted" and scheme.balance(scheme.ann) == 60
    assert [p.id for p in done.approvers] == [scheme.officer.id, scheme.officer2.id]


def test_a_claim_approved_by_its_coordinator_then_by_an_officer(scheme):
    claim = scheme.claim(quantity="5.5")  # 55 credits
    step_one = scheme.run(earning.approve, scheme.coord, claim.id, idempotency_key="c")
    assert step_one.state == "awaiting_officer"
    # It leaves the coordinators' queue and joins the officers'.
    assert scheme.run(earning.queue, scheme.coord) == []
    assert [a.id for a in scheme.run(earning.queue, scheme.officer, stage="officer")] == [claim.id]
    with pytest.raises(SecondApproverRequired):
        scheme.run(earning.reject, scheme.coord, claim.id, reason="changed my mind")
    posted = scheme.run(earning.approve, scheme.officer, claim.id, idempotency_key="o")
    assert posted.state == "posted" and scheme.balance(scheme.ann) == 55
    with pytest.raises(AwardNotPending):
        scheme.run(earning.approve, scheme.officer2, claim.id, idempotency_key="late")


def test_an_officer_can_reject_at_the_second_step(scheme):
    big = scheme.record(quantity="7")
    rejected = scheme.run(earning.reject, scheme.officer, big.id, reason="7 hours? check the rota")
    assert rejected.state == "rejected" and scheme.entries() == 0
    assert rejected.reject_reason == "7 hours? check the rota"


def test_the_threshold_is_the_officers_to_set_and_applies_from_then_on(scheme):
    waiting = scheme.record(quantity="6")
    scheme.run(earning.set_four_eyes_threshold, scheme.officer, 100)
    assert scheme.record(member_email=scheme.bola.email, quantity="6").state == "posted"
    # An award already waiting still needs its officer (that was decided when recorded).
    assert scheme.run(earning.get_award, scheme.officer, waiting.id).state == "awaiting_officer"
    claim = scheme.claim(quantity="6")  # 60 < 100 now: one approval is enough
    assert scheme.run(earning.approve, scheme.coord, claim.id, idempotency_key="k").state == (
        "posted"
    )
    scheme.run(earning.set_four_eyes_threshold, scheme.officer, 0)  # every award needs two
    small = scheme.record(member_email=scheme.bola.email, quantity="0.1")
    assert small.state == "awaiting_officer"


def test_nobody_approves_their_own_claim(scheme, make_person):
    # Someone who is both a volunteer and a coordinator of their group.
    both = make_person(Role.COORDINATOR, roles=(Role.COORDINATOR, Role.MEMBER), name="Both")
    scheme.run(earning.add_coordinator, scheme.officer, scheme.snow_team, both.email)
    scheme.run(earning.add_member, scheme.officer, scheme.snow_team, both.email)
    as_member = Principal(role=Role.MEMBER, name=both.name, person_id=both.id, via="test")
    claim = scheme.db.run(
        lambda s: earning.file_claim(
            s,
            as_member,
            activity="snow-clearing",
            quantity="1",
            occurred_on=yesterday().isoformat(),
            idempotency_key="own",
        )
    )
    # Their own claim is not in their queue, and approving or rejecting it is refused.
    assert claim.id not in [a.id for a in scheme.run(earning.queue, both)]
    with pytest.raises(SelfAward):
        scheme.run(earning.approve, both, claim.id, idempotency_key="k")
    with pytest.raises(SelfAward):
        scheme.run(earning.reject, both, claim.id, reason="no")
    assert scheme.run(earning.approve, scheme.coord, claim.id, idempotency_key="k").state == (
        "posted"
    )


def test_an_officer_who_volunteers_cannot_approve_their_own_award(scheme, make_person):
    olu = make_person(Role.OFFICER, roles=(Role.OFFICER, Role.MEMBER), name="Volunteering Officer")
    scheme.run(earning.add_member, scheme.officer, scheme.snow_team, olu.email)
    big = scheme.record(member_email=olu.email, quantity="6")
    assert big.id not in [a.id for a in scheme.run(earning.queue, olu)]
    assert big.id in [a.id for a in scheme.run(earning.queue, scheme.officer)]
    with pytest.raises(SelfAward):
        scheme.run(earning.approve, olu, big.id, idempotency_key="k")
    assert scheme.run(earning.approve, scheme.officer, big.id, idempotency_key="k").state == (
        "posted"
    )


def test_limits_are_checked_again_when_the_officer_posts(scheme):
    scheme.run(earning.set_four_eyes_threshold, scheme.officer, 30)
    waiting = scheme.record(quantity="4")  # 40 > 30: waits
    for n in range(7):
        scheme.record(quantity="1", key=f"fill-{n}")  # 70 posted this week
    entries = scheme.entries()
    with pytest.raises(CapExceeded) as over:
        scheme.run(earning.approve, scheme.officer, waiting.id, idempotency_key="k")
    assert over.value.extra["credits_left"] == 30
    assert scheme.entries() == entries
    still = scheme.run(earning.queue, scheme.officer, stage="officer")
    assert [(a.id, a.state, a.second_approval) for a in still] == [
        (waiting.id, "awaiting_officer", None)
    ]


def test_the_database_refuses_one_person_as_both_approvers(scheme, db):
    big = scheme.record(quantity="6")
    with pytest.raises(IntegrityError):
        db.run(
            lambda s: s.execute(
                text("UPDATE award SET second_approver_id = first_approver_id WHERE id = :id"),
                {"id": big.id},
            )
        )
    # Posting it without the second approval is refused too (even with an entry).
    with db.read() as s:
        issuance = ledger.scheme_account(s, ledger.ISSUANCE)
    entry = db.run(
        lambda s: ledger.post_entry(
            s,
            ledger.EntryRequest(
                kind=ledger.EntryKind.EARN,
                legs=(ledger.Leg(issuance.id, -60), ledger.Leg(scheme.ann.account_id, 60)),
                memo="sneaky",
                actor="test",
                idempotency_key="sneaky",
            ),
        )
    )
    with pytest.raises(IntegrityError) as refused:
        db.run(
            lambda s: s.execute(
                text("UPDATE award SET state = 'posted', entry_id = :e WHERE id = :id"),
                {"id": big.id, "e": entry.id},
            )
        )
    assert "posted_four_eyes" in str(refused.value)
