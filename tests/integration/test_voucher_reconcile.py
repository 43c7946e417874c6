"""`credits verify` checks the vouchers against the ledger; PostgreSQL guards the rows."""

import json

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from credits.accounts import Role
from credits.cli import main as cli

from .test_ledger_tamper import raw
from .voucher_helpers import issue


@pytest.fixture
def vouchers(client, make_person):
    ann = make_person(Role.MEMBER, credits=100)
    open_one = issue(client, ann, 30).get_json()["id"]
    cancelled = issue(client, ann, 20).get_json()["id"]
    client.post(f"/api/v1/vouchers/{cancelled}/cancel", headers=ann.auth)
    return open_one, cancelled


def report(runner):
    result = runner.invoke(cli, ["verify", "--json"])
    return result.exit_code, {c["name"]: c for c in json.loads(result.output)["checks"]}


def test_verify_passes_and_names_the_voucher_checks(runner, vouchers):
    code, checks = report(runner)
    assert code == 0
    assert checks["vouchers_outstanding"]["ok"] and checks["vouchers_outstanding"]["checked"] == 1
    assert checks["voucher_entries"]["ok"] and checks["voucher_entries"]["checked"] == 2


def test_a_voucher_marked_closed_behind_the_ledgers_back_is_reported(db, runner, vouchers):
    open_one, _ = vouchers
    raw(
        db,
        "UPDATE voucher SET state = 'cancelled', closed_at = issued_at, closed_by = 'x' "
        "WHERE id = :v",
        v=open_one,
    )
    code, checks = report(runner)
    assert code == 1
    assert any("30" in p for p in checks["vouchers_outstanding"]["problems"])
    assert any(open_one in p for p in checks["voucher_entries"]["problems"])


def test_a_changed_face_value_is_reported(db, runner, vouchers):
    open_one, _ = vouchers
    raw(db, "UPDATE voucher SET face_value = 300 WHERE id = :v", v=open_one)
    code, checks = report(runner)
    assert code == 1 and not checks["vouchers_outstanding"]["ok"]
    assert any(
        f"voucher {open_one}: its issue entry" in p for p in checks["voucher_entries"]["problems"]
    )


def test_a_reopened_voucher_is_reported(db, runner, vouchers):
    _, cancelled = vouchers
    raw(
        db,
        "UPDATE voucher SET state = 'open', closed_at = NULL, closed_by = NULL, "
        "closed_entry_id = NULL WHERE id = :v",
        v=cancelled,
    )
    code, checks = report(runner)
    assert code == 1
    assert any(
        f"voucher {cancelled} is open but has a closing entry" in p
        for p in checks["voucher_entries"]["problems"]
    )


@pytest.mark.postgres
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE voucher SET state = 'open', closed_at = NULL, closed_by = NULL, "
        "closed_entry_id = NULL WHERE id = :v",
        "UPDATE voucher SET state = 'redeemed' WHERE id = :v",
        "UPDATE voucher SET face_value = face_value + 1 WHERE id = :v",
        "UPDATE voucher SET expires_at = expires_at + interval '1 year' WHERE id = :v",
        "DELETE FROM voucher WHERE id = :v",
    ],
)
def test_postgres_refuses_changing_a_closed_voucher(db, vouchers, sql):
    _, cancelled = vouchers
    with pytest.raises(DBAPIError) as exc, db.engine.begin() as conn:
        conn.execute(text(sql), {"v": cancelled})
    assert getattr(exc.value.orig, "sqlstate", None) == "CRV01"


@pytest.mark.postgres
def test_postgres_refuses_changing_an_open_vouchers_value(db, vouchers):
    open_one, _ = vouchers
    with pytest.raises(DBAPIError), db.engine.begin() as conn:
        conn.execute(text("UPDATE voucher SET face_value = 1 WHERE id = :v"), {"v": open_one})


@pytest.fixture
def three_more(client, make_person, vouchers):
    """Besides ``vouchers``: bob's two cancelled vouchers and an open one."""
    bob = make_person(Role.MEMBER, credits=100)
    ids = [issue(client, bob, amount).get_json()["id"] for amount in (10, 15, 5)]
    for vid in ids[:2]:
        client.post(f"/api/v1/vouchers/{vid}/cancel", headers=bob.auth)
    return ids


def test_every_rule_is_found_among_many_vouchers_in_issue_order(db, runner, three_more):
    """The database picks the suspects; each is described by the rule it breaks, in the
    order the vouchers were issued."""
    first, second, still_open = three_more
    with db.read() as s:
        close_of = dict(
            s.execute(
                text("SELECT id, closed_entry_id FROM voucher WHERE closed_entry_id IS NOT NULL")
            ).all()
        )
    # The first cancelled voucher now names the second one's closing entry (not keyed to it),
    # the second lost its closing entry, and the open one claims a closing entry.
    raw(db, "UPDATE voucher SET closed_entry_id = NULL WHERE id = :v", v=second)
    raw(db, "UPDATE voucher SET closed_entry_id = :e WHERE id = :v", e=close_of[second], v=first)
    raw(
        db,
        "UPDATE voucher SET state = 'expired', closed_at = issued_at, closed_by = 'x' "
        "WHERE id = :v",
        v=still_open,
    )
    code, checks = report(runner)
    assert code == 1
    problems = checks["voucher_entries"]["problems"]
    assert problems == [
        f"voucher {first}: closing entry {close_of[second]} does not return 10",
        f"voucher {second} is cancelled but no entry returned its value",
        f"voucher {still_open} is expired but no entry returned its value",
    ]


@pytest.mark.parametrize(
    "edits",
    [
        # The member's leg moved to another member's account (amounts still balance).
        ["UPDATE posting SET account_id = :other WHERE entry_id = :e AND account_id = :m"],
        # A third posting: the issue still nets to zero but no longer moves exactly f.
        [
            "UPDATE posting SET amount = amount - 1 WHERE entry_id = :e AND account_id = :m",
            "INSERT INTO posting (entry_id, account_id, amount) VALUES (:e, :other, 1)",
        ],
    ],
    ids=["other-member", "third-posting"],
)
def test_an_issue_entry_moving_anything_but_exactly_its_voucher_is_reported(
    db, runner, make_person, vouchers, edits
):
    open_one, _ = vouchers
    bob = make_person(Role.MEMBER)
    with db.engine.connect() as conn:
        entry, member = conn.execute(
            text("SELECT issue_entry_id, account_id FROM voucher WHERE id = :v"), {"v": open_one}
        ).one()
    for edit in edits:
        raw(db, edit, e=entry, m=member, other=bob.account_id)
    code, checks = report(runner)
    assert code == 1
    assert checks["voucher_entries"]["problems"] == [
        f"voucher {open_one}: its issue entry {entry} does not move exactly 30"
    ]
