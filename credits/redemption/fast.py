"""The redemption entry point: the one-statement path on PostgreSQL, the use case elsewhere."""

from __future__ import annotations

from credits.accounts.service import Principal
from credits.redemption.service import RedeemRequest, RedeemResult, redeem, terminal_info
from credits.services import Services
from credits.vouchers.runtime import runtime


def redeem_now(services: Services, who: Principal, request: RedeemRequest) -> RedeemResult:
    """Redeem for a terminal principal, in its own transaction."""
    keyring = runtime(services.settings).keyring
    return services.db.run(lambda s: redeem(s, terminal_info(s, who), request, keyring=keyring))
