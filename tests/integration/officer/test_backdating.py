"""Rule 7 on every path: nothing is back-dated into a closed month — earn, redeem (online
and offline), reverse, adjust — and on PostgreSQL the database itself refuses a raw insert.

Offline redemptions accepted at the counter in a month that has since closed are *posted in
the open month* (the day the ledger records them) and keep the counter's time on the
redemption row (``offline_accepted_at``): the shop is paid, the closed month's figures do
not move, and the statement of the open month shows the redemption marked offline with its
counter time. Refusing it instead would leave the shop unpaid for goods already handed over.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from credits import ledger
from credits.accounts import Role
from credits.db import utcnow
from credits.earning import dates
from credits.ledger import Month
from credits.redemption.models import Redemption
from tests.problems import assert_problem

from ..people_helpers import snapshot
from ..test_redemption import issue, make_terminal, redeem


def close(db: Any, month: Month) -> None:
    db.run(lambda s: ledger.close_month(s, month, closed_by="test officer", now=utcnow()))


def entry_month(db: Any, entry_id: int) -> Month:
    with db.read() as s:
        return Month.containing(ledger.get_entry(s, entry_id).occurred_at)


def last_day_of(month: Month) -> str:
    return (month.ends_at - timedelta(hours=12)).astimezone(ledger.LONDON).date().isoformat()


@pytest.fixture
def previous() -> Month:
    return Month.containing(utcnow()).previous()


# --- earn -----------------------------------------------------------------------------------


def test_an_award_dated_in_a_closed_month_is_refused(client, db, make_person, previous):
    from ..earning.conftest import build_scheme

    scheme = build_scheme(db, make_person)
    close(db, previous)
    before = snapshot(db)
    resp = client.post(
        "/api/v1/earnings",
        json={
            "member_email": scheme.ann.email,
            "activity": "snow-clearing",
            "quantity": "1",
            "occurred_on": last_day_of(previous),
            "idempotency_key": "late",
        },
        headers=scheme.coord.auth,
    )
    body = assert_problem(resp, 409, "period_closed")
    assert body["month"] == str(previous)
    assert snapshot(db) == before
    # The same work dated in the open month is fine.
    resp = client.post(
        "/api/v1/earnings",
        json={
            "member_email": scheme.ann.email,
            "activity": "snow-clearing",
            "quantity": "1",
            "occurred_on": dates.london_today().isoformat(),
            "idempotency_key": "today",
        },
        headers=scheme.coord.auth,
    )
    assert resp.status_code == 201, resp.get_json()


# --- redeem ---------------------------------------------------------------------------------


def test_an_offline_redemption_accepted_in_a_month_since_closed_posts_in_the_open_month(
    client, db, make_person
):
    ann = make_person(Role.MEMBER, credits=50)
    till = make_terminal(db)
    v = issue(client, ann, 12)
    month = Month.containing(utcnow())
    accepted = max(utcnow() + timedelta(minutes=1), month.ends_at - timedelta(hours=1))
    # The terminal comes back online two days into the next month, after the close.
    with freeze_time(month.ends_at + timedelta(days=2)):
        close(db, month)
        resp = redeem(client, till, v["code"], key="late", offline_accepted_at=accepted.isoformat())
        assert resp.status_code == 201, resp.get_json()
        body = resp.get_json()
        assert body["status"] == "redeemed" and body["offline"] is True
    with db.read() as s:
        row = s.get(Redemption, body["id"])
        assert row is not None
        counter_time = row.offline_accepted_at
        entry_id = row.entry_id
    assert counter_time == accepted
    assert Month.containing(counter_time) == month  # the counter's time, in the closed month
    assert entry_month(db, entry_id) == month.next()  # the entry, in the open month


def test_an_online_redemption_is_dated_now_never_in_the_closed_month(client, db, make_person):
    ann = make_person(Role.MEMBER, credits=50)
    till = make_terminal(db)
    v = issue(client, ann, 12)
    month = Month.containing(utcnow())
    with freeze_time(month.ends_at + timedelta(minutes=5)):
        close(db, month)
        resp = redeem(client, till, v["code"], key="after-close")
        assert resp.status_code == 201, resp.get_json()
    with db.read() as s:
        row = s.get(Redemption, resp.get_json()["id"])
        assert row is not None
    assert entry_month(db, row.entry_id) == month.next()


# --- reverse --------------------------------------------------------------------------------


def test_reversing_a_redemption_made_in_a_closed_month_posts_in_the_open_month(
    client, db, make_person
):
    officer = make_person(Role.OFFICER)
    ann = make_person(Role.MEMBER, credits=50)
    till = make_terminal(db)
    v = issue(client, ann, 20)
    rid = redeem(client, till, v["code"], amount=15).get_json()["id"]
    month = Month.containing(utcnow())
    with freeze_time(month.ends_at + timedelta(days=3)):
        close(db, month)
        resp = client.post(
            f"/api/v1/redemptions/{rid}/reverse",
            json={"reason": "charged twice"},
            headers=officer.auth,
        )
        assert resp.status_code == 200, resp.get_json()
    with db.read() as s:
        row = s.get(Redemption, rid)
        assert row is not None and row.reversal_entry_id and row.return_entry_id
        original, mirror, back = row.entry_id, row.reversal_entry_id, row.return_entry_id
    assert entry_month(db, original) == month
    assert entry_month(db, mirror) == month.next()
    assert entry_month(db, back) == month.next()
    with db.read() as s:
        assert ledger.balance(s, ann.account_id) == 50


def test_the_ledger_refuses_a_reversal_dated_into_a_closed_month(db, make_person, previous):
    """The reversal helper dates corrections now; a hand-made mirror entry dated in the
    closed month is refused like any other entry."""
    ann = make_person(Role.MEMBER, credits=10)
    close(db, previous)

    def backdated(s: Any) -> None:
        issuance = ledger.scheme_account(s, ledger.ISSUANCE).id
        ledger.post_entry(
            s,
            ledger.EntryRequest(
                kind=ledger.EntryKind.ADJUSTMENT,
                legs=(ledger.Leg(ann.account_id, -5), ledger.Leg(issuance, 5)),
                memo="correction dated last month",
                actor="test",
                idempotency_key="backdated-correction",
                occurred_at=previous.ends_at - timedelta(minutes=30),
            ),
        )

    before = snapshot(db)
    with pytest.raises(ledger.PeriodClosed):
        db.run(backdated)
    assert snapshot(db) == before


# --- adjust ---------------------------------------------------------------------------------


def _adjust(client: Any, officer: Any, member: Any, amount: int, **extra: Any) -> Any:
    return client.post(
        "/api/v1/adjustments",
        json={
            "person_id": member.id,
            "direction": "credit",
            "amount": amount,
            "reason": "late sheet",
            "idempotency_key": f"adj-{amount}-{extra.get('occurred_on')}",
            **extra,
        },
        headers=officer.auth,
    )


def test_an_adjustment_may_not_be_dated_into_a_closed_month(client, db, make_person, previous):
    officer = make_person(Role.OFFICER)
    member = make_person(Role.MEMBER, credits=10)
    close(db, previous)
    before = snapshot(db)
    body = assert_problem(
        _adjust(client, officer, member, 5, occurred_on=last_day_of(previous)), 409, "period_closed"
    )
    assert body["month"] == str(previous)
    assert snapshot(db) == before
    # Undated, it posts now, in the open month.
    done = _adjust(client, officer, member, 5).get_json()
    assert entry_month(db, done["entry_id"]) == Month.containing(utcnow())


def test_a_pending_adjustment_whose_month_closes_cannot_be_approved(
    client, db, make_person, previous
):
    officer = make_person(Role.OFFICER)
    second = make_person(Role.OFFICER)
    member = make_person(Role.MEMBER, credits=10)
    pending = _adjust(client, officer, member, 80, occurred_on=last_day_of(previous)).get_json()
    assert pending["state"] == "pending"
    close(db, previous)
    before = snapshot(db)
    assert_problem(
        client.post(f"/api/v1/adjustments/{pending['id']}/approve", headers=second.auth),
        409,
        "period_closed",
    )
    assert snapshot(db) == before


def test_a_dated_adjustment_in_the_open_month_is_dated_that_day(client, db, make_person):
    officer = make_person(Role.OFFICER)
    member = make_person(Role.MEMBER, credits=10)
    today = dates.london_today()
    done = _adjust(client, officer, member, 5, occurred_on=today.isoformat()).get_json()
    with db.read() as s:
        entry = ledger.get_entry(s, done["entry_id"])
    assert entry.occurred_at == dates.entry_time(today)


# --- the database itself --------------------------------------------------------------------


@pytest.mark.postgres
def test_postgres_refuses_a_raw_insert_dated_in_a_closed_month(db, previous):
    close(db, previous)
    insert = text(
        "INSERT INTO journal_entry (kind, memo, actor, occurred_at, recorded_at, "
        "idempotency_key, request_hash, lane, lane_seq, content_hash, prev_hash, hash) "
        "VALUES ('earn', 'raw', 'test', :at, now(), :key, repeat('0', 64), 0, 999999, "
        "repeat('0', 64), repeat('0', 64), repeat('0', 64))"
    )
    at: datetime = previous.ends_at - timedelta(minutes=30)
    with pytest.raises(DBAPIError) as info, db.engine.begin() as conn:
        conn.execute(insert, {"at": at, "key": "raw-backdated"})
    assert getattr(info.value.orig, "sqlstate", None) == "CR002"
    with db.read() as s:
        assert (
            s.execute(text("SELECT count(*) FROM journal_entry WHERE memo = 'raw'")).scalar() == 0
        )
