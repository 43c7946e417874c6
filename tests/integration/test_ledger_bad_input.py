"""Bad input: each a clear error, nothing written."""

from datetime import timedelta

import pytest

from credits import ledger
from credits.db import utcnow
from credits.ledger import EntryKind as K

from .ledger_helpers import all_ok, bal, counts, open_member, post, scheme


@pytest.fixture
def accounts(db):
    issuance, ann = scheme(db, ledger.ISSUANCE), open_member(db, "ann")
    post(db, K.EARN, {issuance: -50, ann: 50}, "seed")
    return issuance, ann


@pytest.mark.parametrize(
    "make_legs, error",
    [
        (lambda i, a: {i: -5.0, a: 5.0}, ledger.InvalidEntry),  # floats
        (lambda i, a: {i: -5, a: 5.5}, ledger.InvalidEntry),
        (lambda i, a: {i: 0, a: 0}, ledger.InvalidEntry),  # zero
        (lambda i, a: {i: 5, a: -5 - 1}, ledger.InvalidEntry),  # unbalanced
        (lambda i, a: {i: -(10**10), a: 10**10}, ledger.InvalidEntry),  # huge
        (lambda i, a: {i: 10**18, a: -(10**18)}, ledger.InvalidEntry),
        (lambda i, a: {i: -5, 987654: 5}, ledger.UnknownAccount),  # unknown account
        (lambda i, a: {i: 60, a: -60}, ledger.InsufficientFunds),  # negative member
    ],
)
def test_refused_and_nothing_written(db, accounts, make_legs, error):
    issuance, ann = accounts
    before = counts(db)
    with pytest.raises(error) as info:
        post(db, K.ADJUSTMENT, make_legs(issuance, ann), "bad")
    assert info.value.code in {"validation_error", "unknown_account", "insufficient_funds"}
    assert info.value.detail
    assert counts(db) == before
    assert bal(db, ann) == 50
    assert all_ok(db) == []


def test_future_dates_are_refused(db, accounts):
    issuance, ann = accounts
    before = counts(db)
    with pytest.raises(ledger.InvalidEntry, match="future"):
        post(db, K.EARN, {issuance: -5, ann: 5}, "f", occurred_at=utcnow() + timedelta(hours=1))
    assert counts(db) == before


def test_a_failed_entry_leaves_no_partial_balance_change(db, accounts):
    """The member debit succeeds before the second account is found missing: all rolls back."""
    _, ann = accounts
    with pytest.raises(ledger.UnknownAccount):
        post(db, K.ADJUSTMENT, {ann: -5, 10**9: 5}, "partial")
    assert bal(db, ann) == 50
    assert all_ok(db) == []
