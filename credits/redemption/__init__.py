"""Redeeming vouchers at partner shops: the ledger's side of the shop terminal.

See service.py for the invariants, claims.py for the rule that bounds what offline claims
on spent vouchers can cost the scheme, spent_list.py for the terminals' list of spent
vouchers; docs/api-terminal.md for the endpoints a terminal uses.
"""

from credits.redemption.models import Redemption, RedemptionException, TerminalJournalEntry
from credits.redemption.service import (
    RedeemRequest,
    RedeemResult,
    TerminalInfo,
    redeem,
    terminal_info,
)

__all__ = [
    "RedeemRequest",
    "RedeemResult",
    "Redemption",
    "RedemptionException",
    "TerminalInfo",
    "TerminalJournalEntry",
    "redeem",
    "terminal_info",
]
