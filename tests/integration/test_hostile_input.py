"""Malformed and hostile requests get a 4xx problem+json with a ``code``, never a 500.

First the reproductions of the probe (issue 12, items 3 and 6), then the class closed:
every schema the API uses is built from the bounded fields of credits/api/inputs.py, and a
generated test throws hostile values at every field of every operation in the OpenAPI
document, with a token of each role.
"""

from __future__ import annotations

import json
import re
from typing import Any

import marshmallow as ma
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from credits.accounts import Role
from credits.api import inputs
from credits.api.problems import PROBLEM_JSON

HUGE = "9" * 4301  # Python refuses to turn more than 4,300 digits into an int
BIG_ID = str(2**63)  # one past PostgreSQL's BIGINT


def assert_refused(resp: Any, *statuses: int) -> dict[str, Any]:
    """A 4xx problem+json with a code (one of ``statuses`` when given)."""
    body = resp.get_data(as_text=True)
    assert 400 <= resp.status_code < 500, (resp.status_code, body[:500])
    if statuses:
        assert resp.status_code in statuses, (resp.status_code, body[:500])
    assert resp.mimetype == PROBLEM_JSON, body[:500]
    problem = json.loads(body)
    assert problem["code"] and problem["status"] == resp.status_code
    return problem


def post_raw(client: Any, path: str, body: str, headers: dict[str, str] | None = None) -> Any:
    return client.post(path, data=body, content_type="application/json", headers=headers or {})


@pytest.fixture
def officer(make_person):
    return make_person(Role.OFFICER)


@pytest.fixture
def member(make_person):
    return make_person(Role.MEMBER, credits=50)


# --- item 3: the reproductions ---------------------------------------------------------------


@pytest.mark.parametrize(
    "path,body",
    [
        ("/api/v1/registrations", '{"name": "A", "email": "a@b.example", "password": %s}'),
        ("/api/v1/password-resets", '{"email": %s}'),
        ("/api/v1/registrations", '{"name": %s, "email": "a@b.example", "password": "x"}'),
    ],
)
def test_a_4301_digit_integer_is_refused_without_a_token(client, path, body):
    problem = assert_refused(post_raw(client, path, body % HUGE), 400)
    assert problem["code"] == "validation_error"
    assert "digits" in json.dumps(problem["errors"])


def test_a_4301_digit_integer_is_refused_on_every_json_endpoint(client, app, officer, member):
    """Every operation with a JSON body, with a token that may call it."""
    doc = client.get("/api/v1/openapi.json").get_json()
    tokens = {Role.OFFICER: officer.auth, Role.MEMBER: member.auth}
    tried = 0
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if not isinstance(op, dict) or "requestBody" not in op:
                continue
            concrete = re.sub(r"\{[^}]+\}", "1", path)
            for auth in tokens.values():
                resp = client.open(
                    concrete,
                    method=method.upper(),
                    data=f'{{"x": {HUGE}, "amount": {HUGE}}}',
                    content_type="application/json",
                    headers=auth,
                )
                assert_refused(resp)
                tried += 1
    assert tried > 40


@pytest.mark.parametrize(
    "path,field",
    [
        ("/api/v1/shops", "name"),
        ("/api/v1/groups", "name"),
        ("/api/v1/me/tokens", "name"),
        ("/api/v1/invitations", "name"),
    ],
)
def test_a_lone_surrogate_in_a_string_is_refused(client, officer, path, field):
    body = {"name": "Corner shop", "email": "new@test.example", "roles": ["member"]}
    body = {**body, "role": "officer", "activities": []}
    raw = json.dumps(body).replace('"Corner shop"', '"\\ud800 shop"')
    problem = assert_refused(post_raw(client, path, raw, officer.auth), 400)
    assert "surrogate" in json.dumps(problem)


def test_a_lone_surrogate_in_a_claim_note_is_refused(client, member):
    raw = (
        '{"activity": "snow-clearing", "quantity": "1", "occurred_on": "2026-11-01", '
        '"note": "\\udfff", "idempotency_key": "k1"}'
    )
    assert_refused(post_raw(client, "/api/v1/claims", raw, member.auth), 400)


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/people/{BIG_ID}",
        f"/api/v1/groups/{BIG_ID}",
        f"/api/v1/earnings/{BIG_ID}",
        f"/api/v1/claims/{BIG_ID}",
        f"/api/v1/adjustments/{BIG_ID}",
        f"/api/v1/shops/{BIG_ID}",
        f"/api/v1/shops/{BIG_ID}/terminals",
        f"/api/v1/people/{HUGE}",
        f"/officer/people/{BIG_ID}",
    ],
)
def test_ids_past_bigint_in_a_path_are_not_found(client, officer, path):
    assert_refused(client.get(path, headers=officer.auth), 404)


def test_ids_past_bigint_in_terminal_paths_are_not_found(client, officer):
    resp = client.patch(f"/api/v1/terminals/{BIG_ID}", json={"name": "x"}, headers=officer.auth)
    assert_refused(resp, 404)
    resp = client.post(f"/api/v1/terminals/{BIG_ID}/revoke", headers=officer.auth)
    assert_refused(resp, 404)


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/claims?before={BIG_ID}",
        f"/api/v1/me/entries?before={BIG_ID}",
        f"/api/v1/me/entries?before={HUGE}",
        "/api/v1/me/entries?limit=1e999",
    ],
)
def test_cursors_past_bigint_are_refused(client, member, path):
    assert_refused(client.get(path, headers=member.auth), 422)


def test_query_and_body_ids_past_bigint_are_refused(client, officer, member):
    assert_refused(client.get(f"/api/v1/redemptions?shop={BIG_ID}", headers=officer.auth), 422)
    body = {
        "person_id": int(BIG_ID),
        "direction": "credit",
        "amount": 5,
        "reason": "r",
        "idempotency_key": "k",
    }
    problem = assert_refused(client.post("/api/v1/adjustments", json=body, headers=officer.auth))
    assert "person_id" in problem["errors"]
    body = {**body, "person_id": member.id, "amount": -(2**63) - 1}
    problem = assert_refused(client.post("/api/v1/adjustments", json=body, headers=officer.auth))
    assert "amount" in problem["errors"]


@pytest.mark.parametrize(
    "since",
    [
        "0001-01-01T00:00:00%2B14:00",
        "9999-12-31T23:59:59-14:00",
        "0001-01-01T00:00:00Z",
    ],
)
def test_instants_that_overflow_in_utc_are_refused(client, officer, since):
    resp = client.get(f"/api/v1/redemptions?since={since}", headers=officer.auth)
    problem = assert_refused(resp, 422)
    assert "since" in problem["errors"]


def test_json_that_is_not_a_value_we_accept_is_refused(client, officer):
    for raw in (
        "[" * 5000 + "]" * 5000,
        '{"name": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}',
    ):
        assert_refused(post_raw(client, "/api/v1/shops", raw, officer.auth), 400)
    # Numbers JSON does not have (NaN, Infinity) or that overflow a float are refused by
    # the field that receives them.
    for raw in ('{"name": NaN}', '{"name": 1e999}', '{"name": "x", "contact_email": -Infinity}'):
        problem = assert_refused(post_raw(client, "/api/v1/shops", raw, officer.auth), 422)
        assert set(problem["errors"]) <= {"name", "contact_email"}


# --- item 6: control characters --------------------------------------------------------------


@pytest.mark.parametrize("bad", ["Corner\x00shop", "Corner\x1bshop", "Corner\nshop", "x\x7f"])
def test_control_characters_in_a_shop_name_are_refused(client, db, officer, bad):
    resp = client.post("/api/v1/shops", json={"name": bad}, headers=officer.auth)
    problem = assert_refused(resp, 422)
    assert "control character" in problem["errors"]["name"][0]
    with db.read() as s:
        assert s.execute(text("SELECT count(*) FROM shop")).scalar() == 0


def test_a_claim_note_keeps_line_breaks_but_not_nul(client, member):
    claim = {
        "activity": "snow-clearing",
        "quantity": "1",
        "occurred_on": "2026-11-01",
        "idempotency_key": "k1",
    }
    resp = client.post(
        "/api/v1/claims", json={**claim, "note": "Two paths\x00cleared"}, headers=member.auth
    )
    problem = assert_refused(resp, 422)
    assert "note" in problem["errors"]
    # The note itself is fine with line breaks: whatever else is refused, it is not the note.
    resp = client.post(
        "/api/v1/claims", json={**claim, "note": "Two paths\r\ncleared\tby 9"}, headers=member.auth
    )
    assert "note" not in (resp.get_json().get("errors") or {})


def test_nul_in_a_page_form_or_query_is_refused(client, db, officer):
    from .web_helpers import csrf_from, sign_in

    sign_in(client, officer.email)
    page = client.get("/officer/shops").get_data(as_text=True)
    resp = client.post(
        "/officer/shops",
        data={"name": "Nul\x00shop", "csrf_token": csrf_from(page)},
        headers={"Accept": "text/html"},
    )
    assert resp.status_code == 422 and resp.mimetype == "text/html"
    with db.read() as s:
        assert s.execute(text("SELECT count(*) FROM shop")).scalar() == 0
    assert client.get("/officer/people?q=%00", headers={"Accept": "text/html"}).status_code == 422
    assert client.get("/vouchers/%00", headers={"Accept": "text/html"}).status_code == 404


def test_list_pages_follow_only_a_bounded_page_number(client, officer):
    from .web_helpers import sign_in

    sign_in(client, officer.email)
    for path in ("/officer/adjustments", "/account/tokens", "/officer/people"):
        resp = client.get(f"{path}?page={BIG_ID}99", headers={"Accept": "text/html"})
        assert resp.status_code == 200, path


# --- the class, closed -----------------------------------------------------------------------

#: marshmallow field types and the bounded version every API schema must use instead.
BOUNDED = {
    ma.fields.Integer: inputs.Integer,
    ma.fields.String: inputs.String,
    ma.fields.AwareDateTime: inputs.AwareDateTime,
    ma.fields.NaiveDateTime: None,
    ma.fields.DateTime: (inputs.DateTime, inputs.AwareDateTime),
    ma.fields.Date: inputs.Date,
    ma.fields.Float: None,
    ma.fields.Decimal: None,
}


def _all_schemas() -> list[type[ma.Schema]]:
    import credits.api  # noqa: F401 - the blueprints define the schemas on import
    from credits.api import _blueprints

    _blueprints()
    found, todo = [], [ma.Schema]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("credits.api"):
                found.append(sub)
    return found


def _fields(field: ma.fields.Field) -> list[ma.fields.Field]:
    out = [field]
    if isinstance(field, ma.fields.List):
        out += _fields(field.inner)
    if isinstance(field, ma.fields.Dict):
        out += [f for f in (field.key_field, field.value_field) if f is not None]
    return out


def test_every_api_schema_uses_the_bounded_fields(app):
    offenders = []
    schemas = _all_schemas()
    assert len(schemas) > 60
    for schema in schemas:
        for name, declared in schema._declared_fields.items():
            for field in _fields(declared):
                for base, bounded in BOUNDED.items():
                    plain = type(field) is base or (
                        isinstance(field, base) and not type(field).__module__.startswith("credits")
                    )
                    if plain and (bounded is None or not isinstance(field, bounded)):
                        offenders.append(f"{schema.__module__}.{schema.__name__}.{name}")
    assert offenders == []


def test_every_api_blueprint_parses_json_safely(app):
    from credits.api import _blueprints

    assert all(isinstance(b, inputs.Blueprint) for b in _blueprints())
    assert app.url_map.converters["int"] is inputs.BigIntConverter


# --- generated: hostile values for every field of every operation ----------------------------


class Literal(str):
    """JSON text written into a body as it is (numbers Python cannot make, NaN...)."""


#: Values no careful client sends. Strings are text; Literal is raw JSON.
HOSTILE_JSON = [
    Literal(HUGE),
    Literal("-" + HUGE),
    2**63,
    -(2**63) - 1,
    2**64,
    Literal("1e999"),
    Literal("NaN"),
    Literal("-Infinity"),
    Literal("-1e999"),
    Literal("1" + "0" * 400 + ".5"),
    Literal('"\\ud800"'),
    Literal('"a\\udfffb"'),
    "\x00",
    "nul\x00in the middle",
    "line\nbreak",
    "\x1b[31mred",
    "\x7f\x85",
    "x" * 5000,
    "",
    " ",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01",
    "9999-12-31",
    "2026-02-30",
    "-1",
    "1.5",
    "NaN",
    "'; DROP TABLE person; --",
    "ë\u202etxt.exe",
    None,
    True,
    False,
    -1,
    0,
    1.5,
    [],
    {},
    Literal("[" * 40 + "1" + "]" * 40),
    {"nested": {"x": [1, "\x00"]}},
]
#: Path segments and query values (already percent-encoded where they are not text).
HOSTILE_URL = [
    BIG_ID,
    str(2**64),
    "9" * 60,
    "-1",
    "0",
    "1",
    "2",
    "1.5",
    "%00",
    "%1b",
    "%ED%A0%80",  # a surrogate encoded in UTF-8: not valid UTF-8
    "%C3%A9",
    "%FF",
    "..",
    "0001-01-01T00:00:00%2B14:00",
    "9999-12-31T23:59:59-14:00",
    "true",
    "",
    "x" * 300,
]


def to_json(value: Any) -> str:
    """``json.dumps`` that writes :class:`Literal` as it is."""
    if isinstance(value, Literal):
        return str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(to_json(v) for v in value) + "]"
    return json.dumps(value)


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _plausible(doc: dict[str, Any], schema: dict[str, Any], depth: int = 0) -> Any:
    """A value of the documented type (so that hostile values in other fields get parsed)."""
    schema = _resolve(doc, schema)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type", "string")
    kind = next((k for k in kind if k != "null"), "string") if isinstance(kind, list) else kind
    if "oneOf" in schema:
        return "1"
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return 1
    if kind == "boolean":
        return True
    if kind == "array":
        return [] if depth > 2 else [_plausible(doc, schema.get("items", {}), depth + 1)]
    if kind == "object":
        props = schema.get("properties", {})
        return {k: _plausible(doc, v, depth + 1) for k, v in props.items()} if depth < 3 else {}
    if schema.get("format") == "date-time":
        return "2026-11-01T12:00:00+00:00"
    if schema.get("format") == "date":
        return "2026-11-01"
    if "email" in str(schema.get("description", "")).lower():
        return "someone@test.example"
    return "plausible"


def _body(doc: dict[str, Any], schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A body of the documented shape in which any field may be hostile, and sometimes a
    hostile body altogether."""
    schema = _resolve(doc, schema)
    props = schema.get("properties", {})
    if schema.get("type") == "array" or not props:
        return st.sampled_from(HOSTILE_JSON) | st.just(_plausible(doc, schema))
    fields = {
        name: st.sampled_from(HOSTILE_JSON) | st.just(_plausible(doc, sub))
        for name, sub in props.items()
    }
    hostile_object = st.fixed_dictionaries({}, optional=fields)
    return hostile_object | st.sampled_from(HOSTILE_JSON)


def _operations(doc: dict[str, Any]) -> list[dict[str, Any]]:
    ops = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if not isinstance(op, dict):
                continue
            params = [*item.get("parameters", []), *op.get("parameters", [])]
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            roles = re.search(r"Roles: ([a-z_, ]+)\.", op.get("description", ""))
            ops.append(
                {
                    "path": path,
                    "method": method.upper(),
                    "path_params": [p["name"] for p in params if p["in"] == "path"],
                    "query": {p["name"]: p.get("schema", {}) for p in params if p["in"] == "query"},
                    "body": body["schema"] if body else None,
                    "roles": [Role(r) for r in roles.group(1).split(", ")] if roles else [],
                }
            )
    return ops


@pytest.fixture
def everyone(db, make_person) -> dict[Role | None, dict[str, str]]:
    """A token of each role (a terminal's too), and none."""
    tokens: dict[Role | None, dict[str, str]] = {None: {}}
    for role in (Role.MEMBER, Role.COORDINATOR, Role.SHOP_STAFF, Role.OFFICER, Role.ADMIN):
        tokens[role] = make_person(role, credits=100 if role is Role.MEMBER else 0).auth

    def terminal(s: Any) -> str:
        from credits import shops
        from credits.audit import Actor

        by = Actor.system("test")
        shop = shops.create_shop(s, by, name="Hostile Hardware")
        return shops.add_terminal(s, by, shop.id, name="Till")[1]

    tokens[Role.TERMINAL] = {"Authorization": f"Bearer {db.run(terminal)}"}
    return tokens


#: Examples per operation: 85 operations × this many requests.
EXAMPLES_PER_OPERATION = 12


def test_hostile_values_in_every_field_of_every_operation_are_never_a_5xx(client, everyone):
    doc = client.get("/api/v1/openapi.json").get_json()
    operations = _operations(doc)
    assert len(operations) > 60
    answered: dict[int, int] = {}

    for op in operations:
        _hostile_calls(client, doc, op, everyone, answered)()

    # The run reached the use cases, not only the door: some answers were successes.
    assert sum(n for status, n in answered.items() if status < 300) > 20, answered
    assert sum(n for status, n in answered.items() if status in (400, 404, 422)) > 200


def _hostile_calls(
    client: Any, doc: dict[str, Any], op: dict[str, Any], everyone: Any, answered: dict[int, int]
) -> Any:
    """A hypothesis test of one operation: its roles (or any token), hostile path segments,
    query values and body fields."""
    who = st.sampled_from(op["roles"] or [None]) | st.sampled_from(list(everyone))
    path_values = st.fixed_dictionaries(
        {
            name: st.sampled_from(["1", "2", "3"]) | st.sampled_from(HOSTILE_URL)
            for name in op["path_params"]
        }
    )
    query = st.fixed_dictionaries(
        {},
        optional={
            name: st.sampled_from(HOSTILE_URL) | st.just(str(_plausible(doc, schema)))
            for name, schema in op["query"].items()
        },
    )
    body = _body(doc, op["body"]) if op["body"] else st.none()

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(role=who, path_values=path_values, query=query, body=body)
    def call(role: Any, path_values: Any, query: Any, body: Any) -> None:
        path = op["path"]
        for name, value in path_values.items():
            path = path.replace("{" + name + "}", value or "1")
        if query:
            path += "?" + "&".join(f"{k}={v}" for k, v in query.items())
        resp = client.open(
            path,
            method=op["method"],
            data=None if body is None else to_json(body).encode("utf-8", "surrogatepass"),
            content_type="application/json" if body is not None else None,
            headers=everyone[role],
        )
        answered[resp.status_code] = answered.get(resp.status_code, 0) + 1
        assert resp.status_code < 500, (op["method"], path, resp.get_data(as_text=True)[:300])
        if resp.status_code >= 400:
            assert resp.mimetype == PROBLEM_JSON, (op["method"], path)
            assert resp.get_json()["code"]

    return call
