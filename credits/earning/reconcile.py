"""Checks `credits verify` runs for earning (see credits/reconcile.py).

- ``earning_counters``: every budget counter (activity, month) and every member cap counter
  (member, activity, week or month) equals the sum of the posted award lines it counts.
  A counter that drifted would let a cap or a budget be exceeded (or refuse a fair award).
- ``earning_awards_posted``: every posted award has exactly one entry, an ``earn`` entry
  whose postings are issuance −total and each line's member +credits; every other award
  has no entry.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from credits import ledger
from credits.accounts.models import Person
from credits.earning import dates
from credits.earning.models import T_AWARD, T_BUDGET, T_LINE, T_USAGE
from credits.ledger import CheckResult
from credits.ledger.models import T_ENTRY, T_POSTING

T_PERSON = Person.__table__  # type: ignore[attr-defined]


def check_counters(session: Session) -> CheckResult:
    """Budget and cap counters equal the sums of posted award lines."""
    result = CheckResult(
        "earning_counters", "budget and cap counters equal the posted awards they count"
    )
    budget: dict[tuple[int, str], int] = defaultdict(int)
    usage: dict[tuple[int, int, str], int] = defaultdict(int)
    rows = session.execute(
        select(T_AWARD.c.activity_id, T_AWARD.c.occurred_on, T_LINE.c.person_id, T_LINE.c.credits)
        .join(T_LINE, T_LINE.c.award_id == T_AWARD.c.id)
        .where(T_AWARD.c.state == "posted")
    )
    for activity_id, day, person_id, credits in rows:
        month, week = dates.month_key(day), dates.week_key(day)
        budget[(int(activity_id), month)] += int(credits)
        usage[(int(person_id), int(activity_id), month)] += int(credits)
        usage[(int(person_id), int(activity_id), week)] += int(credits)
    stored_budget = {
        (int(a), m): int(i)
        for a, m, i in session.execute(
            select(T_BUDGET.c.activity_id, T_BUDGET.c.month, T_BUDGET.c.issued_credits)
        )
    }
    for key in sorted(set(budget) | set(stored_budget)):
        result.checked += 1
        if budget.get(key, 0) != stored_budget.get(key, 0):
            result.add(
                f"activity {key[0]} month {key[1]}: counter {stored_budget.get(key, 0)}, "
                f"posted awards {budget.get(key, 0)}"
            )
    stored_usage = {
        (int(p), int(a), k): int(c)
        for p, a, k, c in session.execute(
            select(T_USAGE.c.person_id, T_USAGE.c.activity_id, T_USAGE.c.period, T_USAGE.c.credits)
        )
    }
    for ukey in sorted(set(usage) | set(stored_usage)):
        result.checked += 1
        if usage.get(ukey, 0) != stored_usage.get(ukey, 0):
            result.add(
                f"member {ukey[0]} activity {ukey[1]} period {ukey[2]}: counter "
                f"{stored_usage.get(ukey, 0)}, posted awards {usage.get(ukey, 0)}"
            )
    return result


def check_awards_posted(session: Session) -> CheckResult:
    """Posted awards match their entries exactly; other awards have none."""
    result = CheckResult(
        "earning_awards_posted", "each posted award is exactly one matching earn entry"
    )
    issuance = ledger.account_by_code(session, ledger.ISSUANCE)
    accounts = dict(session.execute(select(T_PERSON.c.id, T_PERSON.c.ledger_account_id)).all())
    awards = session.execute(
        select(T_AWARD.c.id, T_AWARD.c.state, T_AWARD.c.entry_id, T_AWARD.c.total_credits)
    ).all()
    lines: dict[int, dict[int, int]] = defaultdict(dict)
    for award_id, person_id, credits in session.execute(
        select(T_LINE.c.award_id, T_LINE.c.person_id, T_LINE.c.credits)
    ):
        lines[int(award_id)][int(person_id)] = int(credits)
    entry_ids = [int(e) for _, _, e, _ in awards if e is not None]
    kinds = dict(
        session.execute(
            select(T_ENTRY.c.id, T_ENTRY.c.kind).where(T_ENTRY.c.id.in_(entry_ids))
        ).all()
    )
    postings: dict[int, dict[int, int]] = defaultdict(dict)
    for entry_id, account_id, amount in session.execute(
        select(T_POSTING.c.entry_id, T_POSTING.c.account_id, T_POSTING.c.amount).where(
            T_POSTING.c.entry_id.in_(entry_ids)
        )
    ):
        postings[int(entry_id)][int(account_id)] = int(amount)
    for award_id, state, entry_id, total in awards:
        result.checked += 1
        if state != "posted":
            if entry_id is not None:
                result.add(f"award {award_id} is {state} but has entry {entry_id}")
            continue
        if entry_id is None:
            result.add(f"award {award_id} is posted without an entry")
            continue
        expected = {accounts.get(p): c for p, c in lines[int(award_id)].items()}
        if issuance is not None:
            expected[issuance.id] = -int(total)
        if kinds.get(entry_id) != ledger.EntryKind.EARN.value:
            result.add(f"award {award_id}: entry {entry_id} is not an earn entry")
        elif postings[int(entry_id)] != expected or sum(lines[int(award_id)].values()) != total:
            result.add(f"award {award_id}: entry {entry_id} does not match its lines")
    return result


EARNING_CHECKS = (check_counters, check_awards_posted)
