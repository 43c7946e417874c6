"""Signed QR vouchers: the code format, the signing keys, QR images and the use cases.

- ``code.py`` — docs/voucher-format.md exactly: sign and verify ``CC1:`` codes (no database).
- ``keys.py`` — the Ed25519 signing keys in the instance folder: create, rotate, revoke.
- ``models.py`` — the ``voucher`` table and its states (open → redeemed | cancelled | expired).
- ``service.py`` — issue, show, cancel, expire; ``claim_open_voucher`` for redemption.
- ``inactivity.py`` — the scheme's optional lapse of inactive members' balances.
- ``qr.py`` — PNG and SVG images of a code.
- ``checks.py`` — reconciliation: vouchers outstanding equals the open vouchers.

Rules kept here (each with a test that breaks if the rule does): a voucher's value moves in
exactly one balanced entry each way, in the transaction that changes its state; a voucher
leaves ``open`` at most once; a code cannot be forged or altered without the verifier
noticing; private keys live only in their 0600 files.
"""
