"""Adjustment failures an officer can cause. Each maps to a problem+json ``code``."""

from __future__ import annotations

from credits.errors import Conflict, Forbidden, NotFound, ValidationFailed
from credits.i18n import T


class UnknownMember(ValidationFailed):
    code = "unknown_member"
    title = T("No such member")


class SelfAdjustment(Forbidden):
    code = "self_adjustment"
    title = T("You cannot adjust your own balance")


class SecondOfficerRequired(Forbidden):
    code = "second_approver_required"
    title = T("A different officer must approve this adjustment")


class AdjustmentNotFound(NotFound):
    title = T("No such adjustment")


class AdjustmentNotPending(Conflict):
    code = "adjustment_not_pending"
    title = T("That adjustment has already been decided")
