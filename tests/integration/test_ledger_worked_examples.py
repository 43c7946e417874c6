"""Bookkeeping scenarios a council would recognise, with exact balances at every step."""

from credits import ledger
from credits.ledger import EntryKind as K

from .ledger_helpers import all_ok, bal, open_member, open_shop, post, scheme


def test_snow_day_earn_spend_at_a_shop_with_change_then_a_correction(db):
    issuance = scheme(db, ledger.ISSUANCE)
    vouchers = scheme(db, ledger.VOUCHERS_OUTSTANDING)
    ann, bola = open_member(db, "ann"), open_member(db, "bola")
    bakery = open_shop(db, "bakery")

    # A snow day: Ann clears for 4 hours at 10 credits/hour, Bola for 3.
    post(db, K.EARN, {issuance: -70, ann: 40, bola: 30}, "snow-day")
    assert (bal(db, ann), bal(db, bola), bal(db, issuance)) == (40, 30, -70)

    # Ann turns 25 credits into a voucher...
    post(db, K.VOUCHER_ISSUE, {ann: -25, vouchers: 25}, "voucher-1")
    assert (bal(db, ann), bal(db, vouchers)) == (15, 25)

    # ...and spends 18 of it at the bakery: 7 change comes back to her in the same entry.
    post(db, K.REDEEM, {vouchers: -25, bakery: 18, ann: 7}, "redeem-1")
    assert (bal(db, ann), bal(db, vouchers), bal(db, bakery)) == (22, 0, 18)

    # Bola's award was recorded against the wrong day: reverse it (Bola still holds it all).
    award = post(db, K.EARN, {issuance: -12, bola: 12}, "speed-watch")
    assert bal(db, bola) == 42
    reversal = db.run(
        lambda s: ledger.reverse(
            s, award.id, memo="recorded twice", actor="officer", idempotency_key="rev-1"
        )
    )
    assert reversal.reverses_entry_id == award.id
    assert {p.account_id: p.amount_credits for p in reversal.postings} == {issuance: 12, bola: -12}
    assert (bal(db, bola), bal(db, issuance)) == (30, -70)

    # Conservation: everything issued is held by someone.
    assert bal(db, ann) + bal(db, bola) + bal(db, vouchers) + bal(db, bakery) == -bal(db, issuance)
    assert all_ok(db) == []


def test_reversing_credits_already_spent_is_refused_and_changes_nothing(db):
    issuance = scheme(db, ledger.ISSUANCE)
    vouchers = scheme(db, ledger.VOUCHERS_OUTSTANDING)
    ann = open_member(db, "ann")
    award = post(db, K.EARN, {issuance: -10, ann: 10}, "earn")
    post(db, K.VOUCHER_ISSUE, {ann: -8, vouchers: 8}, "voucher")
    import pytest

    with pytest.raises(ledger.InsufficientFunds):
        db.run(lambda s: ledger.reverse(s, award.id, memo="x", actor="o", idempotency_key="r"))
    assert bal(db, ann) == 2
    assert all_ok(db) == []


def test_an_entry_is_reversed_once_and_a_reversal_is_not_reversed(db):
    import pytest

    issuance = scheme(db, ledger.ISSUANCE)
    ann = open_member(db, "ann")
    award = post(db, K.EARN, {issuance: -10, ann: 10}, "earn")
    rev = db.run(lambda s: ledger.reverse(s, award.id, memo="x", actor="o", idempotency_key="r1"))
    # The same request again is a replay, not a second reversal.
    again = db.run(lambda s: ledger.reverse(s, award.id, memo="x", actor="o", idempotency_key="r1"))
    assert again.id == rev.id and again.replayed
    with pytest.raises(ledger.AlreadyReversed):
        db.run(lambda s: ledger.reverse(s, award.id, memo="x", actor="o", idempotency_key="r2"))
    with pytest.raises(ledger.InvalidEntry, match="is a reversal"):
        db.run(lambda s: ledger.reverse(s, rev.id, memo="x", actor="o", idempotency_key="r3"))
    with pytest.raises(ledger.EntryNotFound):
        db.run(lambda s: ledger.reverse(s, 999_999, memo="x", actor="o", idempotency_key="r4"))
    assert bal(db, ann) == 0
    assert all_ok(db) == []
