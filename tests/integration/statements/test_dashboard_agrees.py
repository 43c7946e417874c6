"""The officer dashboard and the statements are two readings of one ledger: for the worked
month they must give the same figures (issued, redeemed, per activity, per shop, and the
liability at the month's end), or an officer would be shown two truths."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from credits.dashboard.queries import issued_by_activity, monthly_figures, redeemed_by_shop
from credits.statements import build_statement

from .worked_month import EXPECTED, OCTOBER, build_worked_month, close_months


@pytest.fixture
def month(db, client, make_person):
    return build_worked_month(db, client, make_person)


@pytest.mark.parametrize("closed", [False, True], ids=["open", "closed"])
def test_dashboard_and_statement_agree_on_the_worked_month(db, month, closed):
    if closed:
        # September and October closed: both sides read the snapshots and stored figures.
        close_months(db, "2026-09", "2026-10")
    with db.read() as s:
        st = build_statement(s, OCTOBER)
        # Seen from late November, October is a past month on the dashboard's chart.
        figures = {
            str(f.month): f for f in monthly_figures(s, datetime(2026, 11, 20, 12, tzinfo=UTC))
        }
        by_activity = {a.ref: a.credits for a in issued_by_activity(s, OCTOBER)}
        by_shop = {sh.ref: sh.credits for sh in redeemed_by_shop(s, OCTOBER)}
    sf = st.scheme
    assert sf is not None
    october = figures["2026-10"]
    # Against the hand-computed figures first, so that agreeing on a wrong number fails too.
    assert october.issued == sf.issued == EXPECTED["issued"]
    assert october.redeemed == sf.redeemed == EXPECTED["redeemed"]
    assert october.liability == sf.closing.total == EXPECTED["closing"]["total"]
    assert by_activity == {a.slug: a.credits for a in sf.by_activity} == EXPECTED["by_activity"]
    assert by_shop == {line.shop_id: line.redeemed for line in sf.by_shop if line.redeemed}
    assert sum(by_shop.values()) == EXPECTED["redeemed"]
    # September's end is October's opening on both.
    assert figures["2026-09"].liability == sf.opening.total == EXPECTED["opening"]["total"]
