"""Cooperative Credits: the ledger service.

``create_app(config=None)`` builds the Flask app. ``config`` overrides settings by name
(``{"DATABASE_URL": ..., "INSTANCE_PATH": ...}``); everything else comes from ``CREDITS_*``
environment variables (see credits/config.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

__all__ = ["create_app"]


def create_app(config: Mapping[str, Any] | None = None, *, services: Any = None) -> Flask:
    """Build the app. Refuses to start on a database that is not migrated (run
    `credits init-db`). ``services`` lets a caller that already built them share them."""
    from credits.api import register_api
    from credits.api.inputs import install_converters
    from credits.services import Services
    from credits.web import register_web

    svc = services or Services.build(config)
    # Static files are served by the web blueprint (credits/web/static); the app has none.
    app = Flask(__name__, instance_path=str(svc.settings.instance_path), static_folder=None)
    app.config.update(
        SECRET_KEY=svc.settings.secret_key,
        MAX_CONTENT_LENGTH=svc.settings.max_body_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=svc.settings.secure_cookies,
        JSON_SORT_KEYS=False,
    )
    app.extensions["credits"] = svc
    # Bounded path converters (credits/api/inputs.py) before any blueprint adds a rule.
    install_converters(app)
    # The public record (/open, /api/v1/open): one cache per process, for every request.
    from credits.open import Meta, PublicRecordService

    try:
        meta = Meta(publisher=svc.settings.council_name, licence=svc.settings.open_data_licence)
    except ValueError:
        if services is None:
            svc.close()  # built here: release its connections before refusing to start
        raise
    app.extensions["credits_open"] = PublicRecordService(
        svc.db,
        svc.settings.instance_path,
        meta,
        recheck_s=svc.settings.open_recheck_ms / 1000,
    )
    from credits.api.monitoring import install as install_monitoring

    install_monitoring(app, svc.settings)
    register_web(app)
    register_api(app)
    # Vouchers and redemptions described in members' histories and on their home page.
    from credits.redemption.history import install

    install()
    # Adjustments show the officer's reason in members' histories.
    from credits.adjustments import install as install_adjustments

    install_adjustments()
    return app
