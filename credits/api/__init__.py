"""The JSON API under /api/v1: flask-smorest blueprints, marshmallow schemas, problem+json.

Routes are thin: authorise (before the body is read) → parse with a schema → call a use case
in one unit of work → dump with a schema. Domain errors become problem+json in problems.py.
A capability adds its blueprint to BLUEPRINTS below.
"""

from __future__ import annotations

import http
import re
from typing import Any

import marshmallow as ma
from apispec import BasePlugin
from flask import Flask
from flask_smorest import Api

from credits.api import inputs
from credits.api.problems import PROBLEM_JSON, register_error_handlers


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details, plus our machine-readable ``code``. A problem type may add
    extension members of its own (RFC 9457 section 3.2: ``shop_id`` for already_redeemed,
    ``errors`` for validation_error...), so the object is open."""

    class Meta:
        unknown = ma.INCLUDE

    type = inputs.String()
    title = inputs.String()
    status = inputs.Integer()
    code = inputs.String(
        metadata={"description": "stable machine-readable code, e.g. insufficient_funds"}
    )
    detail = inputs.String()
    instance = inputs.String()
    errors = ma.fields.Dict(metadata={"description": "field -> messages, for validation_error"})
    request_id = inputs.String(
        metadata={"description": "this request's id (also the X-Request-ID header): quote it"}
    )
    required_roles = ma.fields.List(
        inputs.String(),
        metadata={"description": "for forbidden by role: the roles that may do this"},
    )


class CreditsApi(Api):
    """flask-smorest's Api, documenting our problem+json errors."""

    ERROR_SCHEMA = ProblemSchema
    DEFAULT_ERROR_RESPONSE_NAME = "DEFAULT_ERROR"

    def _register_responses(self) -> None:
        """The response components of every HTTP status (401, 403, 404..., and the
        ``default`` every operation gets) are documented as what they are:
        application/problem+json, not flask-smorest's application/json."""
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["content"] = {PROBLEM_JSON: {"schema": self.ERROR_SCHEMA}}
            self.spec.components.response(status.name, response, lazy=True)
        self.spec.components.response(
            self.DEFAULT_ERROR_RESPONSE_NAME,
            {
                "description": "An error: problem+json with a `code`",
                "content": {PROBLEM_JSON: {"schema": self.ERROR_SCHEMA}},
            },
            lazy=True,
        )


class CommonRefusals(BasePlugin):  # type: ignore[misc]
    """Documents on every operation the refusals any operation of its kind can answer, so
    that each is named rather than left to the ``default`` response (the contract test,
    tests/integration/test_api_contract.py, counts only named statuses):

    - 503 ``unavailable`` (the database cannot be reached; Retry-After), except /healthz,
      which does not touch the database;
    - 404 ``not_found`` where the path names something (an id, a code, a role...);
    - 400 (a body that is not JSON) and 413 (a body too large) where there is a body;
    - every 4xx status its description names ("409 `activity_exists` if it is taken"), so
      the prose and the list of responses cannot drift apart.

    401/403 come with :func:`credits.api.auth.require`, 422 with every ``arguments``
    schema; a refusal particular to one operation may also be documented on it, with its
    codes, by :func:`credits.api.inputs.refuses`.
    """

    #: Paths that do not touch the database.
    NO_DATABASE = frozenset({"/healthz"})

    def operation_helper(
        self, path: str | None = None, operations: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        for operation in (operations or {}).values():
            responses = operation.setdefault("responses", {})
            codes = [] if path in self.NO_DATABASE else [503]
            if path and "{" in path:
                codes.append(404)
            if "requestBody" in operation:
                codes += [400, 413]
            prose = f"{operation.get('summary', '')} {operation.get('description', '')}"
            codes += sorted({int(c) for c in re.findall(r"\b(4[0-9][0-9])\b", prose)})
            for code in codes:
                if code not in responses and str(code) not in responses:
                    responses[str(code)] = http.HTTPStatus(code).name


def _blueprints() -> list:  # type: ignore[type-arg]
    from credits.api import audit, people, tokens
    from credits.api.activities import blp as activities
    from credits.api.activities import settings_blp as earning_settings
    from credits.api.adjustments import blp as adjustments
    from credits.api.earning import blp as earnings
    from credits.api.earning import claims_blp as claims
    from credits.api.earning import me_entries_blp as me_entries
    from credits.api.groups import blp as groups
    from credits.api.health import blp as health
    from credits.api.me import blp as me
    from credits.api.open import blp as open_data
    from credits.api.redemptions import blp as redemptions
    from credits.api.settlements import blp as settlements
    from credits.api.shops import blp as shops
    from credits.api.statements import blp as statements
    from credits.api.vouchers import blp as vouchers

    return [
        health,
        me,
        people.blp,
        people.invitations_blp,
        people.registrations_blp,
        people.resets_blp,
        tokens.my_blp,
        tokens.blp,
        audit.blp,
        shops,
        statements,
        open_data,
        vouchers,
        redemptions,
        me_entries,
        activities,
        earning_settings,
        groups,
        earnings,
        claims,
        adjustments,
        settlements,
    ]


def register_api(app: Flask) -> Api:
    """Create the Api, register every blueprint, then our error handlers."""
    app.config.update(
        API_TITLE="Cooperative Credits",
        API_VERSION="v1",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
    )
    api = CreditsApi(
        app,
        spec_kwargs={
            "extra_plugins": [CommonRefusals()],
            "info": {
                "description": "Contract v1 of the Cooperative Credits ledger. Errors are "
                "application/problem+json with a `code`."
            },
        },
    )
    api.spec.components.security_scheme(
        "bearer", {"type": "http", "scheme": "bearer", "description": "an API token"}
    )
    for blp in _blueprints():
        api.register_blueprint(blp)
    register_error_handlers(app)
    return api
