"""Statements tests: vouchers last 5 days so that one expires inside the worked month."""

from __future__ import annotations

from typing import Any

import pytest
from freezegun import freeze_time

from ..web_helpers import sign_in
from .worked_month import build_worked_month, london

#: When the page tests run: October 2026 has ended, November is open.
NOW = london(2026, 11, 25, 12)


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**settings_overrides, "VOUCHER_EXPIRY_DAYS": 5}


@pytest.fixture
def month(db, client, make_person):
    """The worked month (October 2026; tests/integration/statements/worked_month.py)."""
    return build_worked_month(db, client, make_person)


@pytest.fixture
def officer_client(app, month):
    """A browser-like client signed in as the worked month's officer."""
    web = app.test_client()
    with freeze_time(NOW):
        assert sign_in(web, month.officer.email).status_code == 302
    return web
