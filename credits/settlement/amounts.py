"""What a shop is paid for its credits, in integer pence: the rounding rule, as code.

**The rule.** A shop's payment in a run is the sum, over the months its unsettled credits
were taken in, of *credits × that month's rate*. The council's rate is a whole number of
pence per credit (credits.statements.rates refuses anything else, and the database repeats
it), so today every product is an exact integer and **nothing is ever rounded**.

Should a fractional rate ever be allowed (say 12.5p a credit), the rule stays exact up to
the last step: each month's product is kept as an exact fraction, the products are added,
and the *total for the shop in the run* is rounded once to a whole penny, halves upwards
(``pence_for([(3, Fraction(25, 2))])`` is 37.5p → 38p). Rounding once per payment, never
per redemption or per month, means a shop is never short-changed by many small roundings,
and the run's total is exactly the sum of its payments. A float is refused: a float near
money is a bug.

Credits taken in a month keep that month's rate even when paid later (a shop below the
minimum payment rolls over): a rate change never reprices credits already taken.
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction

Rate = int | Fraction


def pence_for(parts: Iterable[tuple[int, Rate]]) -> int:
    """Σ credits × rate over ``(credits, rate)`` pairs, rounded once, halves up (see the
    module docstring). Exact (no rounding at all) for whole-penny rates."""
    total = Fraction(0)
    for credits, rate in parts:
        if type(credits) is not int:
            raise TypeError(f"credits are whole numbers, not {type(credits).__name__}")
        if isinstance(rate, bool) or not isinstance(rate, int | Fraction):
            raise TypeError(f"a rate is int or Fraction pence, not {type(rate).__name__}")
        total += credits * Fraction(rate)
    # floor(x + 1/2): the nearest penny, a half going up.
    return int((total + Fraction(1, 2)).__floor__())
