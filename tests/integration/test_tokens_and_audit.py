"""API tokens people manage themselves and officers manage for everyone; the audit log."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from credits import audit
from credits.accounts import Role
from credits.accounts.tokens import MAX_ACTIVE_TOKENS
from tests.problems import assert_problem

from .people_helpers import audit_actions, snapshot


@pytest.fixture
def officer(make_person):
    return make_person(Role.OFFICER)


def test_a_person_makes_lists_and_revokes_their_own_tokens(client, make_person, db):
    ann = make_person(Role.MEMBER)
    made = client.post("/api/v1/me/tokens", json={"name": "spreadsheet"}, headers=ann.auth)
    assert made.status_code == 201
    body = made.get_json()
    secret = body["token"]
    assert secret.startswith("cc_") and body["role"] == "member" and body["active"] is True
    assert body["created_by"].startswith(f"person:{ann.id} as member via token:")
    new_auth = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/me", headers=new_auth).get_json()["id"] == ann.id
    listed = client.get("/api/v1/me/tokens", headers=ann.auth).get_json()
    assert listed["total"] == 2 and all("token" not in t for t in listed["items"])
    with db.engine.connect() as conn:
        hashes = conn.execute(text("SELECT token_hash FROM api_token")).scalars().all()
    assert secret not in hashes and all(secret not in h for h in hashes)
    gone = client.post(f"/api/v1/me/tokens/{body['id']}/revoke", headers=ann.auth)
    assert gone.status_code == 200 and gone.get_json()["active"] is False
    assert_problem(client.get("/api/v1/me", headers=new_auth), 401, "unauthorized")
    # Revoking again is harmless and records nothing new.
    before = snapshot(db)
    assert (
        client.post(f"/api/v1/me/tokens/{body['id']}/revoke", headers=ann.auth).status_code == 200
    )
    assert snapshot(db) == before
    assert audit_actions(db, f"token:{body['id']}") == ["token.create", "token.revoke"]
    active = client.get("/api/v1/me/tokens?active=true", headers=ann.auth).get_json()
    assert active["total"] == 1


def test_a_token_makes_tokens_only_for_its_own_role(client, make_person, db):
    cara = make_person(Role.COORDINATOR, roles=(Role.COORDINATOR, Role.MEMBER, Role.OFFICER))
    before = snapshot(db)
    resp = client.post(
        "/api/v1/me/tokens", json={"name": "escalate", "role": "officer"}, headers=cara.auth
    )
    assert_problem(resp, 403, "forbidden")
    assert snapshot(db) == before


@pytest.mark.parametrize(
    "body, status",
    [
        ({}, 422),
        ({"name": ""}, 422),
        ({"name": "x" * 101}, 422),
        ({"name": 3}, 422),
        ({"name": "ok", "role": "wizard"}, 422),
        ({"name": "ok", "role": "terminal"}, 422),
        ({"name": "ok", "secret": "mine"}, 422),
    ],
)
def test_bad_token_requests_write_nothing(client, make_person, db, body, status):
    ann = make_person(Role.MEMBER)
    before = snapshot(db)
    assert client.post("/api/v1/me/tokens", json=body, headers=ann.auth).status_code == status
    assert snapshot(db) == before


def test_at_most_twenty_working_tokens(client, make_person):
    ann = make_person(Role.MEMBER)  # holds one already
    for n in range(MAX_ACTIVE_TOKENS - 1):
        assert (
            client.post("/api/v1/me/tokens", json={"name": f"t{n}"}, headers=ann.auth).status_code
            == 201
        )
    assert_problem(
        client.post("/api/v1/me/tokens", json={"name": "one too many"}, headers=ann.auth),
        409,
        "too_many_tokens",
    )


def test_nobody_revokes_someone_elses_token_as_their_own(client, make_person, db):
    ann, bob = make_person(Role.MEMBER), make_person(Role.MEMBER)
    bobs = client.get("/api/v1/me/tokens", headers=bob.auth).get_json()["items"][0]["id"]
    before = snapshot(db)
    assert_problem(
        client.post(f"/api/v1/me/tokens/{bobs}/revoke", headers=ann.auth), 404, "not_found"
    )
    assert_problem(
        client.post("/api/v1/me/tokens/999999/revoke", headers=ann.auth), 404, "not_found"
    )
    assert snapshot(db) == before
    assert client.get("/api/v1/me", headers=bob.auth).status_code == 200


def test_officers_list_and_revoke_anyones_tokens(client, officer, make_person, db):
    ann = make_person(Role.MEMBER, name="Ann Okafor")
    make_person(Role.COORDINATOR)
    everyone = client.get("/api/v1/tokens", headers=officer.auth).get_json()
    assert everyone["total"] == 3
    anns = client.get(f"/api/v1/tokens?person_id={ann.id}", headers=officer.auth).get_json()
    assert [t["holder"] for t in anns["items"]] == ["Ann Okafor"]
    token_id = anns["items"][0]["id"]
    revoked = client.post(f"/api/v1/tokens/{token_id}/revoke", headers=officer.auth).get_json()
    assert revoked["revoked_by"].startswith(f"person:{officer.id} as officer")
    assert_problem(client.get("/api/v1/me", headers=ann.auth), 401, "unauthorized")
    assert client.get("/api/v1/tokens?active=false", headers=officer.auth).get_json()["total"] == 1
    assert_problem(
        client.post("/api/v1/tokens/999999/revoke", headers=officer.auth), 404, "not_found"
    )
    assert_problem(
        client.get("/api/v1/tokens?person_id=0", headers=officer.auth), 422, "validation_error"
    )


def test_officers_cannot_revoke_an_admins_token(client, officer, make_person, db):
    ada = make_person(Role.ADMIN)
    ada_token = client.get(f"/api/v1/tokens?person_id={ada.id}", headers=officer.auth).get_json()
    token_id = ada_token["items"][0]["id"]
    assert_problem(
        client.post(f"/api/v1/tokens/{token_id}/revoke", headers=officer.auth), 403, "forbidden"
    )
    assert client.get("/api/v1/me", headers=ada.auth).status_code == 200


# --- the audit log ---------------------------------------------------------------------------


def test_audit_events_record_who_when_how_and_filter(client, officer, make_person, db):
    ann = make_person(Role.MEMBER)
    client.post(f"/api/v1/people/{ann.id}/disable", json={"reason": "Moved"}, headers=officer.auth)
    client.post(f"/api/v1/people/{ann.id}/enable", headers=officer.auth)
    events = client.get(
        f"/api/v1/audit-events?person_id={ann.id}", headers=officer.auth
    ).get_json()["items"]
    assert [e["action"] for e in events] == ["person.enable", "person.disable"]
    disable = events[1]
    assert disable["actor"].startswith(f"person:{officer.id} as officer via token:")
    assert disable["actor_person_id"] == officer.id and disable["via"].startswith("token:")
    assert disable["target_ref"] == f"person:{ann.id}" and disable["details"]["reason"] == "Moved"
    assert disable["occurred_at"].endswith("+00:00")
    by_prefix = client.get("/api/v1/audit-events?action=person.", headers=officer.auth).get_json()
    assert by_prefix["total"] == 2
    since = disable["occurred_at"].replace("+00:00", "Z")
    later = client.get(f"/api/v1/audit-events?since={since}", headers=officer.auth).get_json()
    assert later["total"] == 2
    none = client.get(
        "/api/v1/audit-events?until=2000-01-01T00:00:00Z", headers=officer.auth
    ).get_json()
    assert none["total"] == 0
    for bad in (
        "since=yesterday",
        "since=2026-11-01T00:00:00",
        "person_id=x",
        "action=" + "a" * 61,
    ):
        assert_problem(
            client.get(f"/api/v1/audit-events?{bad}", headers=officer.auth), 422, "validation_error"
        )


def test_record_refuses_nonsense_and_keeps_details_small(db):
    with pytest.raises(ValueError):
        db.run(lambda s: audit.record(s, None, ""))
    event = db.run(lambda s: audit.record(s, None, "test.big", "thing:1", blob="x" * 10_000))
    assert "truncated" in event.details and len(event.details["truncated"]) <= 4000
    assert event.actor == "anonymous"


@pytest.mark.postgres
def test_the_audit_log_is_append_only_in_the_database(db, owner_db):
    """Refused even to the role that owns the table (the trigger); the app's role (the
    PostgreSQL leg runs as it) has no such privilege at all."""
    from sqlalchemy.exc import DBAPIError

    db.run(lambda s: audit.record(s, audit.Actor.system("test"), "test.event", "thing:1"))
    for statement in ("UPDATE audit_event SET action = 'forged'", "DELETE FROM audit_event"):
        with pytest.raises(DBAPIError, match="append-only"):
            owner_db.run(lambda s, sql=statement: s.execute(text(sql)))
        with pytest.raises(DBAPIError, match=r"append-only|permission denied"):
            db.run(lambda s, sql=statement: s.execute(text(sql)))
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT action FROM audit_event")).scalar_one() == "test.event"
