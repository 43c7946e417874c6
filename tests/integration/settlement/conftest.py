"""Settlement tests: the worked month (tests/integration/statements/worked_month.py), settled
and paid. Vouchers last 5 days (as in the statements tests); the council's own account is
configured so that pain.001 files can be written."""

from __future__ import annotations

from typing import Any

import pytest

from ..statements.worked_month import build_worked_month


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    return {
        **settings_overrides,
        "VOUCHER_EXPIRY_DAYS": 5,
        "COUNCIL_NAME": "Test Borough Council",
        "SETTLEMENT_PAYER_ACCOUNT": "86-09-00 06774744",
    }


@pytest.fixture
def month(db, client, make_person):
    """The worked month (October 2026), with September and nothing else closed."""
    return build_worked_month(db, client, make_person)
