"""The contract test (issue 14): schemathesis against the served OpenAPI document.

The document is loaded from the app in process (WSGI, no server) and every operation is
called with cases schemathesis generates from it, with a token of each role and with none:
no answer is a 5xx, and every answer's status, content type, headers and body are the ones
the document gives for that operation. A bounded number of examples per operation and role,
derandomized, so the run is the same every time and takes about a minute.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import checks as st_checks

from credits.accounts import Role

#: Examples per operation and role (CREDITS_CONTRACT_EXAMPLES to run more by hand).
EXAMPLES = int(os.environ.get("CREDITS_CONTRACT_EXAMPLES", "4"))

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
    """A token of each role (a terminal's too), and none; a shop, an activity and a group
    for them to find."""
    from credits import shops
    from credits.audit import Actor

    out: dict[Role | None, dict[str, str]] = {None: {}}
    for role in ROLES:
        if role not in (None, Role.TERMINAL):
            out[role] = make_person(role, credits=100 if role is Role.MEMBER else 0).auth

    def terminal(s: Any) -> str:
        by = Actor.system("test")
        shop = shops.create_shop(s, by, name="Contract Hardware")
        return shops.add_terminal(s, by, shop.id, name="Till")[1]

    out[Role.TERMINAL] = {"Authorization": f"Bearer {db.run(terminal)}"}
    return out


def _label(role: Role | None) -> str:
    return role.value if role else "anonymous"


@pytest.mark.slow
def test_every_operation_keeps_its_documented_contract_for_every_role(app, tokens, capsys):
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
            responses = doc["paths"][operation.path][operation.method.lower()]["responses"]
            documented = set(responses) - {"default"}
            _calls(operation, role, tokens[role], documented, cases, answered, failures)()

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
    assert not failures, "\n\n".join(f"{k}\n{v}" for k, v in sorted(failures.items()))
    assert total >= len(operations) * len(ROLES)


def _calls(
    operation: Any,
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
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
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
