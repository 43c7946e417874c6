"""Reconciliation checks of redemptions (run by `credits verify` and the month close via
credits.reconcile).

1. ``redemption_entries``: every redeemed voucher has exactly one ``redeem`` entry under its
   closing key (``voucher-close:<id>``) and at most one redemption; a redemption belongs to
   a redeemed voucher and its entry is that closing entry.
2. ``terminal_journals``: what the shops' terminals reported (``POST /terminal/journal``)
   matches the ledger: a scan reported ``redeemed`` names a redemption of that voucher at
   that shop for that amount; one reported ``exception`` names such an offline exception.
   Scans still ``queued`` or ``refused`` moved nothing and are not compared.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from credits.ledger import CheckResult
from credits.ledger.verify import costs


@costs(12)
def check_redemption_entries(session: Session) -> CheckResult:
    """Each redeemed voucher has exactly one redeem entry; each redemption row is that entry."""
    result = CheckResult(
        "redemption_entries", "every redeemed voucher has exactly one redemption entry"
    )
    result.checked = int(
        session.execute(text("SELECT count(*) FROM voucher WHERE state = 'redeemed'")).scalar_one()
    )
    rows = session.execute(
        text(
            "SELECT v.id, count(e.id), count(DISTINCT r.id) FROM voucher v "
            "LEFT JOIN journal_entry e ON e.idempotency_key = 'voucher-close:' || v.id "
            "     AND e.kind = 'redeem' "
            "LEFT JOIN redemption r ON r.voucher_id = v.id "
            "WHERE v.state = 'redeemed' GROUP BY v.id "
            "HAVING count(e.id) <> 1 OR count(DISTINCT r.id) > 1 ORDER BY v.id"
        )
    )
    for voucher_id, entries, redemptions in rows:
        result.add(
            f"voucher {voucher_id} is redeemed but has {entries} redemption entries "
            f"and {redemptions} redemptions"
        )
    rows = session.execute(
        text(
            "SELECT r.id, v.state, e.kind, e.idempotency_key, v.closed_entry_id, r.entry_id "
            "FROM redemption r JOIN voucher v ON v.id = r.voucher_id "
            "LEFT JOIN journal_entry e ON e.id = r.entry_id "
            "WHERE v.state <> 'redeemed' OR e.kind IS NULL OR e.kind <> 'redeem' "
            "   OR e.idempotency_key <> 'voucher-close:' || r.voucher_id "
            "   OR (v.closed_entry_id IS NOT NULL AND v.closed_entry_id <> r.entry_id) "
            "ORDER BY r.id"
        )
    )
    for rid, state, kind, key, closed, entry in rows:
        result.add(
            f"redemption {rid}: voucher is {state}, entry {entry} is {kind or 'missing'} "
            f"keyed {key} (voucher's closing entry {closed})"
        )
    return result


def check_terminal_journals(session: Session) -> CheckResult:
    """The terminals' reported scans agree with the ledger's redemptions and exceptions."""
    result = CheckResult("terminal_journals", "shops' terminal journals match the ledger")
    result.checked = int(
        session.execute(
            text(
                "SELECT count(*) FROM terminal_journal_entry "
                "WHERE outcome IN ('redeemed', 'exception')"
            )
        ).scalar_one()
    )
    rows = session.execute(
        text(
            "SELECT j.terminal_id, j.scan_id, j.outcome, j.redemption_id "
            "FROM terminal_journal_entry j "
            "LEFT JOIN redemption r ON j.outcome = 'redeemed' AND r.id = j.redemption_id "
            "     AND r.voucher_id = j.voucher_id AND r.shop_id = j.shop_id "
            "     AND r.amount = j.amount "
            "LEFT JOIN redemption_exception x ON j.outcome = 'exception' "
            "     AND x.id = j.redemption_id AND x.voucher_id = j.voucher_id "
            "     AND x.shop_id = j.shop_id AND x.amount = j.amount "
            "WHERE j.outcome IN ('redeemed', 'exception') AND r.id IS NULL AND x.id IS NULL "
            "ORDER BY j.terminal_id, j.scan_id"
        )
    )
    for terminal_id, scan_id, outcome, rid in rows:
        result.add(
            f"terminal {terminal_id} scan {scan_id}: reported {outcome} as {rid or 'no id'}, "
            "but the ledger has no such record for that voucher, shop and amount"
        )
    return result


REDEMPTION_CHECKS = (check_redemption_entries, check_terminal_journals)
