"""Manual adjustments by officers, with four eyes above a threshold (service.py)."""

from credits.adjustments.errors import (
    AdjustmentNotFound,
    AdjustmentNotPending,
    SecondOfficerRequired,
    SelfAdjustment,
    UnknownMember,
)
from credits.adjustments.models import CREDIT, DEBIT, PENDING, POSTED, REJECTED, Adjustment
from credits.adjustments.service import (
    DEFAULT_FOUR_EYES_CREDITS,
    MAX_ADJUSTMENT_CREDITS,
    AdjustmentView,
    approve,
    get_threshold,
    install,
    list_adjustments,
    load_adjustment,
    reject,
    request_adjustment,
)

__all__ = [
    "CREDIT",
    "DEBIT",
    "DEFAULT_FOUR_EYES_CREDITS",
    "MAX_ADJUSTMENT_CREDITS",
    "PENDING",
    "POSTED",
    "REJECTED",
    "Adjustment",
    "AdjustmentNotFound",
    "AdjustmentNotPending",
    "AdjustmentView",
    "SecondOfficerRequired",
    "SelfAdjustment",
    "UnknownMember",
    "approve",
    "get_threshold",
    "install",
    "list_adjustments",
    "load_adjustment",
    "reject",
    "request_adjustment",
]
