"""The contract test (issue 14): schemathesis against the served OpenAPI document.

The document is loaded from the app in process (WSGI, no server) and every operation is
called with cases schemathesis generates from it, with a token of each role and with none:
no answer is a 5xx, and every answer's status, content type, headers and body are the ones
the document gives for that operation (and the status is one it names, not only the
``default``). A bounded number of examples per operation and role, derandomized, so the run
is the same every time and takes about a minute: 2,653 cases. It prints the number of cases
per role; CREDITS_CONTRACT_REPORT=path also writes them as JSON. More examples by hand:
CREDITS_CONTRACT_EXAMPLES=30.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import checks as st_checks

from credits.accounts import Role

#: Examples per operation and role (CREDITS_CONTRACT_EXAMPLES to run more by hand).
EXAMPLES = int(os.environ.get("CREDITS_CONTRACT_EXAMPLES", "10"))

CHECKS = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_headers_conformance,
    st_checks.response_schema_conformance,
]

ROLES: list[Role | None] = [
    None,
    Role.MEMBER,
    Role.COORDINATOR,
    Role.SHOP_STAFF,
    Role.OFFICER,
    Role.ADMIN,
    Role.TERMINAL,
]


@pytest.fixture
def tokens(db, make_person) -> dict[Role | None, dict[str, str]]:
    """A token of each role (a terminal's too), and none."""
    out: dict[Role | None, dict[str, str]] = {None: {}}
    for role in ROLES:
        if role not in (None, Role.TERMINAL):
            out[role] = make_person(role, credits=100 if role is Role.MEMBER else 0).auth
    out[Role.TERMINAL] = {"Authorization": f"Bearer {db.run(_shop_and_terminals)[2]}"}
    return out


def _shop_and_terminals(s: Any) -> tuple[int, int, str]:
    """A shop with two terminals: the id of the spare one (for the cases to find, revoke or
    rename), and the other one's token (the terminal role's)."""
    from credits import shops
    from credits.audit import Actor

    by = Actor.system("test")
    shop = shops.create_shop(s, by, name="Contract Hardware")
    spare, _ = shops.add_terminal(s, by, shop.id, name="Spare till")
    return shop.id, spare.id, shops.add_terminal(s, by, shop.id, name="Till")[1]


@pytest.fixture
def known(client, db, make_person, tokens) -> dict[str, Any]:
    """Path parameters that name something that exists (a member who is not one of the
    token holders, a shop and its spare terminal, an activity, a group, a voucher), so that
    half of the cases reach the use cases rather than a 404. The rest are generated."""
    officer = tokens[Role.OFFICER]
    subject = make_person(Role.MEMBER, credits=40, name="Contract Subject")
    with db.read() as s:
        from sqlalchemy import text

        shop_id, terminal_id = s.execute(
            text("SELECT shop_id, id FROM terminal WHERE name = 'Spare till'")
        ).one()
    activity = {
        "slug": "litter-pick",
        "name": "Litter pick",
        "unit": "session",
        "credits_per_unit": 5,
        "week_cap_credits": 10,
        "month_cap_credits": 20,
        "monthly_budget_credits": 100,
    }
    assert client.post("/api/v1/activities", json=activity, headers=officer).status_code == 201
    group = client.post("/api/v1/groups", json={"name": "Contract group"}, headers=officer)
    assert group.status_code == 201, group.get_json()
    voucher = client.post(
        "/api/v1/vouchers",
        json={"amount": 10, "idempotency_key": "contract-1"},
        headers=tokens[Role.MEMBER],
    )
    assert voucher.status_code == 201, voucher.get_json()
    return {
        "person_id": subject.id,
        "shop_id": shop_id,
        "terminal_id": terminal_id,
        "slug": "litter-pick",
        "group_id": group.get_json()["id"],
        "voucher_id": voucher.get_json()["id"],
    }


def _label(role: Role | None) -> str:
    return role.value if role else "anonymous"


@pytest.mark.slow
def test_every_operation_keeps_its_documented_contract_for_every_role(app, tokens, known, capsys):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 60

    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    cases: Counter[str] = Counter()
    answered: Counter[int] = Counter()
    failures: dict[str, str] = {}
    started = time.monotonic()

    for role in ROLES:
        for operation in operations:
            spec = doc["paths"][operation.path][operation.method.lower()]
            documented = set(spec["responses"]) - {"default"}
            allowed = re.search(r"Roles: ([a-z_, ]+)\.", spec.get("description", ""))
            # A role the operation refuses is answered 401/403 before anything is read:
            # one case shows it; the roles it serves get the examples.
            may = not allowed or (role is not None and role.value in allowed.group(1).split(", "))
            names = re.findall(r"\{(\w+)\}", operation.path)
            fixed = {name: known[name] for name in names if name in known}
            strategy = operation.as_strategy()
            if fixed:
                strategy = operation.as_strategy(path_parameters=fixed) | strategy
            _calls(
                operation,
                strategy,
                EXAMPLES if may else 1,
                role,
                tokens[role],
                documented,
                cases,
                answered,
                failures,
            )()

    total = sum(cases.values())
    elapsed = time.monotonic() - started
    with capsys.disabled():
        print(
            f"\nschemathesis {schemathesis.__version__}: {total} cases over {len(operations)}"
            f" operations in {elapsed:.0f}s; per role: "
            + ", ".join(f"{role} {n}" for role, n in cases.items())
            + "; answered: "
            + ", ".join(f"{status} ×{n}" for status, n in sorted(answered.items()))
        )
    if report := os.environ.get("CREDITS_CONTRACT_REPORT"):
        Path(report).write_text(
            json.dumps(
                {
                    "schemathesis": schemathesis.__version__,
                    "operations": len(operations),
                    "cases": total,
                    "per_role": dict(cases),
                    "answered": {str(k): v for k, v in sorted(answered.items())},
                    "failures": len(failures),
                },
                indent=2,
            )
        )
    assert not failures, "\n\n".join(f"{k}\n{v}" for k, v in sorted(failures.items()))
    assert total >= len(operations) * len(ROLES)
    # The run reached the use cases, not only the door.
    assert sum(n for status, n in answered.items() if status < 300) > 200, answered


def _calls(
    operation: Any,
    strategy: Any,
    examples: int,
    role: Role | None,
    auth: dict[str, str],
    documented: set[str],
    cases: Counter[str],
    answered: Counter[int],
    failures: dict[str, str],
) -> Any:
    """A hypothesis test of one operation with one role's token: each failing check is
    noted (the first per operation and role), so one run reports them all. Besides
    schemathesis's checks, the status must be one the operation names: the ``default``
    response (any other error is problem+json) does not count as documenting it."""

    @settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def call(case: Any) -> None:
        cases[_label(role)] += 1
        key = f"{_label(role)} {operation.label}"
        response = case.call(headers=auth)
        answered[response.status_code] += 1
        if str(response.status_code) not in documented:
            failures.setdefault(
                key,
                f"{response.status_code} is not among the statuses documented for it"
                f" ({', '.join(sorted(documented))}): {response.text[:300]}",
            )
        try:
            case.validate_response(response, checks=CHECKS, headers=auth)
        except (Exception, BaseExceptionGroup) as failure:
            failures.setdefault(key, f"{type(failure).__name__}: {failure}"[:1500])

    return call
