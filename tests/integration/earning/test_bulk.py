"""A whole session's sheet: all or nothing, one idempotency key, ONE balanced entry."""

import pytest
from sqlalchemy import text

from credits import earning, ledger
from credits.accounts import Role
from credits.api.problems import status_of
from credits.earning.errors import LinesRefused

from .conftest import yesterday


def sheet(scheme, lines, *, key="snow-day", who=None, **kw):
    return scheme.run(
        earning.record_session,
        who or scheme.coord,
        activity=kw.pop("activity", "snow-clearing"),
        occurred_on=kw.pop("occurred_on", yesterday().isoformat()),
        idempotency_key=key,
        lines=lines,
        **kw,
    )


def test_a_snow_day_of_40_volunteers_is_one_balanced_entry(scheme, make_person, db):
    volunteers = [make_person(Role.MEMBER, name=f"Volunteer {n}") for n in range(40)]

    def join(s):
        for v in volunteers:
            earning.add_member(s, scheme.p(scheme.officer), scheme.snow_team, v.email)

    db.run(join)
    lines = [
        {"member_email": v.email, "quantity": ["1", "1.5", "2", "3.5"][n % 4]}
        for n, v in enumerate(volunteers)
    ]
    before = scheme.entries()
    award = sheet(scheme, lines, note="Heavy snow on Acre Lane")
    assert award.state == "posted" and award.kind == "session"
    assert scheme.entries() == before + 1
    expected = {v.account_id: [10, 15, 20, 35][n % 4] for n, v in enumerate(volunteers)}
    assert award.credits == sum(expected.values()) == 800
    with db.read() as s:
        entry = ledger.get_entry(s, award.entry_id)
        issuance = ledger.scheme_account(s, ledger.ISSUANCE)
        assert ledger.balances(s, list(expected)) == expected
    assert {p.account_id: p.amount_credits for p in entry.postings} == {
        **expected,
        issuance.id: -800,
    }
    assert len(entry.postings) == 41 and "40 volunteers" in entry.memo
    assert [(x.member.email, x.credits) for x in award.lines][:2] == [
        (volunteers[0].email, 10),
        (volunteers[1].email, 15),
    ]
    assert scheme.verify() == []


def test_any_failing_line_refuses_the_whole_sheet_and_lists_every_one(scheme, db):
    scheme.run(earning.set_four_eyes_threshold, scheme.officer, 1000)
    scheme.record(member_email=scheme.bola.email, quantity="9")  # Bola: 90 this week
    entries, awards = scheme.entries(), scheme.awards()
    with db.read() as s:
        counters = s.execute(text("SELECT * FROM member_activity_usage ORDER BY 1, 2, 3")).all()
    lines = [
        {"member_email": scheme.ann.email, "quantity": "2"},  # 1: fine
        {"member_email": "nobody@test.example", "quantity": "1"},  # 2: unknown
        {"member_email": scheme.ann.email, "quantity": "1"},  # 3: Ann twice
        {"member_email": scheme.zed.email, "quantity": "1"},  # 4: another group's member
        {"member_email": scheme.bola.email, "quantity": "2"},  # 5: over Bola's week cap
        {"member_email": "not an email", "quantity": "1"},  # 6: malformed
        {"member_email": scheme.outsider.email, "quantity": 0.25},  # 7: unknown + rounding
        {"quantity": "1"},  # 8: no email
        {"member_email": scheme.coord2.email},  # 9: no quantity (a coordinator, too)
    ]
    with pytest.raises(LinesRefused) as refused:
        sheet(scheme, lines)
    problem = refused.value
    assert status_of(problem) == 422 and problem.code == "lines_refused"
    by_line = {x["line"]: x for x in problem.lines}
    # Syntax first: lines 3, 6, 8, 9 (and nothing is looked up until the sheet is well formed).
    assert sorted(by_line) == [3, 6, 8, 9]
    assert "already on line 1" in by_line[3]["detail"]
    assert by_line[8]["errors"] == {"member_email": ["required"]}
    assert "quantity" in by_line[9]["errors"]
    # Fix the syntax: now every remaining failing line is listed, with its own code.
    fixed = [lines[i] for i in (0, 1, 3, 4, 6)]
    with pytest.raises(LinesRefused) as refused:
        sheet(scheme, fixed)
    codes = {x["line"]: (x["code"], x["member_email"]) for x in refused.value.lines}
    assert codes == {
        2: ("unknown_member", "nobody@test.example"),
        3: ("unknown_member", scheme.zed.email),
        4: ("cap_exceeded", scheme.bola.email),
        5: ("unknown_member", scheme.outsider.email),
    }
    assert next(x for x in refused.value.lines if x["line"] == 4)["credits_left"] == 10
    # Nothing was written: no entry, no award, no counter moved.
    assert (scheme.entries(), scheme.awards()) == (entries, awards)
    with db.read() as s:
        assert s.execute(text("SELECT * FROM member_activity_usage ORDER BY 1, 2, 3")).all() == (
            counters
        )
    assert scheme.balance(scheme.ann) == 0


def test_a_quantity_that_would_need_rounding_fails_its_line(scheme):
    with pytest.raises(LinesRefused) as refused:
        sheet(
            scheme,
            [
                {"member_email": scheme.ann.email, "quantity": "0.25"},
                {"member_email": scheme.bola.email, "quantity": "1"},
            ],
        )
    (line,) = refused.value.lines
    assert line["line"] == 1 and line["code"] == "validation_error"
    assert "steps of 0.1" in line["detail"]
    assert scheme.entries() == 0


def test_a_sheet_replays_with_its_one_key(scheme):
    lines = [
        {"member_email": scheme.ann.email, "quantity": "2"},
        {"member_email": scheme.bola.email, "quantity": "1"},
    ]
    first = sheet(scheme, lines, key="snow-2026-11-24")
    entries = scheme.entries()
    again = sheet(scheme, lines, key="snow-2026-11-24")
    assert again.replayed and again.id == first.id and scheme.entries() == entries
    assert scheme.balance(scheme.ann) == 20 and scheme.balance(scheme.bola) == 10
    with pytest.raises(ledger.IdempotencyConflict):
        sheet(
            scheme,
            [*lines[:1], {"member_email": scheme.bola.email, "quantity": "2"}],
            key="snow-2026-11-24",
        )
    # One key is for one kind of request: a single record cannot reuse it.
    with pytest.raises(ledger.IdempotencyConflict):
        scheme.record(key="snow-2026-11-24")


def test_a_sheet_with_a_line_above_the_threshold_waits_whole_for_an_officer(scheme):
    lines = [
        {"member_email": scheme.ann.email, "quantity": "6"},  # 60 > 50
        {"member_email": scheme.bola.email, "quantity": "1"},
    ]
    waiting = sheet(scheme, lines)
    assert waiting.state == "awaiting_officer" and scheme.entries() == 0
    posted = scheme.run(earning.approve, scheme.officer, waiting.id, idempotency_key="ok")
    assert posted.state == "posted" and scheme.entries() == 1
    assert (scheme.balance(scheme.ann), scheme.balance(scheme.bola)) == (60, 10)


def test_sheet_level_problems_are_reported_before_lines(scheme):
    from credits.earning.errors import NotYourGroup, UnknownActivity
    from credits.errors import ValidationFailed

    good = [{"member_email": scheme.ann.email, "quantity": "1"}]
    with pytest.raises(UnknownActivity):
        sheet(scheme, good, activity="juggling")
    with pytest.raises(NotYourGroup):
        sheet(scheme, good, activity="good-gym-run")
    with pytest.raises(ValidationFailed) as empty:
        sheet(scheme, [])
    assert "lines" in empty.value.extra["errors"]
    with pytest.raises(ValidationFailed):
        sheet(scheme, [{"member_email": scheme.ann.email, "quantity": "1"}] * 501)
    with pytest.raises(LinesRefused) as not_objects:
        sheet(scheme, ["ann", 3])
    assert [x["line"] for x in not_objects.value.lines] == [1, 2]
    assert scheme.entries() == 0
