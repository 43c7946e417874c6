"""The checks `credits verify` (and so every month close) runs for settlement.

``settlement_entries`` — settled credits equal the approved runs:

- the ``scheme:settled`` account holds exactly the credits of the paid lines of approved
  (and paid) runs;
- each such line is exactly one ``settlement`` entry of two postings: its shop's account
  ``−credits`` and ``scheme:settled`` ``+credits``; every posting to the settled account
  belongs to such a line's entry; there are as many settlement entries as such lines;
- lines of runs not approved (pending, cancelled) and rolled-over lines have no entry.

``settlement_runs`` — the runs add up: each line's credits and pence are the sum of its
breakdown (credits × rate, credits.settlement.amounts), each run's totals the sum of its
paid lines, each line's ``paid_pence`` what the bank lines matched to it show, a line marked
paid is paid in full, and a paid run has every line paid.

The settlement tables have no append-only triggers (a run changes state), so an edited row
would otherwise go unnoticed; these find it.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from credits import ledger
from credits.ledger import CheckResult
from credits.settlement.amounts import pence_for

_LINE_ENTRIES = """
SELECT l.id, l.credits, l.entry_id, r.state, l.status, e.kind, count(p.id),
       sum(CASE WHEN p.account_id = s.ledger_account_id THEN p.amount ELSE 0 END),
       sum(CASE WHEN p.account_id = :settled THEN p.amount ELSE 0 END)
FROM settlement_line l
JOIN settlement_run r ON r.id = l.run_id
JOIN shop s ON s.id = l.shop_id
LEFT JOIN journal_entry e ON e.id = l.entry_id
LEFT JOIN posting p ON p.entry_id = l.entry_id
GROUP BY l.id, l.credits, l.entry_id, r.state, l.status, e.kind
ORDER BY l.id
"""

_STRAY = """
SELECT DISTINCT p.entry_id FROM posting p
LEFT JOIN settlement_line l ON l.entry_id = p.entry_id
WHERE p.account_id = :settled AND l.id IS NULL
ORDER BY p.entry_id
"""


def check_settlement_entries(session: Session) -> CheckResult:
    """Settled credits equal the approved runs (see the module docstring)."""
    result = CheckResult("settlement_entries", "settled credits equal the approved settlement runs")
    settled = ledger.account_by_code(session, ledger.SETTLED)
    if settled is None:
        result.add("the scheme:settled account is missing (run `credits init-db`)")
        return result
    expected = 0
    with_entry = 0
    rows = session.execute(text(_LINE_ENTRIES), {"settled": settled.id})
    for line_id, credits, entry_id, state, status, kind, n, shop, to_settled in rows:
        result.checked += 1
        should_have = state in ("approved", "paid") and status == "payable"
        if not should_have:
            if entry_id is not None:
                result.add(f"settlement line {line_id} ({state}, {status}) has entry {entry_id}")
            continue
        if entry_id is None:
            result.add(f"settlement line {line_id} of an approved run has no entry")
            continue
        with_entry += 1
        expected += int(credits)
        if kind != "settlement" or int(n) != 2:
            result.add(f"settlement line {line_id}: entry {entry_id} is not a two-posting "
                       "settlement entry")  # fmt: skip
        elif int(shop) != -int(credits) or int(to_settled) != int(credits):
            result.add(
                f"settlement line {line_id} settles {credits} credits; entry {entry_id} moved "
                f"{shop} on the shop's account and {to_settled} to settled"
            )
    for (entry_id,) in session.execute(text(_STRAY), {"settled": settled.id}):
        result.add(f"entry {entry_id} posts to the settled account but settles no run's line")
    held = ledger.balance(session, settled.id)
    if held != expected:
        result.add(
            f"the settled account holds {held} credits; the approved runs settled {expected}"
        )
    entries = int(
        session.execute(
            text("SELECT count(*) FROM journal_entry WHERE kind = 'settlement'")
        ).scalar_one()
    )
    if entries != with_entry:
        result.add(f"{entries} settlement entries, but approved runs have {with_entry} lines")
    return result


_RUN_TOTALS = """
SELECT r.id, r.state, r.total_credits, r.total_pence, r.payments,
       coalesce(sum(CASE WHEN l.status = 'payable' THEN l.credits END), 0),
       coalesce(sum(CASE WHEN l.status = 'payable' THEN l.amount_pence END), 0),
       count(CASE WHEN l.status = 'payable' THEN 1 END),
       count(CASE WHEN l.status = 'payable' AND l.paid_pence <> l.amount_pence THEN 1 END)
FROM settlement_run r LEFT JOIN settlement_line l ON l.run_id = r.id
GROUP BY r.id, r.state, r.total_credits, r.total_pence, r.payments
ORDER BY r.id
"""

_LINES = """
SELECT l.id, l.credits, l.amount_pence, l.breakdown, l.paid_pence, l.paid_on,
       coalesce(b.seen, 0)
FROM settlement_line l
LEFT JOIN (SELECT settlement_line_id, sum(-amount_pence) AS seen FROM bank_line
           WHERE settlement_line_id IS NOT NULL GROUP BY settlement_line_id) b
       ON b.settlement_line_id = l.id
ORDER BY l.id
"""


def check_settlement_runs(session: Session) -> CheckResult:
    """Runs, lines and bank payments add up (see the module docstring)."""
    import json

    result = CheckResult("settlement_runs", "settlement runs, lines and bank payments add up")
    for (
        rid,
        state,
        credits,
        pence,
        payments,
        l_credits,
        l_pence,
        l_count,
        unpaid,
    ) in session.execute(text(_RUN_TOTALS)):
        result.checked += 1
        if (int(credits), int(pence), int(payments)) != (
            int(l_credits),
            int(l_pence),
            int(l_count),
        ):
            result.add(
                f"run {rid} says {payments} payments of {credits} credits, {pence} pence; its "
                f"lines add up to {l_count}, {l_credits}, {l_pence}"
            )
        if state == "paid" and int(unpaid):
            result.add(f"run {rid} is marked paid but {unpaid} payment(s) are not paid in full")
    for lid, credits, pence, breakdown, paid, paid_on, seen in session.execute(text(_LINES)):
        parts = json.loads(breakdown) if isinstance(breakdown, str) else breakdown
        want_credits = sum(int(p["credits"]) for p in parts)
        want_pence = pence_for((int(p["credits"]), int(p["rate"])) for p in parts)
        if (int(credits), int(pence)) != (want_credits, want_pence):
            result.add(
                f"settlement line {lid}: {credits} credits, {pence} pence, but its breakdown "
                f"gives {want_credits} credits, {want_pence} pence"
            )
        if int(paid) != int(seen):
            result.add(
                f"settlement line {lid}: paid {paid} pence, the bank lines matched to it "
                f"show {seen}"
            )
        if paid_on is not None and int(paid) != int(pence):
            result.add(f"settlement line {lid} is marked paid but {paid} of {pence} pence is")
    return result


SETTLEMENT_CHECKS = (check_settlement_entries, check_settlement_runs)
