"""Rule 7: a closed month is closed."""

from datetime import UTC, datetime

import pytest
from freezegun import freeze_time

from credits import ledger
from credits.errors import ValidationFailed
from credits.ledger import EntryKind as K
from credits.ledger import Month

from .ledger_helpers import bal, counts, open_member, post, scheme


def at(*args):
    return datetime(*args, tzinfo=UTC)


def close(db, month, now):
    return db.run(lambda s: ledger.close_month(s, Month.parse(month), closed_by="officer", now=now))


def test_backdating_into_a_closed_month_is_refused_on_both_sides_of_midnight(db):
    issuance, ann = scheme(db, ledger.ISSUANCE), open_member(db, "ann")
    with freeze_time("2026-11-02 12:00:00"):
        close(db, "2026-10", at(2026, 11, 2, 12))
        before = counts(db)
        # 23:30 local on 31 October (GMT) is inside the closed month.
        with pytest.raises(ledger.PeriodClosed) as info:
            post(db, K.EARN, {issuance: -5, ann: 5}, "late", occurred_at=at(2026, 10, 31, 23, 30))
        assert info.value.extra["month"] == "2026-10"
        assert counts(db) == before
        # 00:30 local on 1 November is in the open month.
        post(db, K.EARN, {issuance: -5, ann: 5}, "ok", occurred_at=at(2026, 11, 1, 0, 30))
        assert bal(db, ann) == 5


def test_closing_is_refused_before_the_month_ends_and_twice(db):
    with pytest.raises(ValidationFailed, match="has not ended"):
        close(db, "2026-11", at(2026, 11, 30, 23, 59))
    close(db, "2026-10", at(2026, 11, 1, 0, 0))
    with pytest.raises(ledger.PeriodClosed):
        close(db, "2026-10", at(2026, 11, 2))
    with db.read() as s:
        assert ledger.closed_months(s) == ["2026-10"]


def test_march_close_uses_local_midnight(db):
    """March 2026 ends at 23:00 UTC on 31 March (BST)."""
    issuance, ann = scheme(db, ledger.ISSUANCE), open_member(db, "ann")
    with freeze_time("2026-04-01 10:00:00"):
        close(db, "2026-03", at(2026, 4, 1, 10))
        with pytest.raises(ledger.PeriodClosed):
            post(db, K.EARN, {issuance: -5, ann: 5}, "a", occurred_at=at(2026, 3, 31, 22, 30))
        post(db, K.EARN, {issuance: -5, ann: 5}, "b", occurred_at=at(2026, 3, 31, 23, 30))
    assert bal(db, ann) == 5


def test_a_reversal_of_an_entry_in_a_closed_month_goes_into_the_open_month(db):
    issuance, ann = scheme(db, ledger.ISSUANCE), open_member(db, "ann")
    with freeze_time("2026-10-15 12:00:00"):
        award = post(db, K.EARN, {issuance: -5, ann: 5}, "oct")
    with freeze_time("2026-11-03 09:00:00"):
        close(db, "2026-10", at(2026, 11, 3, 9))
        rev = db.run(
            lambda s: ledger.reverse(
                s, award.id, memo="wrong member", actor="o", idempotency_key="rev"
            )
        )
        assert str(Month.containing(rev.occurred_at)) == "2026-11"
    assert bal(db, ann) == 0
