"""Partner shops and their terminals.

A shop has a ledger account (``shop:<id>``) that is credited with what it takes in vouchers.
A terminal belongs to one shop; it authenticates with an API token (role ``terminal``, stored
as SHA-256, shown once, revocable) and has offline limits set by the council: the largest
single redemption it may accept while the ledger is unreachable (``floor_limit``) and how many,
and how many credits in all, it may hold unsynced; and a monthly exception ceiling (how many
of its offline claims on vouchers spent elsewhere the scheme pays without an officer).
Deactivating a shop or a terminal stops its
tokens at once.
"""

from credits.shops.models import Shop, Terminal
from credits.shops.service import (
    DEFAULT_EXCEPTION_CREDITS_PER_MONTH,
    DEFAULT_EXCEPTIONS_PER_MONTH,
    OfflineLimits,
    add_terminal,
    create_shop,
    get_shop,
    get_terminal,
    list_shops,
    list_terminals,
    revoke_terminal_tokens,
    rotate_terminal_token,
    shop_account_id,
    terminal_principal,
    update_shop,
    update_terminal,
)

__all__ = [
    "DEFAULT_EXCEPTIONS_PER_MONTH",
    "DEFAULT_EXCEPTION_CREDITS_PER_MONTH",
    "OfflineLimits",
    "Shop",
    "Terminal",
    "add_terminal",
    "create_shop",
    "get_shop",
    "get_terminal",
    "list_shops",
    "list_terminals",
    "revoke_terminal_tokens",
    "rotate_terminal_token",
    "shop_account_id",
    "terminal_principal",
    "update_shop",
    "update_terminal",
]
