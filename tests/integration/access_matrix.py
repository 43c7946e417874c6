"""Who may call each /api/v1 endpoint — the table test_access_matrix.py checks.

EVERY route under /api/v1 must be listed here, one line per method and rule, exactly as Flask
spells the rule (``/api/v1/people/<int:person_id>``): the test fails on a route missing from
this table (and on a line whose route no longer exists). For each endpoint the test calls it
with no token, a bad token, and a token of each role (member, coordinator, shop_staff,
officer, admin, terminal) and checks that each role is let through exactly where the table
says; refused callers get 401/403 problem+json and change nothing in the database.

Adding an endpoint: add a line. ``Access(roles, body=..., path=...)``:
- ``roles``: a set of roles, or ``PUBLIC`` (no token needed);
- ``body``: a JSON body that an allowed caller could send (refused callers send it too, to
  show that it is not read);
- ``path``: values for path parameters when :data:`PATH_DEFAULTS` does not fit; ``"@name"``
  names an object the test builds (see ``World`` in test_access_matrix.py: ``@target``,
  ``@target_token``, ``@invited``, ``@pending``), anything else is used as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from credits.accounts import Role

PUBLIC = None
PEOPLE = frozenset({Role.MEMBER, Role.COORDINATOR, Role.SHOP_STAFF, Role.OFFICER, Role.ADMIN})
ANY_TOKEN = PEOPLE | {Role.TERMINAL}
OFFICERS = frozenset({Role.OFFICER, Role.ADMIN})
TERMINAL = frozenset({Role.TERMINAL})


@dataclass(frozen=True)
class Access:
    roles: frozenset[Role] | None
    body: dict[str, Any] | None = None
    path: dict[str, str] = field(default_factory=dict)


#: Default values of path parameters, by name ("@name": an object the test builds).
PATH_DEFAULTS = {
    "person_id": "@target",
    "token_id": "@target_token",
    "role": "coordinator",
    "shop_id": "@shop",
    "terminal_id": "@terminal",
    "voucher_id": "@voucher",
    "redemption_id": "0" * 32,
    "adjustment_id": "999999",
    "exception_id": "0" * 32,
    "slug": "snow-clearing",
    "month": "2026-11",
    "run_id": "999999",
    "payee_id": "999999",
    "import_id": "999999",
    "mismatch_id": "999999",
    "fmt": "csv",
}

MEMBER = frozenset({Role.MEMBER})
COORDINATOR = frozenset({Role.COORDINATOR})
OFFICER = frozenset({Role.OFFICER})
_DAY = "2026-11-01"
_ACTIVITY = {
    "slug": "litter-pick",
    "name": "Litter pick",
    "unit": "session",
    "credits_per_unit": 5,
    "week_cap_credits": 10,
    "month_cap_credits": 20,
    "monthly_budget_credits": 100,
}

SHOP_SIDE = frozenset({Role.OFFICER, Role.TERMINAL, Role.SHOP_STAFF})

ACCESS: dict[str, Access] = {
    # contract v1 and basics
    "GET /api/v1/openapi.json": Access(PUBLIC),
    "GET /api/v1/me": Access(ANY_TOKEN),
    # people (officers)
    "GET /api/v1/people": Access(OFFICERS),
    "GET /api/v1/people/<int:person_id>": Access(OFFICERS),
    "PATCH /api/v1/people/<int:person_id>": Access(OFFICERS, {"name": "Renamed Person"}),
    "POST /api/v1/people/<int:person_id>/roles": Access(OFFICERS, {"role": "coordinator"}),
    "DELETE /api/v1/people/<int:person_id>/roles/<string:role>": Access(
        OFFICERS, path={"role": "member"}
    ),
    "POST /api/v1/people/<int:person_id>/disable": Access(OFFICERS, {"reason": "left the area"}),
    "POST /api/v1/people/<int:person_id>/enable": Access(OFFICERS),
    # invitations (officers)
    "GET /api/v1/invitations": Access(OFFICERS),
    "POST /api/v1/invitations": Access(
        OFFICERS, {"name": "New Person", "email": "new.person@test.example", "roles": ["member"]}
    ),
    "POST /api/v1/invitations/<int:person_id>/resend": Access(
        OFFICERS, path={"person_id": "@invited"}
    ),
    "POST /api/v1/invitations/<int:person_id>/withdraw": Access(
        OFFICERS, {"reason": "sent by mistake"}, path={"person_id": "@invited"}
    ),
    # registrations: residents register (public); officers decide
    "POST /api/v1/registrations": Access(
        PUBLIC,
        {
            "name": "Res Ident",
            "email": "resident@test.example",
            "password": "a long enough password",
        },
    ),
    "GET /api/v1/registrations": Access(OFFICERS),
    "POST /api/v1/registrations/<int:person_id>/approve": Access(
        OFFICERS, path={"person_id": "@pending"}
    ),
    "POST /api/v1/registrations/<int:person_id>/decline": Access(
        OFFICERS, {"reason": "not a resident"}, path={"person_id": "@pending"}
    ),
    # forgotten passwords (public)
    "POST /api/v1/password-resets": Access(PUBLIC, {"email": "member1@test.example"}),
    # API tokens: your own (people), everyone's (officers)
    "GET /api/v1/me/tokens": Access(PEOPLE),
    "POST /api/v1/me/tokens": Access(PEOPLE, {"name": "a script"}),
    "POST /api/v1/me/tokens/<int:token_id>/revoke": Access(PEOPLE),
    "GET /api/v1/tokens": Access(OFFICERS),
    "POST /api/v1/tokens/<int:token_id>/revoke": Access(OFFICERS),
    # the audit log (officers)
    "GET /api/v1/audit-events": Access(OFFICERS),
    # partner shops and terminals (officers; shop staff read their own shop; a terminal itself)
    "GET /api/v1/shops": Access(OFFICERS),
    "POST /api/v1/shops": Access(OFFICERS, {"name": "Another Shop"}),
    "GET /api/v1/shops/<int:shop_id>": Access(OFFICERS | {Role.SHOP_STAFF}),
    "PATCH /api/v1/shops/<int:shop_id>": Access(OFFICERS, {"address": "1 High Street"}),
    "GET /api/v1/shops/<int:shop_id>/terminals": Access(OFFICERS),
    "POST /api/v1/shops/<int:shop_id>/terminals": Access(OFFICERS, {"name": "Till 2"}),
    "PATCH /api/v1/terminals/<int:terminal_id>": Access(OFFICERS, {"name": "Front till"}),
    "POST /api/v1/terminals/<int:terminal_id>/token": Access(OFFICERS),
    "POST /api/v1/terminals/<int:terminal_id>/revoke": Access(OFFICERS),
    "GET /api/v1/terminal": Access(TERMINAL),
    # vouchers (members; officers may look at, cancel and print any) and the public trust list
    "GET /api/v1/trust-list": Access(PUBLIC),
    "GET /api/v1/me/balance": Access(frozenset({Role.MEMBER})),
    "GET /api/v1/vouchers": Access(frozenset({Role.MEMBER})),
    "POST /api/v1/vouchers": Access(
        frozenset({Role.MEMBER}), {"amount": 1, "idempotency_key": "matrix-voucher"}
    ),
    "GET /api/v1/vouchers/<string:voucher_id>": Access(frozenset({Role.MEMBER}) | {Role.OFFICER}),
    "POST /api/v1/vouchers/<string:voucher_id>/cancel": Access(
        frozenset({Role.MEMBER}) | {Role.OFFICER}
    ),
    "GET /api/v1/vouchers/<string:voucher_id>/qr.svg": Access(
        frozenset({Role.MEMBER}) | {Role.OFFICER}
    ),
    "GET /api/v1/vouchers/<string:voucher_id>/qr.png": Access(
        frozenset({Role.MEMBER}) | {Role.OFFICER}
    ),
    # redemption at shops (terminals), looked up by shops and officers, reversed by officers
    "POST /api/v1/redemptions": Access(TERMINAL, {"code": "CC1:X", "idempotency_key": "m"}),
    "GET /api/v1/redemptions": Access(TERMINAL | OFFICERS | {Role.SHOP_STAFF}),
    "GET /api/v1/redemptions/<string:redemption_id>": Access(
        TERMINAL | OFFICERS | {Role.SHOP_STAFF}
    ),
    "POST /api/v1/redemptions/<string:redemption_id>/reverse": Access(
        OFFICERS, {"reason": "matrix"}
    ),
    "GET /api/v1/redemption-exceptions": Access(OFFICERS),
    # statements: officers (the scheme or any shop); a terminal its own shop's
    "GET /api/v1/statements/<month>": Access(OFFICER | TERMINAL),
    "POST /api/v1/redemption-exceptions/<string:exception_id>/resolve": Access(
        OFFICERS, {"resolution": "matrix"}
    ),
    # manual adjustments (officers; four eyes above a threshold)
    "POST /api/v1/adjustments": Access(
        OFFICER,
        {
            "person_id": 999999,
            "direction": "credit",
            "amount": 5,
            "reason": "matrix",
            "idempotency_key": "matrix",
        },
    ),
    "GET /api/v1/adjustments": Access(OFFICER),
    "GET /api/v1/adjustments/<int:adjustment_id>": Access(OFFICER),
    "POST /api/v1/adjustments/<int:adjustment_id>/approve": Access(OFFICER),
    "POST /api/v1/adjustments/<int:adjustment_id>/reject": Access(OFFICER, {"reason": "matrix"}),
    # earning: activities, settings, groups, awards, claims, a member's history
    "GET /api/v1/me/entries": Access(MEMBER),
    "GET /api/v1/activities": Access(MEMBER | COORDINATOR | OFFICER),
    "POST /api/v1/activities": Access(OFFICER, _ACTIVITY),
    "GET /api/v1/activities/<slug>": Access(MEMBER | COORDINATOR | OFFICER),
    "PATCH /api/v1/activities/<slug>": Access(OFFICER, {"name": "Snow clearing"}),
    "GET /api/v1/activities/<slug>/budgets": Access(OFFICER),
    "GET /api/v1/activities/<slug>/budgets/<month>": Access(OFFICER),
    "PUT /api/v1/activities/<slug>/budgets/<month>": Access(OFFICER, {"budget_credits": 100}),
    "GET /api/v1/earning-settings": Access(OFFICER),
    "PUT /api/v1/earning-settings": Access(OFFICER, {"four_eyes_threshold_credits": 50}),
    "GET /api/v1/groups": Access(COORDINATOR | OFFICER),
    "POST /api/v1/groups": Access(OFFICER, {"name": "Matrix team", "activities": []}),
    "GET /api/v1/groups/<int:group_id>": Access(COORDINATOR | OFFICER),
    "PATCH /api/v1/groups/<int:group_id>": Access(OFFICER, {"name": "Renamed team"}),
    "POST /api/v1/groups/<int:group_id>/members": Access(OFFICER, {"person_id": 1}),
    "DELETE /api/v1/groups/<int:group_id>/members/<int:person_id>": Access(OFFICER),
    "POST /api/v1/groups/<int:group_id>/coordinators": Access(OFFICER, {"person_id": 1}),
    "DELETE /api/v1/groups/<int:group_id>/coordinators/<int:person_id>": Access(OFFICER),
    "POST /api/v1/earnings": Access(
        COORDINATOR,
        {
            "member_email": "member1@test.example",
            "activity": "snow-clearing",
            "quantity": "1",
            "occurred_on": _DAY,
            "idempotency_key": "matrix",
        },
    ),
    "POST /api/v1/earnings/bulk": Access(
        COORDINATOR,
        {
            "activity": "snow-clearing",
            "occurred_on": _DAY,
            "idempotency_key": "matrix",
            "lines": [{"member_email": "member1@test.example", "quantity": "1"}],
        },
    ),
    "GET /api/v1/earnings/queue": Access(COORDINATOR | OFFICER),
    "GET /api/v1/earnings/<int:award_id>": Access(COORDINATOR | OFFICER),
    "POST /api/v1/earnings/<int:award_id>/approve": Access(
        COORDINATOR | OFFICER, {"idempotency_key": "matrix"}
    ),
    "POST /api/v1/earnings/<int:award_id>/reject": Access(
        COORDINATOR | OFFICER, {"reason": "matrix"}
    ),
    "POST /api/v1/claims": Access(
        MEMBER,
        {
            "activity": "snow-clearing",
            "quantity": "1",
            "occurred_on": _DAY,
            "idempotency_key": "matrix",
        },
    ),
    "GET /api/v1/claims": Access(MEMBER),
    "GET /api/v1/claims/<int:claim_id>": Access(MEMBER),
    "POST /api/v1/terminal/journal": Access(
        TERMINAL,
        {
            "entries": [
                {
                    "scan_id": "m",
                    "voucher_id": "a" * 32,
                    "amount": 1,
                    "outcome": "refused",
                    "at": "2026-01-01T00:00:00Z",
                }
            ]
        },
    ),
    # settlement: officers settle and reconcile; a shop's terminal and staff read its own
    # remittances and (masked) bank details
    "POST /api/v1/settlements": Access(OFFICER, {"month": "2026-10", "idempotency_key": "m"}),
    "GET /api/v1/settlements": Access(OFFICER),
    "GET /api/v1/settlements/<int:run_id>": Access(OFFICER),
    "POST /api/v1/settlements/<int:run_id>/approve": Access(OFFICER, {}),
    "POST /api/v1/settlements/<int:run_id>/cancel": Access(OFFICER, {"reason": "matrix"}),
    "GET /api/v1/settlements/<int:run_id>/files/<string:fmt>": Access(OFFICER),
    "GET /api/v1/settlements/remittances": Access(SHOP_SIDE),
    "GET /api/v1/settlements/<int:run_id>/remittances/<int:shop_id>": Access(SHOP_SIDE),
    "GET /api/v1/settlements/payees": Access(OFFICER),
    "GET /api/v1/settlements/payees/<int:shop_id>": Access(SHOP_SIDE),
    "POST /api/v1/settlements/payees/<int:shop_id>": Access(
        OFFICER,
        {
            "legal_name": "Matrix Bakery Ltd",
            "sort_code": "089999",
            "account_number": "66374958",
            "reason": "matrix",
        },
    ),
    "POST /api/v1/settlements/payee-changes/<int:payee_id>/approve": Access(OFFICER),
    "POST /api/v1/settlements/payee-changes/<int:payee_id>/reject": Access(
        OFFICER, {"reason": "matrix"}
    ),
    "POST /api/v1/settlements/bank-statements": Access(OFFICER),
    "GET /api/v1/settlements/bank-statements": Access(OFFICER),
    "GET /api/v1/settlements/bank-statements/<int:import_id>": Access(OFFICER),
    "GET /api/v1/settlements/mismatches": Access(OFFICER),
    "POST /api/v1/settlements/mismatches/<int:mismatch_id>/resolve": Access(
        OFFICER, {"resolution": "matrix"}
    ),
}
