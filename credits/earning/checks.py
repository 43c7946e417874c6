"""Checks `credits verify` runs for earning (see credits/verify_checks.py).

- ``earning_counters``: every budget counter (activity, month) and every member cap counter
  (member, activity, week or month) equals the sum of the posted award lines it counts.
  A counter that drifted would let a cap or a budget be exceeded (or refuse a fair award).
- ``earning_awards_posted``: every posted award has exactly one entry, an ``earn`` entry
  whose postings are issuance −total and each line's member +credits; every other award
  has no entry.

On PostgreSQL both run as set-based queries that return only what is wrong (a borough's
year is millions of award lines: docs/benchmarks.md); elsewhere the same rules are checked
in Python over every row. The two report the same problems in the same words, and the tests
tamper with both.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from credits import ledger
from credits.accounts.models import Person
from credits.earning import dates
from credits.earning.models import T_AWARD, T_BUDGET, T_LINE, T_USAGE
from credits.ledger import CheckResult
from credits.ledger.models import T_ENTRY, T_POSTING
from credits.ledger.verify import costs, tune_for_verify

T_PERSON = Person.__table__  # type: ignore[attr-defined]


def _on_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


@costs(15)
def check_counters(session: Session) -> CheckResult:
    """Budget and cap counters equal the sums of posted award lines."""
    result = CheckResult(
        "earning_counters", "budget and cap counters equal the posted awards they count"
    )
    if _on_postgres(session):
        return _counters_in_sql(session, result)
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


@costs(10)
def check_awards_posted(session: Session) -> CheckResult:
    """Posted awards match their entries exactly; other awards have none."""
    result = CheckResult(
        "earning_awards_posted", "each posted award is exactly one matching earn entry"
    )
    issuance = ledger.account_by_code(session, ledger.ISSUANCE)
    if _on_postgres(session):
        return _awards_posted_in_sql(session, result, None if issuance is None else issuance.id)
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


# ``lines``: each posted award line with the London month and ISO week of its date, written
# as dates.month_key and dates.week_key write them.
_BUDGET_SQL = text(
    """
    WITH lines AS (
        SELECT a.activity_id, l.person_id, l.credits,
               to_char(a.occurred_on, 'YYYY-MM') AS month,
               to_char(a.occurred_on, 'IYYY-"W"IW') AS week
        FROM award a JOIN award_line l ON l.award_id = a.id WHERE a.state = 'posted'
    ),
    posted AS (SELECT activity_id, month, sum(credits) AS credits FROM lines GROUP BY 1, 2),
    joined AS (
        SELECT coalesce(p.activity_id, b.activity_id) AS activity_id,
               coalesce(p.month, b.month) AS month,
               coalesce(b.issued_credits, 0) AS stored, coalesce(p.credits, 0) AS posted
        FROM posted p FULL JOIN activity_budget b
          ON b.activity_id = p.activity_id AND b.month = p.month
    )
    SELECT (SELECT count(*) FROM joined) AS checked, activity_id, month, stored, posted
    FROM (SELECT * FROM joined WHERE stored <> posted) bad RIGHT JOIN (SELECT 1) one ON true
    ORDER BY activity_id, month
    """
)

_USAGE_SQL = text(
    """
    WITH lines AS MATERIALIZED (
        SELECT a.activity_id, l.person_id, l.credits,
               to_char(a.occurred_on, 'YYYY-MM') AS month,
               to_char(a.occurred_on, 'IYYY-"W"IW') AS week
        FROM award a JOIN award_line l ON l.award_id = a.id WHERE a.state = 'posted'
    ),
    posted AS (
        SELECT person_id, activity_id, month AS period, sum(credits) AS credits
        FROM lines GROUP BY 1, 2, 3
        UNION ALL
        SELECT person_id, activity_id, week, sum(credits) FROM lines GROUP BY 1, 2, 3
    ),
    joined AS (
        SELECT coalesce(p.person_id, u.person_id) AS person_id,
               coalesce(p.activity_id, u.activity_id) AS activity_id,
               coalesce(p.period, u.period) AS period,
               coalesce(u.credits, 0) AS stored, coalesce(p.credits, 0) AS posted
        FROM posted p FULL JOIN member_activity_usage u
          ON u.person_id = p.person_id AND u.activity_id = p.activity_id AND u.period = p.period
    )
    SELECT (SELECT count(*) FROM joined) AS checked, person_id, activity_id, period, stored,
           posted
    FROM (SELECT * FROM joined WHERE stored <> posted) bad RIGHT JOIN (SELECT 1) one ON true
    ORDER BY person_id, activity_id, period
    """
)


def _counters_in_sql(session: Session, result: CheckResult) -> CheckResult:
    tune_for_verify(session)
    for row in session.execute(_BUDGET_SQL):
        result.checked = int(row.checked)
        if row.activity_id is not None:
            result.add(
                f"activity {row.activity_id} month {row.month}: counter {row.stored}, "
                f"posted awards {row.posted}"
            )
    budget_keys = result.checked
    for row in session.execute(_USAGE_SQL):
        result.checked = budget_keys + int(row.checked)
        if row.person_id is not None:
            result.add(
                f"member {row.person_id} activity {row.activity_id} period {row.period}: "
                f"counter {row.stored}, posted awards {row.posted}"
            )
    return result


# One row per award that breaks a rule, with what is needed to say which rule. ``bad_lines``:
# the entry's postings are not exactly issuance −total and each line's member +credits
# (compared as sets of (account, amount) both ways).
_AWARDS_SQL = text(
    """
    WITH posted AS (
        SELECT id, entry_id, total_credits FROM award
        WHERE state = 'posted' AND entry_id IS NOT NULL
    ), expected AS (
        SELECT a.id AS award_id, a.entry_id, pe.ledger_account_id AS account_id,
               l.credits AS amount
        FROM posted a JOIN award_line l ON l.award_id = a.id
        LEFT JOIN person pe ON pe.id = l.person_id
        UNION ALL
        SELECT id, entry_id, CAST(:issuance AS bigint), -total_credits FROM posted
    ), actual AS (
        -- Each posted award's entry's postings by index lookup ("OFFSET 0" keeps the
        -- planner from hashing all of the journal's postings to find these 3.6 M).
        SELECT a.id AS award_id, p.account_id, p.amount
        FROM posted a CROSS JOIN LATERAL (
            SELECT account_id, amount FROM posting WHERE entry_id = a.entry_id OFFSET 0
        ) p
    ), mismatched AS (
        SELECT DISTINCT coalesce(x.award_id, y.award_id) AS award_id
        FROM expected x FULL JOIN actual y
          ON y.award_id = x.award_id AND y.account_id = x.account_id AND y.amount = x.amount
        WHERE x.award_id IS NULL OR y.award_id IS NULL
    ), line_totals AS (
        SELECT award_id, sum(credits) AS credits FROM award_line GROUP BY award_id
    )
    SELECT a.id, a.state, a.entry_id, e.kind,
           (m.award_id IS NOT NULL OR t.credits IS DISTINCT FROM a.total_credits) AS bad_lines
    FROM award a
    LEFT JOIN journal_entry e ON e.id = a.entry_id
    LEFT JOIN mismatched m ON m.award_id = a.id
    LEFT JOIN line_totals t ON t.award_id = a.id
    WHERE (a.state <> 'posted' AND a.entry_id IS NOT NULL)
       OR (a.state = 'posted' AND a.entry_id IS NULL)
       OR (a.state = 'posted' AND (e.kind IS DISTINCT FROM 'earn' OR m.award_id IS NOT NULL
                                   OR t.credits IS DISTINCT FROM a.total_credits))
    ORDER BY a.id
    """
)


def _awards_posted_in_sql(
    session: Session, result: CheckResult, issuance_id: int | None
) -> CheckResult:
    tune_for_verify(session)
    result.checked = int(session.execute(select(func.count()).select_from(T_AWARD)).scalar_one())
    for award_id, state, entry_id, kind, bad_lines in session.execute(
        _AWARDS_SQL, {"issuance": issuance_id}
    ):
        if state != "posted":
            result.add(f"award {award_id} is {state} but has entry {entry_id}")
        elif entry_id is None:
            result.add(f"award {award_id} is posted without an entry")
        elif kind != ledger.EntryKind.EARN.value:
            result.add(f"award {award_id}: entry {entry_id} is not an earn entry")
        elif bad_lines:
            result.add(f"award {award_id}: entry {entry_id} does not match its lines")
    return result


EARNING_CHECKS = (check_counters, check_awards_posted)
