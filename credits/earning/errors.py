"""Earning failures a user can cause. Each maps to a problem+json ``code`` (credits/errors.py).

Refusals that depend on what has already been awarded (a cap, a budget) are 409, like
``insufficient_funds``; a request that cannot be processed as sent is 422.
"""

from __future__ import annotations

from typing import Any

from credits.errors import Conflict, Forbidden, NotFound, ValidationFailed
from credits.i18n import T


class UnknownActivity(ValidationFailed):
    code = "unknown_activity"
    title = T("No such activity")


class ActivityNotFound(NotFound):
    title = T("No such activity")


class ActivityInactive(ValidationFailed):
    code = "activity_inactive"
    title = T("That activity is not taking awards")


class ActivityExists(Conflict):
    code = "activity_exists"
    title = T("An activity with that slug already exists")


class UnknownMember(ValidationFailed):
    """No such member *among the people the caller may award*: a coordinator cannot tell
    an unknown email from someone in another coordinator's group (they see only their own)."""

    code = "unknown_member"
    title = T("No such member")


class GroupNotFound(NotFound):
    title = T("No such group")


class GroupExists(Conflict):
    code = "group_exists"
    title = T("A group with that name already exists")


class NotYourGroup(Forbidden):
    code = "forbidden"
    title = T("Not one of your groups")


class SelfAward(Forbidden):
    code = "self_award"
    title = T("You cannot award or approve credits for yourself")


class SecondApproverRequired(Forbidden):
    code = "second_approver_required"
    title = T("A different person must give the second approval")


class AwardNotFound(NotFound):
    title = T("No such award")


class AwardNotPending(Conflict):
    code = "award_not_pending"
    title = T("That award has already been decided")


class CapExceeded(Conflict):
    """An award would take a member past an activity's weekly or monthly cap."""

    code = "cap_exceeded"
    title = T("That would exceed the member's cap")


class BudgetExceeded(Conflict):
    """An award would take an activity past its issuance budget for the month."""

    code = "budget_exceeded"
    title = T("That would exceed the activity's budget for the month")


class LinesRefused(ValidationFailed):
    """A session sheet in which some lines cannot be awarded: nothing was posted.

    ``lines`` lists every failing line: ``{"line": 1-based index, "member_email", "code",
    "detail", ...}`` (cap refusals also say ``credits_left``).
    """

    code = "lines_refused"
    title = T("Some lines of the sheet cannot be awarded; nothing was posted")

    def __init__(self, detail: str, lines: list[dict[str, Any]]) -> None:
        super().__init__(detail, lines=lines)
        self.lines = lines


class NotInGroup(ValidationFailed):
    """A member claimed an activity that none of their groups does."""

    code = "not_in_group"
    title = T("You are not in a group that does this activity")
