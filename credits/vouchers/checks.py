"""Reconciliation checks of the vouchers (run by `credits verify` via credits.reconcile).

1. ``vouchers_outstanding``: the vouchers-outstanding account's balance equals the total face
   value of the open vouchers — the credits the scheme owes to voucher holders.
2. ``voucher_entries``: every voucher was issued by exactly its entry (member −f, vouchers
   outstanding +f, on the voucher's own account); every cancelled or expired voucher was
   closed by exactly one entry (vouchers outstanding −f, member +f) under the key
   ``voucher-close:<id>``; a redeemed voucher's closing entry, where recorded, takes f out of
   vouchers outstanding; an open voucher has no closing entry; and no ``voucher_issue``
   entry exists without its voucher.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import text
from sqlalchemy.orm import Session

from credits import ledger
from credits.ledger import CheckResult


def check_vouchers_outstanding(session: Session) -> CheckResult:
    """The vouchers-outstanding balance equals the face value of the open vouchers."""
    result = CheckResult(
        "vouchers_outstanding", "vouchers outstanding equals the face value of open vouchers"
    )
    account = ledger.account_by_code(session, ledger.VOUCHERS_OUTSTANDING)
    if account is None:
        result.add("the vouchers-outstanding account is missing")
        return result
    stored = ledger.balance(session, account.id)
    posted = int(
        session.execute(
            text("SELECT coalesce(sum(amount), 0) FROM posting WHERE account_id = :a"),
            {"a": account.id},
        ).scalar_one()
    )
    n, open_total = session.execute(
        text("SELECT count(*), coalesce(sum(face_value), 0) FROM voucher WHERE state = 'open'")
    ).one()
    result.checked = int(n)
    for label, value in (("stored balance", stored), ("postings", posted)):
        if int(value) != int(open_total):
            result.add(
                f"vouchers outstanding {label} is {value}, but {n} open vouchers hold "
                f"{open_total} (difference {int(value) - int(open_total)})"
            )
    return result


def check_voucher_entries(session: Session) -> CheckResult:
    """Each voucher's issuing and closing entries are exactly what its state says."""
    result = CheckResult(
        "voucher_entries", "each voucher's issue and close are one matching entry each"
    )
    account = ledger.account_by_code(session, ledger.VOUCHERS_OUTSTANDING)
    if account is None:
        result.add("the vouchers-outstanding account is missing")
        return result
    vo = account.id
    postings: dict[int, dict[int, int]] = defaultdict(dict)
    rows = session.execute(
        text(
            "SELECT p.entry_id, p.account_id, p.amount FROM posting p "
            "JOIN voucher v ON p.entry_id IN (v.issue_entry_id, v.closed_entry_id)"
        )
    )
    for entry_id, account_id, amount in rows:
        postings[int(entry_id)][int(account_id)] = int(amount)
    close_keys = {
        str(key): int(eid)
        for eid, key in session.execute(
            text("SELECT id, idempotency_key FROM journal_entry WHERE idempotency_key LIKE :k"),
            {"k": "voucher-close:%"},
        )
    }
    vouchers = session.execute(
        text(
            "SELECT id, account_id, face_value, state, issue_entry_id, closed_entry_id "
            "FROM voucher ORDER BY issued_at, id"
        )
    )
    for vid, member, face, state, issue_id, close_id in vouchers:
        result.checked += 1
        member, face = int(member), int(face)
        if postings.get(int(issue_id)) != {member: -face, vo: face}:
            result.add(f"voucher {vid}: its issue entry {issue_id} does not move exactly {face}")
        keyed = close_keys.get(f"voucher-close:{vid}")
        if state == "open":
            if close_id is not None or keyed is not None:
                result.add(f"voucher {vid} is open but has a closing entry")
            continue
        if state in ("cancelled", "expired"):
            if close_id is None:
                result.add(f"voucher {vid} is {state} but no entry returned its value")
            elif postings.get(int(close_id)) != {vo: -face, member: face}:
                result.add(f"voucher {vid}: closing entry {close_id} does not return {face}")
            elif keyed != int(close_id):
                result.add(f"voucher {vid}: closing entry {close_id} is not keyed to it")
        elif (
            state == "redeemed"
            and close_id is not None
            and postings.get(int(close_id), {}).get(vo) != -face
        ):
            result.add(f"voucher {vid}: redemption entry {close_id} does not take {face} out")
    orphans = session.execute(
        text(
            "SELECT e.id FROM journal_entry e WHERE e.kind = 'voucher_issue' "
            "AND NOT EXISTS (SELECT 1 FROM voucher v WHERE v.issue_entry_id = e.id) ORDER BY e.id"
        )
    )
    for (entry_id,) in orphans:
        result.add(f"entry {entry_id} issued a voucher that does not exist")
    return result


VOUCHER_CHECKS = (check_vouchers_outstanding, check_voucher_entries)
