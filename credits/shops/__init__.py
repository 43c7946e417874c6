"""Partner shops and their terminals.

A shop has a ledger account (``shop:<id>``) that is credited with what it takes in vouchers.
A terminal belongs to one shop; it authenticates with an API token (role ``terminal``, stored
as SHA-256, shown once, revocable) and has offline limits set by the council: the largest
single redemption it may accept while the ledger is unreachable (``floor_limit``) and how many,
and how many credits in all, it may hold unsynced. Deactivating a shop or a terminal stops its
tokens at once.
"""

from credits.shops.models import Shop, Terminal
from credits.shops.service import (
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
