"""post_standalone: the one-round-trip path keeps every guarantee of post_entry."""

from datetime import UTC, datetime

import pytest

from credits import ledger
from credits.ledger import EntryKind as K

from .ledger_helpers import all_ok, bal, counts, open_member, scheme
from .test_ledger_races import run_threads


def req(legs, key, kind=K.EARN, **kw):
    return ledger.EntryRequest(
        kind=kind,
        legs=tuple(ledger.Leg(a, b) for a, b in legs.items()),
        memo=kw.pop("memo", "m"),
        actor="test",
        idempotency_key=key,
        **kw,
    )


def test_posts_replays_and_refuses_like_post_entry(db):
    issuance, ann = scheme(db, ledger.ISSUANCE), open_member(db, "ann")
    vouchers = scheme(db, ledger.VOUCHERS_OUTSTANDING)
    first = ledger.post_standalone(db, req({issuance: -10, ann: 10}, "k1"))
    assert not first.replayed and bal(db, ann) == 10
    again = ledger.post_standalone(db, req({issuance: -10, ann: 10}, "k1"))
    assert again.replayed and again.id == first.id
    before = counts(db)
    with pytest.raises(ledger.IdempotencyConflict):
        ledger.post_standalone(db, req({issuance: -11, ann: 11}, "k1"))
    with pytest.raises(ledger.InsufficientFunds):
        ledger.post_standalone(db, req({ann: -11, vouchers: 11}, "k2", kind=K.VOUCHER_ISSUE))
    with pytest.raises(ledger.UnknownAccount):
        ledger.post_standalone(db, req({issuance: -1, 777777: 1}, "k3"))
    with pytest.raises(ledger.InvalidEntry):
        ledger.post_standalone(db, req({issuance: -1, ann: 2}, "k4"))
    assert counts(db) == before
    with db.read() as s:
        assert ledger.get_entry(s, first.id).hash == first.hash
    assert all_ok(db) == []


def test_refuses_a_closed_month(db):
    issuance, ann = scheme(db, ledger.ISSUANCE), open_member(db, "ann")
    db.run(
        lambda s: ledger.close_month(
            s, ledger.Month(2026, 1), closed_by="o", now=datetime(2026, 2, 2, tzinfo=UTC)
        )
    )
    with pytest.raises(ledger.PeriodClosed):
        ledger.post_standalone(
            db,
            req({issuance: -1, ann: 1}, "k", occurred_at=datetime(2026, 1, 31, 23, 59, tzinfo=UTC)),
        )
    assert bal(db, ann) == 0


@pytest.mark.postgres
def test_32_threads_overspending_through_the_standalone_path(db):
    issuance, vouchers = scheme(db, ledger.ISSUANCE), scheme(db, ledger.VOUCHERS_OUTSTANDING)
    ann = open_member(db, "ann")
    ledger.post_standalone(db, req({issuance: -100, ann: 100}, "seed"))
    outcomes = run_threads(
        32,
        lambda i: ledger.post_standalone(
            db, req({ann: -7, vouchers: 7}, f"spend-{i}", kind=K.VOUCHER_ISSUE)
        ),
    )
    assert sum(isinstance(o, ledger.PostedEntry) for o in outcomes) == 14
    assert sum(isinstance(o, ledger.InsufficientFunds) for o in outcomes) == 18, outcomes
    assert bal(db, ann) == 2
    same = run_threads(
        16, lambda i: ledger.post_standalone(db, req({issuance: -5, ann: 5}, "one-key"))
    )
    assert len({o.id for o in same}) == 1 and sum(not o.replayed for o in same) == 1, same
    assert bal(db, ann) == 7
    assert all_ok(db) == []
