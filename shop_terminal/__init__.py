"""The shop terminal: the counter app that checks and redeems Cooperative Credits vouchers.

It runs at a partner shop (a tablet or PC at the till) and talks to the ledger only over
HTTP (docs/api-terminal.md). It verifies a voucher's signature offline with the cached trust
list (docs/voucher-format.md), redeems online with an idempotency key that is written to its
own SQLite journal before the request is sent, and, when the ledger cannot be reached,
accepts small vouchers offline within the council's floor limits and submits them later.

    shop_terminal/
      base45.py     RFC 9285 Base45 (decoding; encoding for completeness)
      voucher.py    the `CC1:` verifier and the trust list: pure functions, no I/O
      config.py     the terminal's configuration (data folder, ledger URL, token)
      store.py      the local SQLite store: trust list, settings, scan journal, submissions
      ledger.py     the HTTP client for the ledger (httpx, explicit timeouts)
      terminal.py   the use cases: scan, sync, refresh, today, status
      messages.py   plain-words messages for the shopkeeper
      images.py     QR decoding of an uploaded picture (zxing-cpp)
      web.py        the counter screen's app (guards, headers, errors); serve.py its server
      views.py      the counter screen's views (a Blueprint over Terminal's public API)
      cli.py        the `shop-terminal` command
"""

__version__ = "0.1.0"
