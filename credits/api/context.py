"""Access to the process's services from inside a request.

:func:`current_services` returns the one :class:`credits.services.Services` that create_app
built (settings + database), as ``flask.current_app`` returns the app: the class is
credits/services.py, this is how a view reaches its instance.
"""

from __future__ import annotations

from flask import current_app

from credits.open import PublicRecordService
from credits.services import Services


def current_services() -> Services:
    """The Services built by create_app, for the app handling this request."""
    svc: Services = current_app.extensions["credits"]
    return svc


def public_record() -> PublicRecordService:
    """The process's public record (credits.open), built by create_app."""
    record: PublicRecordService = current_app.extensions["credits_open"]
    return record
