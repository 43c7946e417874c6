"""The settlement policy: a shop below the minimum payment rolls over to the next run (its
credits keep the rate of the month they were taken in), and a run above the four-eyes
threshold needs a second officer.

Here the minimum is £12 and the threshold £10. October (helpers.py): shop A is owed £14.50
and is paid; shop B is owed £11.50, below £12, and rolls over. In November Bola spends a
10-credit voucher at shop B; November's rate is 60p. November's run pays B for both months:
23 × 50p + 10 × 60p = £11.50 + £6.00 = £17.50.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from freezegun import freeze_time

from credits import audit
from credits.accounts import Role
from credits.ledger import Month
from credits.statements import build_statement
from credits.statements.close import close_month

from ..people_helpers import snapshot
from ..statements.worked_month import _issue, _redeem, london
from .helpers import SETTLE_AT, close_october, post, set_payees, start_run


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    return {
        **settings_overrides,
        "SETTLEMENT_MINIMUM_PENCE": 1200,
        "SETTLEMENT_FOUR_EYES_PENCE": 1000,
    }


def test_a_shop_below_the_minimum_rolls_over_at_its_months_rate(client, db, month, make_person):
    second = make_person(Role.OFFICER, name="Second Officer")
    a, b = month.shop_a["shop_id"], month.shop_b["shop_id"]
    with freeze_time(SETTLE_AT):
        set_payees(client, month, second)
    close_october(db)
    with freeze_time(SETTLE_AT):
        october = start_run(client, month.officer).get_json()
    lines = {x["shop_id"]: x for x in october["lines"]}
    assert (lines[a]["status"], lines[a]["amount_pence"]) == ("payable", 1450)
    assert (lines[b]["status"], lines[b]["amount_pence"], lines[b]["credits"]) == (
        "rolled_over",
        1150,
        23,
    )
    assert lines[b]["payment_reference"] is None
    assert (october["payments"], october["total_pence"]) == (1, 1450)

    # £14.50 is more than the £10 one officer may approve alone.
    assert october["needs_second_approver"] is True
    with freeze_time(SETTLE_AT):
        before = snapshot(db)
        resp = post(client, month.officer, f"/api/v1/settlements/{october['id']}/approve")
        assert resp.status_code == 403 and resp.get_json()["code"] == "second_approver_required"
        assert snapshot(db) == before
        resp = post(client, second, f"/api/v1/settlements/{october['id']}/approve")
        assert resp.status_code == 200, resp.get_json()
        assert resp.get_json()["approved_by"].startswith(f"person:{second.id} ")

    # November: Bola spends 10 credits at shop B, at November's 60p.
    with freeze_time(london(2026, 11, 26, 10)):
        voucher = _issue(client, month.scheme.bola, 10, "nov-v")
        _redeem(client, month.shop_b, voucher["code"], "nov-r")
    with freeze_time(london(2026, 12, 2, 9)):
        db.run(
            lambda s: close_month(
                s, audit.Actor("cli:test"), Month(2026, 11), now=datetime.now(UTC)
            )
        )
        november = start_run(client, month.officer, "2026-11", "run-nov").get_json()
    assert [(x["shop_id"], x["status"]) for x in november["lines"]] == [(b, "payable")]
    (line,) = november["lines"]
    assert line["breakdown"] == [
        {"month": "2026-10", "credits": 23, "rate": 50, "pence": 1150},
        {"month": "2026-11", "credits": 10, "rate": 60, "pence": 600},
    ]
    assert (line["credits"], line["amount_pence"]) == (33, 1750)

    # November's statement, as of its end: A's £14.50 settled, not yet paid; B's 33 credits
    # unsettled, worth £17.50: £32.00 owed and unpaid.
    with db.read() as s:
        st = build_statement(s, Month(2026, 11)).settlement
    assert (st.settled_credits, st.settled_pence, st.paid_pence) == (29, 1450, 0)
    assert (st.unpaid_settled_pence, st.unsettled_credits, st.unsettled_pence) == (1450, 33, 1750)
    assert st.unpaid_owed_pence == 3200
    per_shop = {x.shop_id: x for x in st.per_shop}
    assert (per_shop[b].unsettled_credits, per_shop[b].unpaid_owed_pence) == (33, 1750)
    assert (per_shop[a].unsettled_credits, per_shop[a].unpaid_owed_pence) == (0, 1450)
