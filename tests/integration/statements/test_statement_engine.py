"""The statement engine against a worked month whose every figure was computed by hand."""

from __future__ import annotations

import pytest

from credits.errors import NotFound
from credits.ledger import Month
from credits.statements import build_statement

from .worked_month import EXPECTED, OCTOBER, build_worked_month


@pytest.fixture
def month(db, client, make_person):
    return build_worked_month(db, client, make_person)


def test_the_worked_month_scheme_statement(db, month):
    with db.read() as s:
        st = build_statement(s, OCTOBER)
    sf = st.scheme
    assert sf is not None and st.shop is None
    assert st.rate_pence_per_credit == 50
    e = EXPECTED
    assert (sf.opening.members, sf.opening.vouchers, sf.opening.total) == tuple(
        e["opening"].values()
    )
    assert sf.issued == e["issued"]
    assert {a.slug: a.credits for a in sf.by_activity} == e["by_activity"]
    assert sf.redeemed == e["redeemed"]
    assert sf.change_returned == e["change_returned"]
    assert sf.expired == e["expired"]
    assert sf.reversals == e["reversals"]
    assert sf.adjustments == e["adjustments"]
    assert (sf.closing.members, sf.closing.vouchers, sf.closing.total) == tuple(
        e["closing"].values()
    )
    # The identity, written out: opening + issued − redeemed − expired ± reversals and
    # adjustments = closing.
    assert 10 + 155 - 57 - 2 + 10 + 0 == 116
    assert (
        sf.opening.total + sf.issued - sf.redeemed - sf.expired + sf.reversals + sf.adjustments
        == sf.closing.total
    )
    assert sf.identity_holds
    shops = {s.name: s for s in sf.by_shop}
    for name, key in (("Brixton Bakery", "shop_a"), ("Market Grocer", "shop_b")):
        line = shops[name]
        got = {k: getattr(line, k) for k in e[key]}
        assert got == e[key], name
    assert sf.owed_pence == e["owed_pence"]
    v = sf.vouchers
    assert {k: getattr(v, k) for k in e["vouchers"]} == e["vouchers"]
    tb = {line.account_type: line for line in st.trial_balance.lines}
    assert list(tb) == [
        "issuance",
        "member",
        "vouchers_outstanding",
        "shop",
        "expired",
        "adjustments",
        "settled",
    ]
    for type_, (opening, ups, downs, closing) in e["trial_balance"].items():
        line = tb[type_]
        assert (line.opening, line.increases, line.decreases, line.closing) == (
            opening,
            ups,
            downs,
            closing,
        ), type_
        assert line.closing == line.opening + line.movement
    assert st.trial_balance.total == 0
    assert st.trial_balance.opening_total == 0
    assert st.trial_balance.movement_total == 0


def test_a_shop_statement_lists_each_movement(db, month):
    with db.read() as s:
        a = build_statement(s, OCTOBER, shop_id=month.shop_a["shop_id"])
        b = build_statement(s, OCTOBER, shop_id=month.shop_b["shop_id"])
    assert a.scheme is None and a.shop is not None and b.shop is not None
    assert [(x.kind, x.amount, x.change) for x in a.shop.lines] == [
        ("redemption", 4, 0),
        ("redemption", 20, 0),
        ("redemption", 5, 0),
    ]
    assert a.shop.lines[0].local_time == "2026-10-02 09:00"
    assert a.shop.lines[0].terminal == "Till 1"
    assert all(len(x.voucher) == 9 and x.voucher[4] == "-" for x in a.shop.lines)
    assert (a.shop.opening_balance, a.shop.closing_balance) == (0, 29)
    assert a.shop.totals.owed_pence == 1450
    kinds = [(x.kind, x.amount, x.change, x.offline, x.local_time) for x in b.shop.lines]
    assert kinds == [
        ("redemption", 18, 7, False, "2026-10-20 12:00"),
        ("redemption", 10, 0, False, "2026-10-20 12:00"),
        ("exception", 5, 0, True, "2026-10-20 12:30"),
        # Times are London local times (BST before the 25th, GMT after).
        ("reversal", -10, 0, False, "2026-10-26 10:00"),
    ]
    assert b.shop.lines[1].note == "reversed later"
    assert b.shop.lines[1].ref == month.redemptions["r5"]
    assert b.shop.lines[2].ref == month.redemptions["x6"]
    totals = b.shop.totals
    assert (totals.redemptions, totals.redeemed, totals.change, totals.reversed) == (2, 28, 7, 10)
    assert (totals.exceptions, totals.net, totals.owed_pence) == (5, 23, 1150)
    assert sum(x.amount for x in b.shop.lines) == totals.net
    assert b.shop.closing_balance - b.shop.opening_balance == totals.net
    # The shop's entries balance on their own: every entry sums to zero.
    assert b.trial_balance.total == 0 and b.trial_balance.lines


def test_a_past_month_keeps_its_rate(db, month):
    """60p from November was set after October ended: October still reads 50p."""
    with db.read() as s:
        assert build_statement(s, OCTOBER).rate_pence_per_credit == 50
        assert build_statement(s, Month(2026, 9)).rate_pence_per_credit == 40
        assert build_statement(s, Month(2026, 11)).rate_pence_per_credit == 60
        assert build_statement(s, Month(2026, 8)).rate_pence_per_credit is None
        assert build_statement(s, Month(2026, 8)).scheme.owed_pence is None


def test_september_and_november_chain_onto_october(db, month):
    with db.read() as s:
        sep = build_statement(s, Month(2026, 9)).scheme
        oct_ = build_statement(s, OCTOBER).scheme
        nov = build_statement(s, Month(2026, 11)).scheme
    assert sep.opening.total == 0 and sep.issued == 10 and sep.closing.total == 10
    assert sep.vouchers.issued == 4 and sep.closing.vouchers == 4
    assert oct_.opening == sep.closing and nov.opening == oct_.closing
    assert nov.issued == nov.redeemed == 0 and nov.closing == oct_.closing


def test_an_unknown_shop_is_not_found(db):
    with db.read() as s, pytest.raises(NotFound):
        build_statement(s, OCTOBER, shop_id=999_999)


def test_credits_earned_outside_an_award_have_their_own_line(db, month):
    """An earn entry without an award (seeded or migrated credits) is issued credit too: it
    is counted apart from the activities, whose figures do not move."""
    from credits import ledger

    from ..ledger_helpers import post, scheme
    from .worked_month import london

    issuance = scheme(db, ledger.ISSUANCE)
    post(db, ledger.EntryKind.EARN, {issuance: -7, month.scheme.ann.account_id: 7}, "seeded",
         occurred_at=london(2026, 10, 20, 12))  # fmt: skip
    with db.read() as s:
        sf = build_statement(s, OCTOBER).scheme
    assert sf is not None
    outside = [(a.name, a.awards, a.credits) for a in sf.by_activity if a.activity_id is None]
    assert outside == [("Credits earned outside an award", 1, 7)]
    named = {a.slug: a.credits for a in sf.by_activity if a.activity_id is not None}
    assert named == EXPECTED["by_activity"]
    assert sf.issued == EXPECTED["issued"] + 7
    assert sf.issued == sum(a.credits for a in sf.by_activity)
