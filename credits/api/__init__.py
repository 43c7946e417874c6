"""The JSON API under /api/v1: flask-smorest blueprints, marshmallow schemas, problem+json.

Routes are thin: authorise (before the body is read) → parse with a schema → call a use case
in one unit of work → dump with a schema. Domain errors become problem+json in problems.py.
A capability adds its blueprint to BLUEPRINTS below.
"""

from __future__ import annotations

import marshmallow as ma
from flask import Flask
from flask_smorest import Api

from credits.api import inputs
from credits.api.problems import register_error_handlers


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details, plus our machine-readable ``code``."""

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


class CreditsApi(Api):
    """flask-smorest's Api, documenting our problem+json errors."""

    ERROR_SCHEMA = ProblemSchema
    DEFAULT_ERROR_RESPONSE_NAME = "DEFAULT_ERROR"


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
