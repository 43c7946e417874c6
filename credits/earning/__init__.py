"""Earning credits for volunteering: activities, groups, awards, claims, four eyes.

Rules this package keeps (each has a test that fails if it is broken):

1. **One award, one entry.** Credits are earned only through an award, and a posted award
   is exactly one balanced ``earn`` entry (issuance −total, each member +their credits),
   written with ``ledger.post_entry`` in the same transaction as the award
   (awards/posting.py; `credits verify`: ``earning_awards_posted``).
2. **Whole credits, never rounded.** quantity × rate must be a whole number of credits;
   otherwise the request is refused with the nearest valid quantities (quantities.py).
3. **Dates.** ``occurred_on`` is a Europe/London date, not in the future, at most 60 days
   back, not in a closed month (dates.py).
4. **Caps and budgets hold under any concurrency.** Per member per activity per London ISO
   week and month; per activity per London month. Checked under row locks taken in one
   fixed order when credits are posted (limits.py; counters checked by `credits verify`:
   ``earning_counters``).
5. **Scope.** A coordinator records and approves only for members of their active groups,
   for those groups' activities, and sees only those people (groups.py). A member claims
   only their groups' activities and sees only their own claims and history.
6. **Four eyes.** A line above the officers' threshold needs a second approval by an
   officer who is not the first approver; nobody awards or approves credits to themselves.
7. **Idempotency and attribution.** Every create takes a client key (namespaced per
   person); every step records who, when and via which token or session.

Use cases take a SQLAlchemy session inside a unit of work (``db.run``) and the caller's
:class:`~credits.accounts.Principal`; they never commit.
"""

from credits.earning.activities import (
    BudgetView,
    budget_view,
    budgets_around,
    create_activity,
    four_eyes_threshold,
    get_activity,
    list_activities,
    set_four_eyes_threshold,
    set_month_budget,
    settings_view,
    update_activity,
)
from credits.earning.awards import (
    AWAITING_OFFICER,
    CLAIM,
    PENDING,
    POSTED,
    RECORD,
    REJECTED,
    SESSION,
    AwardView,
    approve,
    file_claim,
    get_award,
    load_award,
    member_claims,
    queue,
    recent_for_coordinator,
    record_award,
    record_session,
    reject,
)
from credits.earning.groups import (
    GroupView,
    PersonRef,
    add_coordinator,
    add_member,
    create_group,
    get_group,
    list_groups,
    remove_coordinator,
    remove_member,
    update_group,
)
from credits.earning.history import HistoryItem, member_history

__all__ = [
    "AWAITING_OFFICER",
    "CLAIM",
    "PENDING",
    "POSTED",
    "RECORD",
    "REJECTED",
    "SESSION",
    "AwardView",
    "BudgetView",
    "GroupView",
    "HistoryItem",
    "PersonRef",
    "add_coordinator",
    "add_member",
    "approve",
    "budget_view",
    "budgets_around",
    "create_activity",
    "create_group",
    "file_claim",
    "four_eyes_threshold",
    "get_activity",
    "get_award",
    "get_group",
    "list_activities",
    "list_groups",
    "load_award",
    "member_claims",
    "member_history",
    "queue",
    "recent_for_coordinator",
    "record_award",
    "record_session",
    "reject",
    "remove_coordinator",
    "remove_member",
    "set_four_eyes_threshold",
    "set_month_budget",
    "settings_view",
    "update_activity",
    "update_group",
]
