"""Quantities and the rounding rule: how much of an activity turns into how many credits.

**The rule: credits are never rounded.** An award line is ``quantity × credits_per_unit``
and must come out as a whole number of credits; a quantity that does not is refused with
the nearest quantities that do. Concretely:

- A quantity is a positive decimal with at most 2 decimal places, sent as a decimal string
  (``"1.5"``, preferred) or a JSON number (``1.5``). A JSON number is read by its shortest
  decimal spelling (``0.1`` is 0.1, never 0.1000000000000000055...), and one that needs more
  than 2 decimal places (``0.30000000000000004``, ``1e-7``) is refused, not rounded.
  Booleans, NaN and infinities are refused.
- Sessions and runs are counted whole (1, 2...). Hours may be fractional only in steps that
  make the credits whole: at ``r`` credits an hour the step is ``100 / gcd(100, r)``
  hundredths of an hour, the smallest multiple of 0.01 hour worth a whole number of
  credits — 0.1 hour at 10 an hour, 0.25 at 4, 0.2 at 15, 1 hour at 3.
- One award line is at most 24 hours, or 10 sessions or runs (one day's activity).

Why refuse instead of rounding: a rounded award is a silent disagreement between what the
coordinator wrote and what the ledger says; refusing keeps the two identical and tells the
person exactly what they can send. Quantities are stored as integer hundredths.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from credits.errors import ValidationFailed
from credits.i18n import T, Text, Tn, Tp

UNITS = ("hour", "session", "run")
#: The most of each unit one award line may carry (one day's activity).
MAX_QUANTITY = {"hour": Decimal(24), "session": Decimal(10), "run": Decimal(10)}
#: Decimal places a quantity may have.
PLACES = 2
_CENTI = Decimal(100)
_NUMBER = re.compile(r"^-?[0-9]{1,9}(\.[0-9]{1,9})?$")

_EXAMPLE = T("write it like 2 or 1.5")


class InvalidQuantity(ValidationFailed):
    """A quantity that is not a positive decimal with at most 2 places, or does not make a
    whole number of credits at the activity's rate."""

    def __init__(self, detail: Text) -> None:
        super().__init__(detail, errors={"quantity": [detail]})


def parse_quantity(value: Any) -> Decimal:
    """Read a quantity sent by a client (decimal string, int or float) as an exact Decimal.

    Never does arithmetic on a float: a float is read by its shortest round-trip spelling
    (``repr``), so the value is what the client wrote, or it is refused.
    """
    if isinstance(value, bool) or value is None:
        raise InvalidQuantity(T("quantity must be a number such as 2 or 1.5"))
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidQuantity(T("quantity must be a finite number"))
        number = Decimal(repr(value))
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            raise InvalidQuantity(T("quantity is required: %(how)s", how=_EXAMPLE))
        if len(text) > 20 or not _NUMBER.match(text):
            raise InvalidQuantity(
                T("quantity “%(value)s” is not a number: %(how)s", value=value[:20], how=_EXAMPLE)
            )
        try:
            number = Decimal(text)
        except InvalidOperation as exc:  # pragma: no cover - the pattern already excludes it
            raise InvalidQuantity(T("quantity is not a number")) from exc
    else:
        raise InvalidQuantity(T("quantity must be a number such as 2 or 1.5"))
    if number <= 0:
        raise InvalidQuantity(T("quantity must be more than 0"))
    if number > 10**6:
        raise InvalidQuantity(T("quantity is far too large"))
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)  # finite by construction
    if exponent < -PLACES and number != number.quantize(Decimal(1).scaleb(-PLACES)):
        raise InvalidQuantity(
            T(
                "quantity %(value)s has more than 2 decimal places: write at most 2 (e.g. 1.25)",
                value=str(number),
            )
        )
    return number.quantize(Decimal(1).scaleb(-PLACES))


def step(unit: str, credits_per_unit: int) -> Decimal:
    """The smallest quantity step that keeps the credits whole for this unit and rate."""
    if unit != "hour":
        return Decimal(1)
    return Decimal(100 // math.gcd(100, credits_per_unit)) / _CENTI


def credits_for(quantity: Decimal, unit: str, credits_per_unit: int) -> int:
    """The whole credits ``quantity`` of ``unit`` earns at ``credits_per_unit``; refuses a
    quantity over the per-line maximum, or one that would need rounding (the message names
    the nearest quantities that would not)."""
    assert unit in UNITS, unit
    assert type(credits_per_unit) is int and credits_per_unit > 0
    limit = MAX_QUANTITY[unit]
    if quantity > limit:
        raise InvalidQuantity(T("one award is at most %(limit)s", limit=amount(limit, unit)))
    unit_step = step(unit, credits_per_unit)
    if quantity % unit_step != 0:
        below = (quantity // unit_step) * unit_step
        above = below + unit_step
        if unit != "hour":
            raise InvalidQuantity(
                _COUNTED_WHOLE[unit](below, above, quantity) if below > 0 else _AT_LEAST_ONE[unit]
            )
        options = T("%(a)s or %(b)s", a=below, b=above) if below > 0 else above
        raise InvalidQuantity(
            T(
                "at %(rate)s credits an hour, %(quantity)s hours is not a whole number of "
                "credits: hours go in steps of %(step)s (try %(options)s)",
                rate=credits_per_unit,
                quantity=quantity,
                step=unit_step,
                options=options,
            )
        )
    credits = quantity * credits_per_unit
    assert credits == credits.to_integral_value()
    return int(credits)


def to_centi(quantity: Decimal) -> int:
    """A quantity as integer hundredths (how it is stored)."""
    centi = quantity * _CENTI
    assert centi == centi.to_integral_value(), quantity
    return int(centi)


def from_centi(centi: int) -> Decimal:
    """Stored hundredths back to the quantity."""
    return Decimal(centi) / _CENTI


def format_decimal(number: Decimal) -> str:
    """``1.50`` → ``1.5``, ``2.00`` → ``2``: how people write quantities."""
    text = format(number.normalize(), "f")
    return text


def quantity_text(centi: int) -> str:
    """A stored quantity as a decimal string for the API (``"1.5"``)."""
    return format_decimal(from_centi(centi))


def amount(quantity: Decimal, unit: str) -> Text:
    """``1.5 hours``, ``1 session``, ``2 runs`` (in the reader's language)."""
    if quantity != quantity.to_integral_value():
        # Fractions take a form of their own in some languages (Polish: 1,5 godziny).
        return Tp("fraction", "%(num)s hours", num=quantity)
    n = int(quantity)
    if unit == "hour":
        return Tn("%(num)s hour", "%(num)s hours", n)
    if unit == "session":
        return Tn("%(num)s session", "%(num)s sessions", n)
    return Tn("%(num)s run", "%(num)s runs", n)


def describe(centi: int, unit: str) -> Text:
    """A stored quantity: ``1.5 hours``, ``1 session``, ``2 runs``."""
    return amount(from_centi(centi), unit)


def describe_rate(credits_per_unit: int, unit: str) -> Text:
    """``10 credits an hour``, ``20 credits a session``."""
    n = credits_per_unit
    if unit == "hour":
        return Tn("%(num)s credit an hour", "%(num)s credits an hour", n)
    if unit == "session":
        return Tn("%(num)s credit a session", "%(num)s credits a session", n)
    return Tn("%(num)s credit a run", "%(num)s credits a run", n)


#: "sessions are counted whole: 1 or 2, not 1.5" by unit (its own sentence in each language).
_COUNTED_WHOLE = {
    "session": lambda below, above, got: T(
        "sessions are counted whole: %(a)s or %(b)s, not %(got)s", a=below, b=above, got=got
    ),
    "run": lambda below, above, got: T(
        "runs are counted whole: %(a)s or %(b)s, not %(got)s", a=below, b=above, got=got
    ),
}
_AT_LEAST_ONE = {
    "session": T("sessions are counted whole: at least 1"),
    "run": T("runs are counted whole: at least 1"),
}
