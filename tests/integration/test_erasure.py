"""`credits erase-person` (credits/erasure.py): a departed member's personal data
goes; the ledger keeps every entry, balanced and hash-chained, under a pseudonym."""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import text

from credits import audit, ledger
from credits.accounts import Role
from credits.cli import main as cli
from credits.db import utcnow

from .test_redemption import issue, make_terminal, redeem


@pytest.fixture
def officer(make_person):
    return make_person(Role.OFFICER, name="Olu Officer")


@pytest.fixture
def departed(client, db, make_person, officer):
    """Ann earned 50 credits, spent them all at a shop, and signed in now and then; her
    email is quoted in a group event, and someone else's event mentions 'Annual'."""
    ann = make_person(Role.MEMBER, credits=50, name="Annabel Quist")
    till = make_terminal(db)
    for amount, key in ((20, "a"), (30, "b")):
        assert redeem(client, till, issue(client, ann, amount)["code"], key=key).status_code == 201

    def events(s):
        audit.record(
            s, audit.Actor.person(ann.id, via="session:1"), "auth.sign_in", f"person:{ann.id}",
            ip="203.0.113.5",
        )  # fmt: skip
        audit.record(s, audit.Actor.system("test"), "group.add_member", "group:1", email=ann.email)
        audit.record(s, audit.Actor.anonymous(), "auth.sign_in_failed", f"login:{ann.email}")
        audit.record(
            s,
            audit.Actor.system("test"),
            "group.create",
            "group:2",
            name="Annual Annabel Quist walk",
        )

    db.run(events)
    return ann


def erase(runner, who, officer, *extra):
    return runner.invoke(
        cli, ["erase-person", str(who), "--by", officer.email, "--reason", "ticket 4711", *extra]
    )


def details(event):
    return json.loads(event.details) if isinstance(event.details, str) else event.details


def ledger_fingerprint(db):
    """Every journal entry and posting, as stored."""
    with db.read() as s:
        rows = s.execute(
            text(
                "SELECT e.id, e.hash, e.memo, e.actor, p.account_id, p.amount FROM journal_entry e "
                "JOIN posting p ON p.entry_id = e.id ORDER BY e.id, p.account_id"
            )
        ).all()
    return hashlib.sha256(repr(rows).encode()).hexdigest(), len(rows)


def test_erasure_keeps_the_ledger_and_forgets_the_person(
    client, db, runner, departed, officer, make_person
):
    ann = departed
    month = str(ledger.Month.containing(utcnow()))
    statement = runner.invoke(cli, ["statement", "--month", month, "--format", "json"])
    assert statement.exit_code == 0, statement.output
    before = ledger_fingerprint(db)

    result = erase(runner, ann.email, officer, "--yes")
    assert result.exit_code == 0, result.output
    assert f"person {ann.id} is now 'Former member {ann.id}'" in result.output

    # The ledger: every entry as it was, verify passes, the month's statement is the same.
    assert ledger_fingerprint(db) == before
    assert runner.invoke(cli, ["verify"]).exit_code == 0
    again = runner.invoke(cli, ["statement", "--month", month, "--format", "json"])
    assert again.output == statement.output
    with db.read() as s:
        person = s.execute(
            text("SELECT name, email, phone, password_hash, status FROM person WHERE id = :p"),
            {"p": ann.id},
        ).one()
        account = s.execute(
            text("SELECT name FROM account WHERE id = :a"), {"a": ann.account_id}
        ).scalar_one()
        roles = s.execute(
            text("SELECT count(*) FROM person_role WHERE person_id = :p"), {"p": ann.id}
        ).scalar_one()
    assert tuple(person) == (
        f"Former member {ann.id}",
        f"erased-{ann.id}@erased.invalid",
        None,
        None,
        "erased",
    )
    assert account == f"Former member {ann.id}" and roles == 0
    # She can no longer act: her token is revoked.
    assert client.get("/api/v1/me/balance", headers=ann.auth).status_code == 401

    # The audit log: her email, name and address are gone from every event about her or
    # quoting her address; someone else's event keeps its text.
    with db.read() as s:
        events = s.execute(
            text("SELECT action, target_ref, details FROM audit_event ORDER BY id")
        ).all()
    everything = repr(events)
    assert ann.email not in everything and "203.0.113.5" not in everything
    by_action = {e.action: e for e in events}
    assert details(by_action["group.add_member"]) == {"email": f"Former member {ann.id}"}
    assert by_action["auth.sign_in_failed"].target_ref == f"login:Former member {ann.id}"
    # Her name is chased only in events about her (a name is too common a string).
    assert details(by_action["group.create"]) == {"name": "Annual Annabel Quist walk"}
    assert details(by_action["auth.sign_in"]) == {}
    erased = by_action["person.erase"]
    assert erased.target_ref == f"person:{ann.id}"
    assert details(erased) == {"reason": "ticket 4711", "redacted": 3}
    redaction = by_action["audit.redact"]
    assert redaction.target_ref == f"person:{ann.id}" and details(redaction) == {"events": 3}

    # Nobody can put data back on the pseudonym, and it cannot be erased twice.
    officer_token = make_person(Role.OFFICER).auth
    resp = client.patch(f"/api/v1/people/{ann.id}", json={"name": "Ann"}, headers=officer_token)
    assert resp.status_code == 409 and resp.get_json()["code"] == "wrong_status"
    twice = erase(runner, ann.id, officer, "--yes")
    assert twice.exit_code == 2 and "already erased" in twice.output


def test_a_member_with_credits_or_open_vouchers_is_not_erased(
    client, db, runner, make_person, officer
):
    bea = make_person(Role.MEMBER, credits=40, name="Bea Member")
    issue(client, bea, 15)
    before = ledger_fingerprint(db)
    result = erase(runner, bea.id, officer, "--yes")
    assert result.exit_code == 2
    assert "erasure_refused" in result.output
    assert "they hold 25 credits" in result.output and "1 open voucher(s)" in result.output
    assert ledger_fingerprint(db) == before
    with db.read() as s:
        name = s.execute(text("SELECT name FROM person WHERE id = :p"), {"p": bea.id}).scalar()
    assert name == "Bea Member"


def test_only_an_active_officer_decides_an_erasure(runner, make_person, departed):
    member = make_person(Role.MEMBER)
    result = erase(runner, departed.id, member, "--yes")
    assert result.exit_code == 2 and "is not an active officer" in result.output


def test_the_erasure_asks_before_it_acts(runner, departed, officer, db):
    result = runner.invoke(
        cli,
        ["erase-person", str(departed.id), "--by", officer.email, "--reason", "ticket 1"],
        input="n\n",
    )
    assert result.exit_code == 1 and "Aborted" in result.output
    with db.read() as s:
        status = s.execute(
            text("SELECT status FROM person WHERE id = :p"), {"p": departed.id}
        ).scalar()
    assert status == "active"
