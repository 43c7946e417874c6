"""Rule 5: a retry returns the first result and posts nothing new."""

from datetime import timedelta

import pytest

from credits import ledger
from credits.db import utcnow
from credits.ledger import EntryKind as K

from .ledger_helpers import bal, counts, open_member, post, scheme


def test_same_key_same_request_returns_the_first_entry(db):
    issuance, ann = scheme(db, ledger.ISSUANCE), open_member(db, "ann")
    first = post(db, K.EARN, {issuance: -10, ann: 10}, "k1")
    before = counts(db)
    again = post(db, K.EARN, {ann: 10, issuance: -10}, "k1", actor="a different session")
    assert again.replayed and not first.replayed
    assert again.id == first.id and again.hash == first.hash
    assert again.postings == first.postings
    assert counts(db) == before
    assert bal(db, ann) == 10


def test_same_key_different_request_is_refused(db):
    issuance, ann = scheme(db, ledger.ISSUANCE), open_member(db, "ann")
    post(db, K.EARN, {issuance: -10, ann: 10}, "k1")
    before = counts(db)
    for legs, kw in [({issuance: -11, ann: 11}, {}), ({issuance: -10, ann: 10}, {"memo": "other"})]:
        with pytest.raises(ledger.IdempotencyConflict):
            post(db, K.EARN, legs, "k1", **kw)
    assert counts(db) == before
    assert bal(db, ann) == 10


def test_explicit_occurred_at_is_part_of_the_request(db):
    issuance, ann = scheme(db, ledger.ISSUANCE), open_member(db, "ann")
    when = utcnow() - timedelta(days=1)
    post(db, K.EARN, {issuance: -10, ann: 10}, "k1", occurred_at=when)
    assert post(db, K.EARN, {issuance: -10, ann: 10}, "k1", occurred_at=when).replayed
    with pytest.raises(ledger.IdempotencyConflict):
        post(db, K.EARN, {issuance: -10, ann: 10}, "k1", occurred_at=when - timedelta(hours=1))


def test_a_refused_request_can_be_retried_with_its_key_once_it_is_possible(db):
    issuance, ann = scheme(db, ledger.ISSUANCE), open_member(db, "ann")
    vouchers = scheme(db, ledger.VOUCHERS_OUTSTANDING)
    with pytest.raises(ledger.InsufficientFunds):
        post(db, K.VOUCHER_ISSUE, {ann: -5, vouchers: 5}, "v1")
    post(db, K.EARN, {issuance: -10, ann: 10}, "earn")
    assert not post(db, K.VOUCHER_ISSUE, {ann: -5, vouchers: 5}, "v1").replayed
    assert bal(db, ann) == 5


def test_find_entry_by_key(db):
    issuance, ann = scheme(db, ledger.ISSUANCE), open_member(db, "ann")
    e = post(db, K.EARN, {issuance: -10, ann: 10}, "k1")
    with db.read() as s:
        found = ledger.find_entry_by_key(s, "k1")
        assert found is not None and found.id == e.id and found.replayed
        assert ledger.find_entry_by_key(s, "nope") is None
