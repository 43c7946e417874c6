"""Statements tests: vouchers last 5 days so that one expires inside the worked month."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**settings_overrides, "VOUCHER_EXPIRY_DAYS": 5}
