"""Voucher failures a caller can cause, each with its contract v1 problem+json ``code``.

The four code-verification errors (``malformed_code``, ``unknown_key``, ``invalid_signature``,
``expired``) are the outcomes of docs/voucher-format.md's verification steps, in that order.
"""

from __future__ import annotations

from credits.errors import Conflict, CreditsError, NotFound, ValidationFailed
from credits.i18n import T


class CodeRefused(CreditsError):
    """Base of the verification failures: the code is not a genuine, unexpired voucher."""


class MalformedCode(CodeRefused):
    code = "malformed_code"
    title = T("That is not a voucher code")


class UnknownKey(CodeRefused):
    code = "unknown_key"
    title = T("The voucher was not signed by a key this scheme trusts")


class InvalidSignature(CodeRefused):
    code = "invalid_signature"
    title = T("The voucher's signature does not match: it was altered or forged")


class VoucherExpired(CodeRefused):
    code = "expired"
    title = T("The voucher has expired")


class VoucherNotFound(NotFound):
    title = T("No such voucher")


class VoucherCancelled(Conflict):
    code = "voucher_cancelled"
    title = T("The voucher was cancelled")


class AlreadyRedeemed(Conflict):
    code = "already_redeemed"
    title = T("The voucher has already been spent")


class VoucherNotOpen(Conflict):
    """The voucher has expired and its value has already gone back to the member."""

    code = "expired"
    title = T("The voucher has expired")


class InvalidAmount(ValidationFailed):
    """A face value outside 1..MAX_FACE_VALUE, or not a whole number."""


class KeyringError(CreditsError):
    """A signing-key operation that cannot be done (unknown kid, revoking the last key...)."""

    code = "key_refused"
    title = T("That key operation is refused")


class TooManyOpenVouchers(Conflict):
    code = "too_many_open_vouchers"
    title = T("Too many open vouchers")
