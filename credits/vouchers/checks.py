"""Reconciliation checks of the vouchers (run by `credits verify` via credits.verify_checks).

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
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from credits import ledger
from credits.ledger import CheckResult
from credits.ledger.verify import costs, merge_plans, tune_for_verify
from credits.vouchers.service import closing_key


@costs(1.5)
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


# Vouchers whose issuing or closing entry may not move what it must. Each entry's postings
# are summarised once, in the order of the (entry_id, account_id) index (no sort): how many,
# what the vouchers-outstanding account got, and the one other account and its amount. That
# is then merged with the vouchers' entries in entry order. ``sign`` is +1 for the issue
# (member −f, outstanding +f) and −1 for a close; "exact" means the entry is those two
# postings and nothing else (an entry holds one posting per account).
_SUSPECT_MOVES = text(
    """
    WITH pe AS (
        SELECT entry_id, count(*) AS n,
               sum(CASE WHEN account_id = :vo THEN amount END) AS outstanding,
               min(CASE WHEN account_id <> :vo THEN account_id END) AS other,
               sum(CASE WHEN account_id <> :vo THEN amount END) AS other_amount
        FROM posting GROUP BY entry_id
    ), ve AS (
        -- "+ 0": sorting the vouchers beats reading them in the order of the issue-entry
        -- index (the rows are stored in the order they closed: one random read each).
        SELECT issue_entry_id + 0 AS entry_id, id AS voucher_id, 1 AS sign, state,
               account_id AS member, face_value AS face
        FROM voucher
        UNION ALL
        SELECT closed_entry_id, id, -1, state, account_id, face_value
        FROM voucher WHERE closed_entry_id IS NOT NULL
    ), judged AS (
        SELECT ve.voucher_id, ve.sign, ve.state, ve.face, pe.outstanding,
               (pe.n = 2 AND pe.outstanding = ve.face * ve.sign AND pe.other = ve.member
                AND pe.other_amount = -ve.face * ve.sign) AS exact
        FROM ve LEFT JOIN pe ON pe.entry_id = ve.entry_id
    )
    SELECT voucher_id FROM judged
    WHERE (sign = 1 AND exact IS NOT TRUE)
       OR (sign = -1 AND state IN ('cancelled', 'expired') AND exact IS NOT TRUE)
       OR (sign = -1 AND state = 'redeemed'
           AND (outstanding IS NULL OR outstanding <> -face))
       OR (sign = -1 AND state = 'open')
    """
)

# Vouchers whose state and closing entry (or closing key) disagree. One branch per rule, so
# each looks its keys up by index (an OR of EXISTS would hash every key of the journal).
_SUSPECT_STATES = text(
    """
    SELECT v.id FROM voucher v WHERE v.state = 'open' AND v.closed_entry_id IS NOT NULL
    UNION ALL
    SELECT v.id FROM voucher v JOIN journal_entry k ON k.idempotency_key = 'voucher-close:' || v.id
    WHERE v.state = 'open'
    UNION ALL
    SELECT v.id FROM voucher v
    WHERE v.state IN ('cancelled', 'expired') AND v.closed_entry_id IS NULL
    UNION ALL
    SELECT v.id FROM voucher v JOIN journal_entry k ON k.id = v.closed_entry_id
    WHERE v.state IN ('cancelled', 'expired') AND k.idempotency_key <> 'voucher-close:' || v.id
    """
)

#: How many suspect vouchers are described per round trip.
_BATCH = 500


@costs(14)
def check_voucher_entries(session: Session) -> CheckResult:
    """Each voucher's issuing and closing entries are exactly what its state says.

    The database finds the suspects over every voucher at once (a borough's year is two
    million vouchers and their four million entries); each suspect is then described from
    its own rows, so the words are those of the rules in the module docstring.
    """
    result = CheckResult(
        "voucher_entries", "each voucher's issue and close are one matching entry each"
    )
    account = ledger.account_by_code(session, ledger.VOUCHERS_OUTSTANDING)
    if account is None:
        result.add("the vouchers-outstanding account is missing")
        return result
    vo = account.id
    tune_for_verify(session)
    result.checked = int(session.execute(text("SELECT count(*) FROM voucher")).scalar_one())
    with merge_plans(session):
        suspects = set(session.execute(_SUSPECT_MOVES, {"vo": vo}).scalars())
    suspects |= set(session.execute(_SUSPECT_STATES).scalars())
    rows = []
    ids = sorted(suspects)
    for start in range(0, len(ids), _BATCH):
        rows.extend(_describe(session, vo, ids[start : start + _BATCH]))
    for _, problem in sorted(rows):
        result.add(problem)
    orphans = session.execute(
        text(
            "SELECT e.id FROM journal_entry e WHERE e.kind = 'voucher_issue' "
            "AND NOT EXISTS (SELECT 1 FROM voucher v WHERE v.issue_entry_id = e.id) ORDER BY e.id"
        )
    )
    for (entry_id,) in orphans:
        result.add(f"entry {entry_id} issued a voucher that does not exist")
    return result


def _describe(session: Session, vo: int, ids: list[str]) -> list[tuple[tuple[Any, ...], str]]:
    """The problems of these vouchers, each with its sort key (issued_at, id, order)."""
    vouchers = session.execute(
        text(
            "SELECT id, account_id, face_value, state, issue_entry_id, closed_entry_id, "
            "issued_at FROM voucher WHERE id IN :ids"
        ).bindparams(bindparam("ids", expanding=True)),
        {"ids": ids},
    ).all()
    entry_ids = [e for v in vouchers for e in (v.issue_entry_id, v.closed_entry_id) if e]
    postings: dict[int, dict[int, int]] = defaultdict(dict)
    for entry_id, account_id, amount in session.execute(
        text("SELECT entry_id, account_id, amount FROM posting WHERE entry_id IN :ids").bindparams(
            bindparam("ids", expanding=True)
        ),
        {"ids": entry_ids or [-1]},
    ):
        postings[int(entry_id)][int(account_id)] = int(amount)
    close_keys = {
        str(key): int(eid)
        for eid, key in session.execute(
            text(
                "SELECT id, idempotency_key FROM journal_entry WHERE idempotency_key IN :keys"
            ).bindparams(bindparam("keys", expanding=True)),
            {"keys": [closing_key(i) for i in ids]},
        )
    }
    out: list[tuple[tuple[Any, ...], str]] = []
    for vid, member, face, state, issue_id, close_id, issued_at in vouchers:

        def add(problem: str, vid: str = vid, issued_at: Any = issued_at) -> None:
            out.append(((issued_at, vid, len(out)), problem))

        member, face = int(member), int(face)
        if postings.get(int(issue_id)) != {member: -face, vo: face}:
            add(f"voucher {vid}: its issue entry {issue_id} does not move exactly {face}")
        keyed = close_keys.get(closing_key(vid))
        if state == "open":
            if close_id is not None or keyed is not None:
                add(f"voucher {vid} is open but has a closing entry")
            continue
        if state in ("cancelled", "expired"):
            if close_id is None:
                add(f"voucher {vid} is {state} but no entry returned its value")
            elif postings.get(int(close_id)) != {vo: -face, member: face}:
                add(f"voucher {vid}: closing entry {close_id} does not return {face}")
            elif keyed != int(close_id):
                add(f"voucher {vid}: closing entry {close_id} is not keyed to it")
        elif (
            state == "redeemed"
            and close_id is not None
            and postings.get(int(close_id), {}).get(vo) != -face
        ):
            add(f"voucher {vid}: redemption entry {close_id} does not take {face} out")
    return out


VOUCHER_CHECKS = (check_vouchers_outstanding, check_voucher_entries)
