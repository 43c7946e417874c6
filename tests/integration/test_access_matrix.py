"""The role × endpoint matrix: every /api/v1 route, every kind of caller.

The table is tests/integration/access_matrix.py. A route missing from it fails
``test_every_api_route_is_declared``; each declared route is then called by every kind of
caller, and each must be let through exactly where the table says — and, where it is not,
refused with 401/403 problem+json *without a single row changing*.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest

from credits.accounts import Role, issue_token, member_account_id
from credits.accounts.mailing import Outgoing
from credits.api.problems import PROBLEM_JSON
from credits.bearer_tokens import authenticate_token
from credits.db import utcnow

from .access_matrix import ACCESS, PATH_DEFAULTS, PUBLIC, Access
from .people_helpers import snapshot

ROLES = (Role.MEMBER, Role.COORDINATOR, Role.SHOP_STAFF, Role.OFFICER, Role.ADMIN, Role.TERMINAL)
IGNORED_METHODS = {"HEAD", "OPTIONS"}


def api_routes(app: Any) -> set[str]:
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1"):
            continue
        for method in sorted((rule.methods or set()) - IGNORED_METHODS):
            found.add(f"{method} {rule.rule}")
    return found


def test_every_api_route_is_declared(app):
    routes = api_routes(app)
    missing = sorted(routes - set(ACCESS))
    stale = sorted(set(ACCESS) - routes)
    assert not missing, (
        "API routes with no line in tests/integration/access_matrix.py (say who may call "
        f"them): {missing}"
    )
    assert not stale, f"lines in access_matrix.py for routes that do not exist: {stale}"


def test_the_table_agrees_with_the_require_decorators(app):
    """Cheap, static: the roles in @require(...) are the roles in the table."""
    by_rule = {}
    for rule in app.url_map.iter_rules():
        for method in (rule.methods or set()) - IGNORED_METHODS:
            by_rule[f"{method} {rule.rule}"] = app.view_functions[rule.endpoint]
    for key, access in ACCESS.items():
        declared = getattr(by_rule[key], "required_roles", None)
        if access.roles is PUBLIC:
            assert declared is None, f"{key} is PUBLIC in the table but has @require{declared}"
        else:
            assert declared == access.roles, f"{key}: table {access.roles}, @require {declared}"


# --- the world every endpoint is tried against -------------------------------------------


@dataclass
class Caller:
    label: str
    role: Role | None  # None: no token or a bad one
    headers: dict[str, str]


@dataclass
class World:
    callers: list[Caller]
    objects: dict[str, int]


def _shop_with_terminal(db) -> tuple[int, int, str]:
    """A real partner shop with one terminal: (shop id, terminal id, terminal token)."""
    from credits import audit, shops

    def make(s):
        by = audit.Actor.system("test")
        shop = shops.create_shop(s, by, name="Matrix Bakery")
        terminal, token = shops.add_terminal(s, by, shop.id, name="Till 1")
        return shop.id, terminal.id, token

    return db.run(make)


def _voucher_of(db, services, person_id: int) -> str:
    """An open voucher held by ``person_id`` (given the credits for it first)."""
    from credits import ledger
    from credits.vouchers.runtime import runtime
    from credits.vouchers.service import issue_voucher

    rt = runtime(services.settings)

    def make(s):
        issuance = ledger.scheme_account(s, ledger.ISSUANCE)
        account = member_account_id(s, person_id)
        ledger.post_entry(
            s,
            ledger.EntryRequest(
                kind=ledger.EntryKind.EARN,
                legs=(ledger.Leg(issuance.id, -50), ledger.Leg(account, 50)),
                memo="matrix credits",
                actor="test",
                idempotency_key=f"matrix:{person_id}",
            ),
        )
        voucher, _ = issue_voucher(
            s,
            keyring=rt.keyring,
            policy=rt.policy,
            person_id=person_id,
            amount=10,
            client_key="matrix",
            actor="test",
        )
        return voucher.id

    return db.run(make)


@pytest.fixture
def world(db, make_person, client, monkeypatch, services) -> World:
    from credits.accounts import onboarding, people

    callers = [
        Caller("no token", None, {}),
        Caller("bad token", None, {"Authorization": "Bearer cc_not-a-real-token"}),
    ]
    shop_id, terminal_id, terminal_token = _shop_with_terminal(db)
    for role in ROLES:
        if role is Role.TERMINAL:
            callers.append(Caller(role.value, role, {"Authorization": f"Bearer {terminal_token}"}))
            continue
        who = make_person(role)
        callers.append(Caller(role.value, role, who.auth))
    target = make_person(Role.MEMBER, name="Target Person")
    admin = next(c for c in callers if c.role is Role.ADMIN)
    out = Outgoing(council="Test Council", link=lambda page, token: f"http://x/{page}?{token}")

    def build(s):
        principal = authenticate_token(s, admin.headers["Authorization"][7:])
        target_token, _ = issue_token(
            s, person_id=target.id, role=Role.MEMBER, name="target's", created_by="test"
        )
        invited, _, _ = people.invite(
            s, principal, out, name="Invited Person", email="invited@test.example"
        )
        onboarding.register(
            s,
            out,
            name="Pending Person",
            email="pending@test.example",
            phone=None,
            password=onboarding.NewPassword.make("a long enough password", "fast"),
            ip="192.0.2.1",
        )
        pending = people.find_by_email(s, "pending@test.example")
        pending.email_confirmed_at = utcnow()
        s.add(pending)
        return {
            "target": target.id,
            "target_token": target_token.id,
            "invited": invited.id,
            "pending": pending.id,
            "shop": shop_id,
            "terminal": terminal_id,
        }

    objects = db.run(build)
    objects["voucher"] = _voucher_of(db, services, target.id)
    # Use every token once now, so that the once-a-minute last_used_at refresh does not count
    # as a change made by a refused request.
    for caller in callers:
        if caller.role is not None:
            assert client.get("/api/v1/me", headers=caller.headers).status_code == 200
    return World(callers, objects)


def _path(rule: str, access: Access, world: World) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(2)
        raw = access.path.get(name, PATH_DEFAULTS.get(name, "1"))
        return str(world.objects[raw[1:]]) if raw.startswith("@") else raw

    return re.sub(r"<(?:(\w+):)?(\w+)>", value, rule)


def _call(client, method: str, path: str, access: Access, headers: dict[str, str]) -> Any:
    kwargs: dict[str, Any] = {"headers": headers}
    if access.body is not None:
        kwargs["json"] = access.body
    return client.open(path, method=method, **kwargs)


def _refused_by_role(resp) -> bool:
    if resp.status_code == 401:
        return True
    if resp.status_code != 403:
        return False
    body = resp.get_json(silent=True) or {}
    return "required_roles" in body


@pytest.mark.parametrize("key", sorted(ACCESS))
def test_each_role_is_allowed_exactly_where_declared(key, client, db, world):
    method, rule = key.split(" ", 1)
    access = ACCESS[key]
    path = _path(rule, access, world)
    allowed = [c for c in world.callers if access.roles is PUBLIC or c.role in access.roles]
    refused = [c for c in world.callers if c not in allowed]

    before = snapshot(db)
    for caller in refused:
        resp = _call(client, method, path, access, caller.headers)
        expected = 401 if caller.role is None else 403
        assert resp.status_code == expected, (
            f"{key} as {caller.label}: expected {expected}, got {resp.status_code} "
            f"{resp.get_data(as_text=True)[:300]}"
        )
        assert resp.mimetype == PROBLEM_JSON
        problem = resp.get_json()
        assert problem["code"] == ("unauthorized" if expected == 401 else "forbidden")
        if expected == 403:
            assert sorted(problem["required_roles"]) == sorted(r.value for r in access.roles)
    assert snapshot(db) == before, f"{key}: a refused request changed the database"

    for caller in allowed:
        resp = _call(client, method, path, access, caller.headers)
        assert not _refused_by_role(resp), (
            f"{key} as {caller.label} was refused ({resp.status_code}) but the table allows it: "
            f"{resp.get_data(as_text=True)[:300]}"
        )
        assert resp.status_code not in (404, 405) or resp.get_json()["code"] != "method_not_allowed"
        assert resp.status_code < 500, f"{key} as {caller.label}: {resp.status_code}"
