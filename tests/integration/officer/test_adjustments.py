"""Manual adjustments: an officer credits or debits a member, with a reason; four eyes above
the threshold (default 50); audited; idempotent; a member never goes below zero."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from credits import ledger
from credits.accounts import Role
from tests.problems import assert_problem

from ..people_helpers import snapshot
from ..voucher_helpers import balance, verify_all


def ask(
    client: Any, officer: Any, member: Any, amount: Any, direction: str = "credit", **extra: Any
) -> Any:
    payload = {
        "person_id": member.id,
        "direction": direction,
        "amount": amount,
        "reason": extra.pop("reason", "Snow day sheet lost: 3 hours not recorded"),
        "idempotency_key": extra.pop("key", uuid.uuid4().hex),
        **extra,
    }
    return client.post("/api/v1/adjustments", json=payload, headers=officer.auth)


def adjustments_balance(db: Any) -> int:
    with db.read() as s:
        return ledger.balance(s, ledger.scheme_account(s, ledger.ADJUSTMENTS).id)


def audit_rows(db: Any, adjustment_id: int) -> list[tuple[str, str, Any]]:
    with db.read() as s:
        return [
            (r[0], r[1], json.loads(r[2]) if isinstance(r[2], str) else r[2])
            for r in s.execute(
                text(
                    "SELECT action, actor, details FROM audit_event WHERE target_ref = :t "
                    "ORDER BY id"
                ),
                {"t": f"adjustment:{adjustment_id}"},
            )
        ]


@pytest.fixture
def officer(make_person: Any) -> Any:
    return make_person(Role.OFFICER, name="Olive Officer")


@pytest.fixture
def second_officer(make_person: Any) -> Any:
    return make_person(Role.OFFICER, name="Oscar Officer")


@pytest.fixture
def member(make_person: Any) -> Any:
    return make_person(Role.MEMBER, credits=30, name="Mo Member")


def test_a_small_credit_posts_at_once_with_its_reason_in_the_members_history(
    client, db, officer, member
):
    resp = ask(client, officer, member, 12)
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["state"] == "posted" and body["needs_approval"] is False
    assert body["amount"] == 12 and body["direction"] == "credit"
    assert body["requested_by_person_id"] == officer.id and body["decided_by"] is None
    assert balance(db, member.account_id) == 42
    assert adjustments_balance(db) == -12
    with db.read() as s:
        entry = ledger.get_entry(s, body["entry_id"])
    assert entry.kind is ledger.EntryKind.ADJUSTMENT
    assert sum(p.amount_credits for p in entry.postings) == 0
    assert entry.amount_for(member.account_id) == 12
    assert "Snow day sheet lost" in entry.memo

    history = client.get("/api/v1/me/entries", headers=member.auth).get_json()
    first = history["items"][0]
    assert first["amount"] == 12
    assert first["description"] == (
        "Adjustment by the council: Snow day sheet lost: 3 hours not recorded"
    )
    actions = [a for a, _, _ in audit_rows(db, body["id"])]
    assert actions == ["adjustment.request", "adjustment.post"]
    assert all(
        actor.startswith(f"person:{officer.id} as officer")
        for _, actor, _ in audit_rows(db, body["id"])
    )
    assert verify_all(db) == []


def test_a_debit_takes_credits_back_but_never_below_zero(client, db, officer, member):
    resp = ask(client, officer, member, 30, "debit", reason="Credited twice by mistake")
    assert resp.status_code == 201
    assert balance(db, member.account_id) == 0
    assert adjustments_balance(db) == 30
    before = snapshot(db)
    assert_problem(ask(client, officer, member, 1, "debit"), 409, "insufficient_funds")
    assert snapshot(db) == before


@pytest.mark.parametrize("amount", [0, -5, 1.5, "10", True, None, 10_001, 2**63])
def test_amounts_are_positive_whole_numbers_up_to_the_maximum(client, db, officer, member, amount):
    before = snapshot(db)
    assert_problem(ask(client, officer, member, amount), 422, "validation_error")
    assert snapshot(db) == before


@pytest.mark.parametrize(
    "change",
    [
        {"reason": ""},
        {"reason": "   "},
        {"reason": "x" * 301},
        {"direction": "gift"},
        {"key": ""},
        {"key": "caf\u00e9"},
        {"occurred_on": "yesterday"},
    ],
)
def test_bad_requests_change_nothing(client, db, officer, member, change):
    before = snapshot(db)
    resp = ask(client, officer, member, 5, **change)
    assert_problem(resp, 422, "validation_error")
    assert snapshot(db) == before


def test_unknown_people_and_people_without_a_credits_account(client, db, officer, make_person):
    coordinator = make_person(Role.COORDINATOR)  # has no member account
    before = snapshot(db)
    assert_problem(ask(client, officer, coordinator, 5), 422, "unknown_member")
    ghost = type("Ghost", (), {"id": 10**9})()
    assert_problem(ask(client, officer, ghost, 5), 422, "unknown_member")
    assert snapshot(db) == before


def test_nobody_adjusts_their_own_balance(client, db, make_person):
    both = make_person(Role.OFFICER, roles=(Role.OFFICER, Role.MEMBER))
    before = snapshot(db)
    assert_problem(ask(client, both, both, 5), 403, "self_adjustment")
    assert snapshot(db) == before


def test_above_the_threshold_a_second_officer_must_approve(
    client, db, officer, second_officer, member, make_person
):
    resp = ask(client, officer, member, 51, reason="Good Gym season: runs lost in the outage")
    assert resp.status_code == 202, resp.get_json()
    pending = resp.get_json()
    assert pending["state"] == "pending" and pending["needs_approval"] is True
    assert pending["entry_id"] is None
    assert resp.headers["Location"].endswith(f"/api/v1/adjustments/{pending['id']}")
    assert balance(db, member.account_id) == 30

    listed = client.get("/api/v1/adjustments?state=pending", headers=second_officer.auth).get_json()
    assert [x["id"] for x in listed["items"]] == [pending["id"]]

    # The officer who asked can neither approve nor reject it.
    before = snapshot(db)
    url = f"/api/v1/adjustments/{pending['id']}"
    assert_problem(
        client.post(url + "/approve", headers=officer.auth), 403, "second_approver_required"
    )
    assert_problem(
        client.post(url + "/reject", json={"reason": "no"}, headers=officer.auth),
        403,
        "second_approver_required",
    )
    assert snapshot(db) == before

    approved = client.post(url + "/approve", headers=second_officer.auth)
    assert approved.status_code == 200, approved.get_json()
    done = approved.get_json()
    assert done["state"] == "posted" and done["decided_by_person_id"] == second_officer.id
    assert balance(db, member.account_id) == 81
    assert [a for a, _, _ in audit_rows(db, done["id"])] == [
        "adjustment.request",
        "adjustment.approve",
        "adjustment.post",
    ]
    # The entry is attributed to the officer who approved it (who caused the posting).
    with db.read() as s:
        assert ledger.get_entry(s, done["entry_id"]).actor.startswith(
            f"person:{second_officer.id} "
        )

    # Approving again: the same officer gets it back; anyone else is told it is decided.
    again = client.post(url + "/approve", headers=second_officer.auth)
    assert again.status_code == 200 and again.get_json()["replayed"] is True
    third = make_person(Role.OFFICER)
    assert_problem(client.post(url + "/approve", headers=third.auth), 409, "adjustment_not_pending")
    assert_problem(
        client.post(url + "/reject", json={"reason": "late"}, headers=third.auth),
        409,
        "adjustment_not_pending",
    )
    assert balance(db, member.account_id) == 81
    assert verify_all(db) == []


def test_exactly_the_threshold_posts_at_once(client, db, officer, member):
    assert ask(client, officer, member, 50).status_code == 201
    assert balance(db, member.account_id) == 80


def test_a_rejected_request_posts_nothing_and_says_why(client, db, officer, second_officer, member):
    pending = ask(client, officer, member, 200).get_json()
    url = f"/api/v1/adjustments/{pending['id']}"
    assert_problem(
        client.post(url + "/reject", json={"reason": ""}, headers=second_officer.auth),
        422,
        "validation_error",
    )
    resp = client.post(
        url + "/reject", json={"reason": "No sheet to support it"}, headers=second_officer.auth
    )
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["state"] == "rejected" and body["decision_reason"] == "No sheet to support it"
    assert balance(db, member.account_id) == 30 and adjustments_balance(db) == 0
    assert_problem(
        client.post(url + "/approve", headers=second_officer.auth), 409, "adjustment_not_pending"
    )
    actions = audit_rows(db, body["id"])
    assert [a for a, _, _ in actions] == ["adjustment.request", "adjustment.reject"]
    assert actions[1][2]["reason"] == "No sheet to support it"


def test_a_pending_debit_is_checked_again_when_approved(
    client, db, officer, second_officer, member
):
    pending = ask(client, officer, member, 25, "debit").get_json()
    assert pending["state"] == "posted"  # 25 ≤ 50: at once; the member now holds 5
    big = ask(client, officer, member, 60, "credit").get_json()
    assert big["state"] == "pending"
    debit = ask(client, officer, member, 70, "debit")
    # More than they hold now: refused when asked.
    assert_problem(debit, 409, "insufficient_funds")


def test_a_debit_that_no_longer_fits_when_approved_is_refused_and_stays_pending(
    client, db, officer, second_officer, member, make_person
):
    rich = make_person(Role.MEMBER, credits=100)
    pending = ask(client, officer, rich, 80, "debit").get_json()
    assert pending["state"] == "pending"
    ask(client, officer, rich, 40, "debit")  # posts at once: 60 left
    url = f"/api/v1/adjustments/{pending['id']}/approve"
    before = snapshot(db)
    assert_problem(client.post(url, headers=second_officer.auth), 409, "insufficient_funds")
    assert snapshot(db) == before
    got = client.get(f"/api/v1/adjustments/{pending['id']}", headers=officer.auth).get_json()
    assert got["state"] == "pending" and got["decided_by"] is None


def test_the_same_key_returns_the_first_adjustment_and_posts_nothing_new(
    client, db, officer, member
):
    first = ask(client, officer, member, 7, key="k-1")
    again = ask(client, officer, member, 7, key="k-1")
    assert first.status_code == again.status_code == 201
    assert again.get_json()["id"] == first.get_json()["id"]
    assert again.get_json()["replayed"] is True
    assert balance(db, member.account_id) == 37
    before = snapshot(db)
    assert_problem(ask(client, officer, member, 8, key="k-1"), 409, "idempotency_conflict")
    assert snapshot(db) == before


class TestAThresholdOfTen:
    @pytest.fixture
    def settings_overrides(self, settings_overrides: dict[str, Any]) -> dict[str, Any]:
        return {**settings_overrides, "ADJUSTMENT_FOUR_EYES_CREDITS": "10"}

    def test_the_threshold_is_a_setting(self, client, db, officer, member):
        assert ask(client, officer, member, 10).status_code == 201
        assert ask(client, officer, member, 11).status_code == 202


def test_the_database_refuses_a_decision_by_the_requester(client, db, officer, member):
    pending = ask(client, officer, member, 99).get_json()
    with pytest.raises(IntegrityError), db.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE adjustment SET decided_by_person_id = requested_by_person_id WHERE id = :id"
            ),
            {"id": pending["id"]},
        )


def test_verify_finds_an_adjustment_edited_behind_the_ledgers_back(client, db, officer, member):
    done = ask(client, officer, member, 9).get_json()
    assert verify_all(db) == []
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE adjustment SET amount = 19 WHERE id = :id"), {"id": done["id"]})
    problems = verify_all(db)
    assert problems == [
        f"adjustment {done['id']}: says credit 19, its entry moved 9 to the member and -9 "
        "to the adjustments account"
    ]


def test_the_openapi_document_describes_the_adjustments_api(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    create = doc["paths"]["/api/v1/adjustments"]["post"]
    assert set(create["responses"]) >= {"201", "202"}
    body = doc["components"]["schemas"]["AdjustmentIn"]
    assert set(body["required"]) == {
        "person_id",
        "direction",
        "amount",
        "reason",
        "idempotency_key",
    }
    for action in ("approve", "reject"):
        assert f"/api/v1/adjustments/{{adjustment_id}}/{action}" in doc["paths"]
