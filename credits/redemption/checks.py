"""Reconciliation checks of redemptions (run by `credits verify` and the month close via
credits.verify_checks).

1. ``redemption_entries``: every redeemed voucher has exactly one ``redeem`` entry under its
   closing key (``voucher-close:<id>``) and at most one redemption; a redemption belongs to
   a redeemed voucher and its entry is that closing entry.
2. ``terminal_journals``: what the shops' terminals reported (``POST /terminal/journal``)
   matches the ledger: a scan reported ``redeemed`` names a redemption of that voucher at
   that shop for that amount; one reported ``exception`` names such an offline exception.
   Scans still ``queued`` or ``refused`` moved nothing and are not compared.
3. ``redemption_exceptions``: no voucher has more than one offline claim that pays or may pay
   (``paid`` or ``held``; the database's unique partial index says the same), and every paid
   claim has its entry: kind ``adjustment``, two postings, the claim's amount from the
   scheme's adjustments account to the claiming shop's account.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from credits.ledger import CheckResult
from credits.ledger.verify import costs

# Redemptions that break a rule: not of a redeemed voucher, or not pointing at its closing
# redeem entry.
_BAD_REDEMPTIONS_TEMPLATE = """
SELECT r.id, v.state, e.kind, e.idempotency_key, v.closed_entry_id, r.entry_id
FROM redemption r JOIN voucher v ON v.id = r.voucher_id
LEFT JOIN {entry}
WHERE v.state <> 'redeemed' OR e.kind IS NULL OR e.kind <> 'redeem'
   OR e.idempotency_key <> 'voucher-close:' || r.voucher_id
   OR (v.closed_entry_id IS NOT NULL AND v.closed_entry_id <> r.entry_id)
ORDER BY r.id
"""
# PostgreSQL looks each redemption's entry up by index ("OFFSET 0" keeps the planner from
# hashing the whole journal to find 1.6 M of its 4.4 M entries: 6.3 s -> 4.5 s at borough
# size); SQLite has no LATERAL.
_BAD_REDEMPTIONS_PG = _BAD_REDEMPTIONS_TEMPLATE.format(
    entry="LATERAL (SELECT kind, idempotency_key FROM journal_entry "
    "WHERE id = r.entry_id OFFSET 0) e ON true"
)
_BAD_REDEMPTIONS_SQLITE = _BAD_REDEMPTIONS_TEMPLATE.format(
    entry="journal_entry e ON e.id = r.entry_id"
)


@costs(12)
def check_redemption_entries(session: Session) -> CheckResult:
    """Each redeemed voucher has exactly one redeem entry; each redemption row is that entry."""
    result = CheckResult(
        "redemption_entries", "every redeemed voucher has exactly one redemption entry"
    )
    result.checked = int(
        session.execute(text("SELECT count(*) FROM voucher WHERE state = 'redeemed'")).scalar_one()
    )
    # Entries and redemptions are counted per voucher before they meet the vouchers: no
    # grouping (and sorting) of 1.6 M joined rows at borough size (8.3 s -> 6.9 s), and the
    # two counts cannot multiply each other.
    rows = session.execute(
        text(
            "SELECT v.id, coalesce(e.n, 0), coalesce(r.n, 0) FROM voucher v "
            "LEFT JOIN (SELECT idempotency_key AS key, count(*) AS n FROM journal_entry "
            "           WHERE kind = 'redeem' GROUP BY idempotency_key) e "
            "     ON e.key = 'voucher-close:' || v.id "
            "LEFT JOIN (SELECT voucher_id, count(*) AS n FROM redemption GROUP BY voucher_id) r "
            "     ON r.voucher_id = v.id "
            "WHERE v.state = 'redeemed' AND (coalesce(e.n, 0) <> 1 OR coalesce(r.n, 0) > 1) "
            "ORDER BY v.id"
        )
    )
    for voucher_id, entries, redemptions in rows:
        result.add(
            f"voucher {voucher_id} is redeemed but has {entries} redemption entries "
            f"and {redemptions} redemptions"
        )
    postgres = session.get_bind().dialect.name == "postgresql"
    bad = _BAD_REDEMPTIONS_PG if postgres else _BAD_REDEMPTIONS_SQLITE
    rows = session.execute(text(bad))
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
            "     AND x.status <> 'refused' "
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


def check_redemption_exceptions(session: Session) -> CheckResult:
    """At most one paying claim per voucher; each paid claim has its balanced entry."""
    result = CheckResult(
        "redemption_exceptions",
        "no voucher has more than one paying exception; every paid exception has its entry",
    )
    result.checked = int(
        session.execute(text("SELECT count(*) FROM redemption_exception")).scalar_one()
    )
    rows = session.execute(
        text(
            "SELECT voucher_id, count(*) FROM redemption_exception "
            "WHERE status IN ('paid', 'held') GROUP BY voucher_id HAVING count(*) > 1 "
            "ORDER BY voucher_id"
        )
    )
    for voucher_id, n in rows:
        result.add(f"voucher {voucher_id} has {n} offline claims that pay or may pay")
    rows = session.execute(
        text(
            "SELECT x.id, x.amount, e.kind, "
            "  (SELECT count(*) FROM posting p WHERE p.entry_id = x.entry_id), "
            "  (SELECT coalesce(sum(p.amount), 0) FROM posting p "
            "    WHERE p.entry_id = x.entry_id AND p.account_id = s.ledger_account_id), "
            "  (SELECT coalesce(sum(p.amount), 0) FROM posting p JOIN account a "
            "     ON a.id = p.account_id AND a.code = 'scheme:adjustments' "
            "    WHERE p.entry_id = x.entry_id) "
            "FROM redemption_exception x JOIN shop s ON s.id = x.shop_id "
            "LEFT JOIN journal_entry e ON e.id = x.entry_id "
            "WHERE x.status IN ('paid', 'overpaid') OR x.entry_id IS NOT NULL "
            "ORDER BY x.id"
        )
    )
    for claim_id, amount, kind, postings, to_shop, from_adjustments in rows:
        if (
            kind != "adjustment"
            or postings != 2
            or (to_shop, from_adjustments)
            != (
                amount,
                -amount,
            )
        ):
            result.add(
                f"claim {claim_id} pays {amount}: its entry is {kind or 'missing'} with "
                f"{postings} postings, {to_shop} to the shop, {from_adjustments} from adjustments"
            )
    return result


REDEMPTION_CHECKS = (
    check_redemption_entries,
    check_terminal_journals,
    check_redemption_exceptions,
)
