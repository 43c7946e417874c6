"""The officer dashboard's figures, against hand-computed values.

The history is posted straight into the ledger at chosen instants (the dashboard reads only
the ledger's entries by kind and ``occurred_at``), so every month of the chart has a known
figure; London month boundaries are tested at 23:30 and 00:30 local time.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from credits import adjustments, audit, dashboard, ledger, shops
from credits.accounts import Role
from credits.db import utcnow
from credits.ledger import Month
from credits.statements import snapshots

from ..earning.conftest import as_principal, build_scheme
from ..test_redemption import issue, make_terminal, redeem


def post(db: Any, kind: ledger.EntryKind, legs: list[tuple[int, int]], at: Any, key: str) -> int:
    def run(s: Any) -> int:
        return ledger.post_entry(
            s,
            ledger.EntryRequest(
                kind=kind,
                legs=tuple(ledger.Leg(a, n) for a, n in legs),
                memo=f"dashboard test {key}",
                actor="test",
                idempotency_key=f"dash:{key}",
                occurred_at=at,
                reverses_entry_id=None,
            ),
        ).id

    return db.run(run)


@pytest.fixture
def history(db: Any, make_person: Any) -> dict[str, Any]:
    """Five months of trading (see the module docstring for the figures)."""
    a = make_person(Role.MEMBER, name="Ann")
    b = make_person(Role.MEMBER, name="Bo")

    def accounts(s: Any) -> dict[str, int]:
        by = audit.Actor.system("test")
        x = shops.create_shop(s, by, name="Xander's Bakery")
        y = shops.create_shop(s, by, name="Yard Hardware")
        return {
            "issuance": ledger.scheme_account(s, ledger.ISSUANCE).id,
            "vo": ledger.scheme_account(s, ledger.VOUCHERS_OUTSTANDING).id,
            "adj": ledger.scheme_account(s, ledger.ADJUSTMENTS).id,
            "x": shops.shop_account_id(s, x.id),
            "y": shops.shop_account_id(s, y.id),
            "x_id": x.id,
        }

    acc = db.run(accounts)
    now = utcnow()
    months = dashboard.last_months(now)
    old, m3, m2 = months[-5], months[-3], months[-2]
    earn, issue_, redeem_ = (
        ledger.EntryKind.EARN,
        ledger.EntryKind.VOUCHER_ISSUE,
        ledger.EntryKind.REDEEM,
    )
    i, vo, x, y = acc["issuance"], acc["vo"], acc["x"], acc["y"]
    day = old.starts_at + timedelta(days=1)
    # Months[-5]: Ann earns 100, puts 40 in a voucher, spends 30 of it at X (10 back).
    post(db, earn, [(i, -100), (a.account_id, 100)], day, "a-earn")
    post(db, issue_, [(a.account_id, -40), (vo, 40)], day + timedelta(hours=1), "a-v1")
    post(db, redeem_, [(vo, -40), (x, 30), (a.account_id, 10)], day + timedelta(hours=2), "a-r1")
    # Bo earns 50 at 23:30 London on the last day of months[-3], 20 at 00:30 on the first of
    # months[-2]: each lands in its own month.
    post(db, earn, [(i, -50), (b.account_id, 50)], m3.ends_at - timedelta(minutes=30), "b-late")
    post(db, earn, [(i, -20), (b.account_id, 20)], m2.starts_at + timedelta(minutes=30), "b-early")
    # Months[-2]: Bo spends a 60 voucher at Y.
    later = m2.starts_at + timedelta(days=2)
    post(db, issue_, [(b.account_id, -60), (vo, 60)], later, "b-v")
    spent = post(db, redeem_, [(vo, -60), (y, 60)], later + timedelta(hours=1), "b-r")

    # This month: that redemption is reversed (mirror + the value back to Bo), Ann gets a
    # 5-credit adjustment, spends a 15 voucher at X in full, and X is paid 7 by the scheme
    # for an offline double spend (an adjustment: not "redeemed").
    def reverse(s: Any) -> None:
        ledger.reverse(s, spent, memo="reversed", actor="test", idempotency_key="dash:rev")

    db.run(reverse)
    post(db, ledger.EntryKind.CANCEL, [(vo, -60), (b.account_id, 60)], None, "b-back")
    officer = make_person(Role.OFFICER)
    db.run(
        lambda s: adjustments.request_adjustment(
            s,
            as_principal(officer),
            person_id=a.id,
            direction="credit",
            amount=5,
            reason="goodwill",
            idempotency_key="dash-adj",
        )
    )
    post(db, issue_, [(a.account_id, -15), (vo, 15)], None, "a-v2")
    post(db, redeem_, [(vo, -15), (x, 15)], None, "a-r2")
    post(db, ledger.EntryKind.ADJUSTMENT, [(acc["adj"], -7), (x, 7)], None, "x-exc")
    return {"months": months, "a": a, "b": b, "acc": acc, "officer": officer}


def close_in_order(db: Any, months: list[Month], monkeypatch: Any) -> None:
    """The month close (each month's snapshot and stored figures), in order."""
    from credits.statements import close

    # This history is posted straight into the ledger (voucher entries without vouchers),
    # which the voucher checks rightly refuse; the figures are what is tested here.
    monkeypatch.setattr(close, "run_checks", lambda session, **kw: [])
    actor = audit.Actor("cli:test")
    for m in months:
        db.run(lambda s, m=m: close.close_month(s, actor, m, now=utcnow()))


@pytest.mark.parametrize("closed", [False, True], ids=["open", "closed"])
def test_monthly_issued_redeemed_and_liability_are_hand_computed(db, history, closed, monkeypatch):
    if closed:
        # Every past month with entries closed: the chart reads their stored figures.
        close_in_order(db, history["months"][-5:-1], monkeypatch)
        with db.read() as s:
            stored = snapshots.stored_figures(s, history["months"])
        assert sorted(stored) == history["months"][-5:-1]
    with db.read() as s:
        figures = dashboard.monthly_figures(s)
    months = history["months"]
    assert [f.month for f in figures] == months
    assert len(figures) == 12 and figures[-1].current and not figures[-2].current
    by = {str(f.month): f for f in figures}
    issued = {str(m): 0 for m in months}
    redeemed = {str(m): 0 for m in months}
    issued[str(months[-5])] = 100
    issued[str(months[-3])] = 50
    issued[str(months[-2])] = 20
    redeemed[str(months[-5])] = 30
    redeemed[str(months[-2])] = 60
    redeemed[str(months[-1])] = 15
    assert {k: f.issued for k, f in by.items()} == issued
    assert {k: f.redeemed for k, f in by.items()} == redeemed
    # Members + vouchers outstanding at each month end: 0 before months[-5]; then
    # Ann 100-40+10 = 70; +Bo 50 = 120; +Bo 20 -60 voucher spent = 80; now: Bo's 60 back,
    # Ann +5 -15 spent = 130.
    liability = [0] * 7 + [70, 70, 120, 80, 130]
    assert [f.liability for f in figures] == liability
    assert figures[-2].at == months[-2].ends_at


def test_shares_this_month_count_redeem_entries_only(db, history):
    month = history["months"][-1]
    with db.read() as s:
        by_shop = dashboard.redeemed_by_shop(s, month)
        previous = dashboard.redeemed_by_shop(s, history["months"][-2])
    assert [(r.name, r.credits, r.ref) for r in by_shop] == [
        ("Xander's Bakery", 15, history["acc"]["x_id"])
    ]
    assert [(r.name, r.credits) for r in previous] == [("Yard Hardware", 60)]


def test_issued_by_activity_this_month(db, make_person):
    scheme = build_scheme(db, make_person)
    today = scheme_today()
    scheme.record(quantity="2", occurred_on=today)  # Ann, snow: 20
    scheme.record(
        member_email=scheme.bola.email, activity="speed-watch", quantity="1", occurred_on=today
    )
    scheme.record(
        who=scheme.other_coord,
        member_email=scheme.zed.email,
        activity="good-gym-run",
        quantity="1",
        occurred_on=today,
    )
    make_person(Role.MEMBER, credits=7)  # seeded straight into the ledger: no activity
    with db.read() as s:
        rows = dashboard.issued_by_activity(s, Month.containing(utcnow()))
    assert [(r.name, r.credits, r.ref) for r in rows] == [
        ("Community speed watch", 20, "speed-watch"),
        ("Snow clearing", 20, "snow-clearing"),
        ("Good Gym run", 15, "good-gym-run"),
        ("No activity recorded", 7, None),
    ]


def scheme_today() -> str:
    from credits.earning import dates

    return dates.london_today().isoformat()


class TestExpiringVouchers:
    @pytest.fixture
    def settings_overrides(self, settings_overrides: dict[str, Any]) -> dict[str, Any]:
        return {**settings_overrides, "VOUCHER_EXPIRY_DAYS": "10"}

    def test_open_vouchers_expiring_within_14_days(self, client, db, make_person):
        ann = make_person(Role.MEMBER, credits=100)
        issue(client, ann, 10)
        gone = issue(client, ann, 5)
        issue(client, ann, 20)
        client.post(f"/api/v1/vouchers/{gone['id']}/cancel", headers=ann.auth)
        with db.read() as s:
            found = dashboard.expiring_vouchers(s)
            later = dashboard.expiring_vouchers(s, utcnow() - timedelta(days=20))
        assert (found.count, found.credits) == (2, 30)
        assert (later.count, later.credits) == (0, 0)


def test_vouchers_valid_for_90_days_are_not_expiring_soon(client, db, make_person):
    ann = make_person(Role.MEMBER, credits=100)
    issue(client, ann, 10)
    with db.read() as s:
        assert dashboard.expiring_vouchers(s).count == 0


def test_the_queue_has_double_spends_reversals_and_adjustments_with_who_and_why(
    client, db, make_person
):
    officer = make_person(Role.OFFICER, name="Olu Officer")
    second = make_person(Role.OFFICER, name="Pat Officer")
    ann = make_person(Role.MEMBER, credits=100, name="Ann")
    till = make_terminal(db)
    hardware = make_terminal(db, name="Acre Lane Hardware", till="Counter")
    v = issue(client, ann, 15)
    at = (utcnow() - timedelta(hours=1)).isoformat()
    redeem(client, till, v["code"], offline_accepted_at=at)
    double = redeem(client, hardware, v["code"], key="h-1", offline_accepted_at=at).get_json()
    w = issue(client, ann, 30)
    rid = redeem(client, till, w["code"], key="w").get_json()["id"]
    client.post(
        f"/api/v1/redemptions/{rid}/reverse", json={"reason": "charged twice"}, headers=officer.auth
    )
    pending = client.post(
        "/api/v1/adjustments",
        json={
            "person_id": ann.id,
            "direction": "credit",
            "amount": 80,
            "reason": "lost sheet",
            "idempotency_key": "q",
        },
        headers=second.auth,
    ).get_json()

    with db.read() as s:
        queue = dashboard.exceptions_queue(s)
        only_reversals = dashboard.exceptions_queue(s, kind="reversal")
        at_hardware = dashboard.exceptions_queue(s, shop_id=hardware["shop_id"])
        last_year = dashboard.exceptions_queue(s, month=Month.containing(utcnow()).previous())
    assert [q.kind for q in queue] == ["adjustment", "reversal", "double_spend"]
    adj, rev, dbl = queue
    assert (adj.id, adj.amount, adj.state, adj.person_id) == (
        str(pending["id"]),
        80,
        "pending",
        ann.id,
    )
    assert adj.who.startswith(f"person:{second.id} as officer") and adj.why == "lost sheet"
    assert (rev.redemption_id, rev.amount, rev.why, rev.shop_name) == (
        rid,
        30,
        "charged twice",
        "Brixton Bakery",
    )
    assert rev.who.startswith(f"person:{officer.id}") and rev.person_id == ann.id
    assert (dbl.id, dbl.amount, dbl.state, dbl.person_id) == (double["id"], 15, "open", ann.id)
    assert "Brixton Bakery" in dbl.why and dbl.voucher_id == v["id"]
    assert dbl.who.startswith("Counter at Acre Lane Hardware (terminal ")
    assert [q.kind for q in only_reversals] == ["reversal"]
    assert [q.kind for q in at_hardware] == ["double_spend"]
    assert last_year == []


def test_officer_actions_are_the_latest_audit_events_by_officers(db, client, make_person):
    officer = make_person(Role.OFFICER)
    member = make_person(Role.MEMBER, credits=5)
    client.post(
        "/api/v1/adjustments",
        json={
            "person_id": member.id,
            "direction": "credit",
            "amount": 1,
            "reason": "r",
            "idempotency_key": "a",
        },
        headers=officer.auth,
    )
    with db.read() as s:
        actions = dashboard.officer_actions(s)
    assert [e.action for e in actions] == ["adjustment.post", "adjustment.request"]


def test_the_dashboard_reads_in_a_fixed_number_of_queries_whatever_the_history(db, history):
    """Set-based: the number of statements does not grow with entries, months or items."""
    from sqlalchemy import event

    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        with db.read() as s:
            dashboard.build(s)
        first = len(statements)
        # Twice the history: the same number of statements.
        acc = history["acc"]
        for n in range(20):
            post(
                db,
                ledger.EntryKind.EARN,
                [(acc["issuance"], -1), (history["a"].account_id, 1)],
                None,
                f"more-{n}",
            )
        statements.clear()
        with db.read() as s:
            dashboard.build(s)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    # 16: the exceptions queue reads bank mismatches too (settlement), one bounded query.
    assert 5 <= len(statements) == first <= 16, statements
