"""Redemption failures a terminal can cause (contract v1 codes and extensions)."""

from __future__ import annotations

from credits.errors import ValidationFailed
from credits.i18n import T


class AmountExceedsVoucher(ValidationFailed):
    code = "amount_exceeds_voucher"
    title = T("That is more than the voucher is worth")


class OfflineLimitExceeded(ValidationFailed):
    code = "offline_limit_exceeded"
    title = T("Above this terminal's offline limit")
