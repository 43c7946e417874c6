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

from sqlalchemy import text
from sqlalchemy.orm import Session

from credits import ledger
from credits.ledger import CheckResult
from credits.ledger.verify import tune_for_verify


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


# Per voucher: how its issuing and closing entries' postings compare with what they must be
# (counted in one pass over the postings of those entries), and the entry holding its
# closing key. Only vouchers that break a rule come back; Python then says which rule.
_VOUCHER_ENTRIES_SQL = text(
    """
    WITH moved AS (
        SELECT v.id AS voucher_id, 1 AS is_issue, p.account_id, p.amount,
               v.account_id AS member, v.face_value AS face
        FROM voucher v JOIN posting p ON p.entry_id = v.issue_entry_id
        UNION ALL
        SELECT v.id, 0, p.account_id, p.amount, v.account_id, v.face_value
        FROM voucher v JOIN posting p ON p.entry_id = v.closed_entry_id
    ), judged AS (
        SELECT voucher_id,
               sum(is_issue) AS issue_n,
               sum(CASE WHEN is_issue = 1
                         AND ((account_id = member AND amount = -face)
                              OR (account_id = :vo AND amount = face)) THEN 1 ELSE 0 END)
                   AS issue_match,
               sum(1 - is_issue) AS close_n,
               sum(CASE WHEN is_issue = 0
                         AND ((account_id = member AND amount = face)
                              OR (account_id = :vo AND amount = -face)) THEN 1 ELSE 0 END)
                   AS close_match,
               sum(CASE WHEN is_issue = 0 AND account_id = :vo THEN amount END) AS close_vo
        FROM moved GROUP BY voucher_id
    )
    SELECT v.id, v.face_value, v.state, v.issue_entry_id, v.closed_entry_id,
           coalesce(j.issue_n, 0) = 2 AND coalesce(j.issue_match, 0) = 2 AS issue_ok,
           coalesce(j.close_n, 0) = 2 AND coalesce(j.close_match, 0) = 2 AS returns_face,
           j.close_vo, k.id AS keyed
    FROM voucher v
    LEFT JOIN judged j ON j.voucher_id = v.id
    LEFT JOIN journal_entry k ON k.idempotency_key = 'voucher-close:' || v.id
    WHERE NOT (coalesce(j.issue_n, 0) = 2 AND coalesce(j.issue_match, 0) = 2)
       OR (v.state = 'open' AND (v.closed_entry_id IS NOT NULL OR k.id IS NOT NULL))
       OR (v.state IN ('cancelled', 'expired')
           AND (v.closed_entry_id IS NULL OR coalesce(j.close_n, 0) <> 2
                OR coalesce(j.close_match, 0) <> 2 OR k.id IS NULL
                OR k.id <> v.closed_entry_id))
       OR (v.state = 'redeemed' AND v.closed_entry_id IS NOT NULL
           AND (j.close_vo IS NULL OR j.close_vo <> -v.face_value))
    ORDER BY v.issued_at, v.id
    """
)


def check_voucher_entries(session: Session) -> CheckResult:
    """Each voucher's issuing and closing entries are exactly what its state says.

    An entry "is exactly" {member: −f, vouchers outstanding: +f} when it has two postings
    and both are those (an entry posts to an account at most once). The comparison runs in
    the database over every voucher at once — a borough's year is over a million vouchers —
    and only the vouchers that fail come back to be described.
    """
    result = CheckResult(
        "voucher_entries", "each voucher's issue and close are one matching entry each"
    )
    account = ledger.account_by_code(session, ledger.VOUCHERS_OUTSTANDING)
    if account is None:
        result.add("the vouchers-outstanding account is missing")
        return result
    tune_for_verify(session)
    result.checked = int(session.execute(text("SELECT count(*) FROM voucher")).scalar_one())
    rows = session.execute(_VOUCHER_ENTRIES_SQL, {"vo": account.id})
    for vid, face, state, issue_id, close_id, issue_ok, returns_face, close_vo, keyed in rows:
        if not issue_ok:
            result.add(f"voucher {vid}: its issue entry {issue_id} does not move exactly {face}")
        if state == "open":
            if close_id is not None or keyed is not None:
                result.add(f"voucher {vid} is open but has a closing entry")
            continue
        if state in ("cancelled", "expired"):
            if close_id is None:
                result.add(f"voucher {vid} is {state} but no entry returned its value")
            elif not returns_face:
                result.add(f"voucher {vid}: closing entry {close_id} does not return {face}")
            elif keyed != close_id:
                result.add(f"voucher {vid}: closing entry {close_id} is not keyed to it")
        elif state == "redeemed" and close_id is not None and close_vo != -face:
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
