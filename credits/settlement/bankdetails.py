"""A shop's bank details: checked the way a bank checks them, and masked for display.

- A UK account is a sort code (6 digits) and an account number (6 to 8 digits; 6 and 7 are
  written with leading zeros to 8, as Vocalink's rules say). It must pass Vocalink's
  modulus check, run by the ``ukmodulus`` library with the weight table Vocalink publishes
  (``valacdos.txt``, shipped in the package — never a table of ours). Vocalink's rule for a
  sort code outside every range of that table is that the account "cannot be checked" and is
  treated as valid; so does this.
- Or an IBAN: ``python-stdnum`` checks its length and format for the country and its
  ISO 7064 check digits. A GB IBAN holds a sort code and account number, which must pass
  the modulus check too.
- Everyone but officers sees them masked (:func:`mask_sort_code`, :func:`mask_account`,
  :func:`mask_iban`): enough to recognise an account, not enough to pay into it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import ukmodulus
from stdnum import iban as stdnum_iban
from stdnum.exceptions import ValidationError as StdnumError

from credits.settlement.errors import InvalidBankDetails

MAX_LEGAL_NAME_CHARS = 140
_SEPARATORS = re.compile(r"[\s-]")


@dataclass(frozen=True, slots=True)
class BankDetails:
    """Checked details: ``sort_code`` + ``account_number`` (UK) or ``iban``."""

    legal_name: str
    sort_code: str | None = None
    account_number: str | None = None
    iban: str | None = None

    @property
    def masked(self) -> str:
        """The account as anyone but an officer sees it."""
        if self.iban is not None:
            return mask_iban(self.iban)
        assert self.sort_code is not None and self.account_number is not None
        return f"{mask_sort_code(self.sort_code)} {mask_account(self.account_number)}"

    @property
    def full(self) -> str:
        """The account as an officer sees it: ``12-34-56 12345678`` or a spaced IBAN."""
        if self.iban is not None:
            return " ".join(self.iban[i : i + 4] for i in range(0, len(self.iban), 4))
        assert self.sort_code is not None and self.account_number is not None
        sc = self.sort_code
        return f"{sc[:2]}-{sc[2:4]}-{sc[4:]} {self.account_number}"


def _digits(value: object) -> str:
    return _SEPARATORS.sub("", value) if isinstance(value, str) else ""


def modulus_ok(sort_code: str, account_number: str) -> bool:
    """Whether Vocalink's modulus check accepts the pair (see the module docstring)."""
    return bool(ukmodulus.validate_number(sort_code, account_number))


def check(
    *,
    legal_name: object,
    sort_code: object = None,
    account_number: object = None,
    iban: object = None,
) -> BankDetails:
    """Return the details cleaned and checked, or raise :class:`InvalidBankDetails` listing
    every problem (``errors`` by field). Exactly one of a UK account or an IBAN."""
    errors: dict[str, list[str]] = {}
    name = " ".join(legal_name.split()) if isinstance(legal_name, str) else ""
    if not 0 < len(name) <= MAX_LEGAL_NAME_CHARS:
        errors["legal_name"] = [f"Required, at most {MAX_LEGAL_NAME_CHARS} characters."]
    elif any(ord(c) < 32 or 0xD800 <= ord(c) < 0xE000 for c in name):
        errors["legal_name"] = ["Letters, digits and punctuation only."]
    uk = bool(sort_code) or bool(account_number)
    if uk and iban:
        errors["iban"] = ["Give a sort code and account number, or an IBAN, not both."]
    elif not uk and not iban:
        errors["sort_code"] = ["Give a sort code and account number, or an IBAN."]
    details: BankDetails | None = None
    if uk and not iban:
        sc, acct = _digits(sort_code), _digits(account_number)
        if not re.fullmatch(r"\d{6}", sc):
            errors["sort_code"] = ["Six digits, e.g. 12-34-56."]
        if not re.fullmatch(r"\d{6,8}", acct):
            errors["account_number"] = [
                "Six to eight digits (for a longer number, use the 8-digit form your bank "
                "gives for payments, or an IBAN)."
            ]
        if "sort_code" not in errors and "account_number" not in errors:
            acct = acct.zfill(8)
            if not modulus_ok(sc, acct):
                errors["account_number"] = [
                    "This sort code and account number fail the bank's modulus check: check both."
                ]
            details = BankDetails(name, sort_code=sc, account_number=acct)
    elif iban:
        text = _digits(iban).upper()
        try:
            compact = stdnum_iban.validate(text)
        except StdnumError:
            errors["iban"] = ["Not a valid IBAN (check the country, length and check digits)."]
        else:
            if compact.startswith("GB") and not modulus_ok(compact[8:14], compact[14:22]):
                errors["iban"] = [
                    "The sort code and account number in this IBAN fail the bank's modulus check."
                ]
            details = BankDetails(name, iban=compact)
    if errors or details is None:
        raise InvalidBankDetails("those bank details are not valid", errors=errors)
    return details


def mask_sort_code(sort_code: str) -> str:
    """``**-**-56``."""
    return f"**-**-{sort_code[-2:]}"


def mask_account(account_number: str) -> str:
    """``****5678``."""
    return "*" * (len(account_number) - 4) + account_number[-4:]


def mask_iban(iban: str) -> str:
    """``GB** **** **** **** **54 32`` style: the country and the last four characters."""
    hidden = iban[:2] + "*" * (len(iban) - 6) + iban[-4:]
    return " ".join(hidden[i : i + 4] for i in range(0, len(hidden), 4))
