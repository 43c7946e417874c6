"""Every reconciliation check `credits verify` runs, gathered from the capabilities.

The ledger's own checks come first; capabilities with invariants of their own (vouchers
outstanding equals open vouchers; one redemption entry per redeemed voucher...) add theirs
here, so `credits verify` and the month close always run the same full list.
"""

from __future__ import annotations

from credits.adjustments.checks import ADJUSTMENT_CHECKS
from credits.earning.checks import EARNING_CHECKS
from credits.ledger import LEDGER_CHECKS, verify


def all_checks(*, thorough: bool = False) -> tuple[verify.Check, ...]:
    """The full list of checks, in the order they are reported. ``thorough`` recomputes the
    hash chain in Python even where the database could do it."""
    from credits.redemption.checks import REDEMPTION_CHECKS
    from credits.settlement.checks import SETTLEMENT_CHECKS
    from credits.statements.snapshots import SNAPSHOT_CHECKS
    from credits.vouchers.checks import VOUCHER_CHECKS

    checks = (
        *LEDGER_CHECKS,
        *VOUCHER_CHECKS,
        *REDEMPTION_CHECKS,
        *EARNING_CHECKS,
        *ADJUSTMENT_CHECKS,
        *SETTLEMENT_CHECKS,
        *SNAPSHOT_CHECKS,
    )
    return verify.thorough(checks) if thorough else checks
