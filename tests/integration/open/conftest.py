"""Public record tests: the worked month (tests/integration/statements/worked_month.py),
closed, seen by an anonymous visitor."""

from __future__ import annotations

from typing import Any

import pytest

from ..statements.worked_month import build_worked_month, close_months, london

#: When the tests look: October 2026 has been closed; November is open.
NOW = london(2026, 11, 25, 12)


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    # Vouchers last 5 days, so one expires inside the worked month.
    # The record's stamp is read on every request here: the tests change the record from
    # other processes (and under a frozen clock) and look at once.
    return {
        **settings_overrides,
        "VOUCHER_EXPIRY_DAYS": 5,
        "COUNCIL_NAME": "Test Council",
        "OPEN_RECHECK_MS": 0,
    }


@pytest.fixture
def worked(db, client, make_person):
    """The worked month, with September and October closed."""
    month = build_worked_month(db, client, make_person)
    close_months(db, "2026-09", "2026-10")
    return month
