"""`credits demo` tells a story: six months of history (credits.demo_history), seeded once,
with everything the contract relies on left as it was (balances, shops owed nothing, M-1 and
the current month empty of it)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from credits import ledger
from credits.cli import main as cli
from credits.ledger import Month
from credits.ledger.models import JournalEntry
from credits.redemption.models import Redemption
from credits.settlement.models import SettlementRun
from credits.shops import Shop
from credits.statements.close import month_close
from credits.vouchers.models import Voucher

#: Seeded on 10 December 2026: the history is May..October, November and December are open.
SEEDED_AT = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)
HISTORY = ["2026-05", "2026-06", "2026-07", "2026-08", "2026-09", "2026-10"]
#: The contract members' balances as the demo made them before it had a history.
BALANCES = [{"balance": 60, "in_vouchers": 20}, {"balance": 30, "in_vouchers": 0},
            {"balance": 40, "in_vouchers": 0}]  # fmt: skip


def _entries(db: Any) -> int:
    with db.read() as s:
        return int(s.execute(select(func.count()).select_from(JournalEntry)).scalar_one())


def check_the_story(runner: Any, client: Any, db: Any) -> None:
    with freeze_time(SEEDED_AT):
        first = runner.invoke(cli, ["demo", "--json"])
    assert first.exit_code == 0, first.output
    data = json.loads(first.output)
    with db.read() as s:
        assert ledger.closed_months(s) == HISTORY
        for text in HISTORY[:-1]:
            close = month_close(s, Month.parse(text))
            assert close is not None and close.issued > 0 and close.redeemed >= 0
        # October (M-2) earns nothing and ends with nothing outstanding: every history
        # member spent all they earned, so November opens as on a fresh scheme.
        last = month_close(s, Month.parse(HISTORY[-1]))
        assert last is not None and last.issued == 0 and last.liability == 0
        # Nothing in November (M-1): the history ends with October.
        late = s.execute(
            select(func.count())
            .select_from(JournalEntry)
            .where(JournalEntry.occurred_at >= Month(2026, 11).starts_at)  # type: ignore[operator]
            .where(JournalEntry.occurred_at < Month(2026, 12).starts_at)  # type: ignore[operator]
        ).scalar_one()
        assert late == 0
        redemptions = list(s.execute(select(Redemption)).scalars())
        kinds = {
            "full": [r for r in redemptions if r.change == 0 and r.offline_accepted_at is None],
            "part": [r for r in redemptions if r.change > 0],
            "offline": [r for r in redemptions if r.offline_accepted_at is not None],
            "reversed": [r for r in redemptions if r.reversed_at is not None],
        }
        assert all(kinds.values()), {k: len(v) for k, v in kinds.items()}
        assert all(HISTORY[0] <= str(Month.containing(r.redeemed_at)) <= HISTORY[-2]
                   for r in redemptions)  # fmt: skip
        states = dict(
            s.execute(select(Voucher.state, func.count()).group_by(Voucher.state)).all()  # type: ignore[call-overload]
        )
        assert states["expired"] >= 2 and states["cancelled"] >= 1
        # The one open voucher is this month's demo voucher, as before.
        assert states["open"] == 1
        runs = list(s.execute(select(SettlementRun)).scalars())
        assert sorted(r.month for r in runs) == HISTORY[:-1]
        assert {r.state for r in runs} == {"approved"}
        for shop in s.execute(select(Shop)).scalars():
            assert shop.ledger_account_id is not None
            assert ledger.balance(s, shop.ledger_account_id) == 0
    for member, expected in zip(data["members"], BALANCES, strict=True):
        auth = {"Authorization": f"Bearer {member['token']}"}
        assert client.get("/api/v1/me/balance", headers=auth).get_json() == expected
    statement = client.get(
        "/api/v1/statements/2026-09",
        headers={"Authorization": f"Bearer {data['officer']['token']}"},
    ).get_json()
    assert statement["totals"]["redeemed"] > 0, statement["totals"]
    verify = runner.invoke(cli, ["verify"])
    assert verify.exit_code == 0, verify.output
    # Again (a day later): the same credentials, and nothing posted twice.
    before = _entries(db)
    with freeze_time(datetime(2026, 12, 11, 12, 0, tzinfo=UTC)):
        again = runner.invoke(cli, ["demo", "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.output) == data
    assert _entries(db) == before


def test_the_demo_seeds_six_closed_months_of_history_once(runner, client, db):
    check_the_story(runner, client, db)


@pytest.mark.postgres
def test_the_demo_history_on_postgresql(runner, client, db):
    """The closes run their checks apart on PostgreSQL (exported snapshot): the same story."""
    check_the_story(runner, client, db)
