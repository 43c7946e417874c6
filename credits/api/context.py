"""Access to the process's services from inside a request."""

from __future__ import annotations

from flask import current_app

from credits.open import PublicRecordService
from credits.services import Services


def services() -> Services:
    """The Services built by create_app."""
    svc: Services = current_app.extensions["credits"]
    return svc


def public_record() -> PublicRecordService:
    """The process's public record (credits.open), built by create_app."""
    record: PublicRecordService = current_app.extensions["credits_open"]
    return record
