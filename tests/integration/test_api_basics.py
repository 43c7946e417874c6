"""Contract v1 basics: probes, the OpenAPI document, problem+json for every error, tokens."""

import pytest

from credits.accounts import Role, revoke_token
from credits.api.problems import PROBLEM_JSON
from tests.problems import assert_problem


def test_probes(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["status"] == "ready"


def test_readyz_says_503_when_the_database_is_gone(client, services):
    services.db.engine.dispose()
    services.db.engine.url = (
        services.db.engine.url.set(database="/nonexistent/dir/x.sqlite3")
        if services.db.dialect == "sqlite"
        else services.db.engine.url.set(port=1)
    )
    from credits.db import make_engine

    services.db.engine = make_engine(services.db.engine.url.render_as_string(hide_password=False))
    assert_problem(client.get("/readyz"), 503, "unavailable")


def test_openapi_document(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    assert "/api/v1/me" in doc["paths"]
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    me = doc["paths"]["/api/v1/me"]["get"]
    assert me["security"] == [{"bearer": []}]
    assert "401" in me["responses"] and "403" in me["responses"]


def test_openapi_document_is_valid_openapi_3_1(client):
    """Client generators and schemathesis need a document that validates: every reference
    resolves (401/403 used to point at response components that were never defined) and
    every documented default fits its own schema."""
    from openapi_spec_validator import OpenAPIV31SpecValidator

    doc = client.get("/api/v1/openapi.json").get_json()
    errors = [e.message for e in OpenAPIV31SpecValidator(doc).iter_errors()]
    assert errors == []
    responses = doc["components"]["responses"]
    secured = [
        (path, method, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict) and op.get("security")
    ]
    assert len(secured) > 50
    for path, method, op in secured:
        for status, name in (("401", "UNAUTHORIZED"), ("403", "FORBIDDEN")):
            ref = op["responses"][status]["$ref"]
            assert ref == f"#/components/responses/{name}", (path, method)
        assert "Roles: " in op["description"], (path, method)
    # Errors are documented as what they are: problem+json.
    for name in ("UNAUTHORIZED", "FORBIDDEN", "DEFAULT_ERROR"):
        problem = responses[name]["content"]["application/problem+json"]["schema"]
        assert problem == {"$ref": "#/components/schemas/Problem"}, name


@pytest.mark.parametrize("path", ["/nope", "/api/v1/nope", "/api/v1/me/../../etc/passwd"])
def test_unknown_paths_are_problem_json(client, path):
    assert_problem(client.get(path), 404, "not_found")


def test_wrong_method_is_problem_json_with_allow(client):
    resp = client.delete("/api/v1/me")
    assert_problem(resp, 405, "method_not_allowed")
    assert "GET" in resp.headers["Allow"]


def test_oversized_body_is_problem_json(client, app):
    """Any view that reads a body larger than MAX_CONTENT_LENGTH answers 413 problem+json."""
    from flask import request

    app.config["MAX_CONTENT_LENGTH"] = 1024
    app.add_url_rule(
        "/api/v1/test-echo", "test_echo", lambda: {"got": len(request.get_json())}, methods=["POST"]
    )
    assert client.post("/api/v1/test-echo", json=[1, 2]).get_json() == {"got": 2}
    resp = client.post(
        "/api/v1/test-echo", data=b"[" + b"1," * 4096 + b"1]", content_type="application/json"
    )
    assert_problem(resp, 413, "payload_too_large")


def test_malformed_json_is_problem_json(client, app):
    from flask import request

    app.add_url_rule(
        "/api/v1/test-echo", "test_echo", lambda: {"got": len(request.get_json())}, methods=["POST"]
    )
    resp = client.post("/api/v1/test-echo", data=b"{not json", content_type="application/json")
    assert_problem(resp, 400, "validation_error")


def test_browsers_get_an_html_error_page_outside_the_api(client):
    resp = client.get("/nope", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert resp.status_code == 404 and resp.mimetype == "text/html"
    assert "Not found" in resp.get_data(as_text=True)
    api = client.get("/api/v1/nope", headers={"Accept": "text/html"})
    assert api.mimetype == PROBLEM_JSON


def test_me_for_each_role(client, make_person):
    for role in (Role.MEMBER, Role.COORDINATOR, Role.OFFICER, Role.SHOP_STAFF, Role.ADMIN):
        who = make_person(role)
        resp = client.get("/api/v1/me", headers=who.auth)
        assert resp.status_code == 200
        assert resp.get_json() == {"id": who.id, "name": who.name, "role": role.value}


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Basic abc", "Bearer cc_not-a-token", "Bearer " + "x" * 5000],
)
def test_missing_or_bad_tokens_are_401(client, header):
    headers = {"Authorization": header} if header is not None else {}
    assert_problem(client.get("/api/v1/me", headers=headers), 401, "unauthorized")


def test_revoked_token_and_disabled_person_are_401(client, make_person, db):
    who = make_person(Role.MEMBER)
    assert client.get("/api/v1/me", headers=who.auth).status_code == 200
    from sqlalchemy import select

    from credits.accounts import ApiToken

    with db.read() as s:
        token_id = s.execute(select(ApiToken.id).where(ApiToken.person_id == who.id)).scalar_one()
    db.run(lambda s: revoke_token(s, token_id))
    assert_problem(client.get("/api/v1/me", headers=who.auth), 401, "unauthorized")


def test_tokens_are_stored_hashed(make_person, db):
    who = make_person(Role.MEMBER)
    from sqlalchemy import text

    with db.read() as s:
        stored = s.execute(text("SELECT token_hash, prefix FROM api_token")).all()
    assert all(who.token not in row[0] for row in stored)
    assert len(stored[0][0]) == 64
