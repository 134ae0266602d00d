"""GMX V2 fixed-point conventions: USD and factors in 1e30, and the integer division the front end uses.

JavaScript BigInt (like Solidity's int256) divides toward zero, while Python's `//` floors, so every
division of a value that can be negative goes through `div_toward_zero`.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

FLOAT_PRECISION = 10**30
"""1.0 as a GMX USD amount or factor."""
USD_DECIMALS = 30
WEI_PRECISION = 10**18


def expand_decimals(n: int, decimals: int) -> int:
    """n * 10**decimals."""
    return n * int(10**decimals)


def div_toward_zero(a: int, b: int) -> int:
    """a / b truncated toward zero (BigInt and Solidity semantics); ZeroDivisionError on b == 0."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def rem_toward_zero(a: int, b: int) -> int:
    """The remainder that goes with `div_toward_zero`: it has the sign of `a`."""
    return a - div_toward_zero(a, b) * b


def mul_div(x: int, y: int, z: int, round_up_magnitude: bool = False) -> int:
    """x * y / z toward zero; with `round_up_magnitude`, +1 when the remainder is positive.

    The remainder of a negative product is never positive, so a negative result is not rounded away
    from zero even when asked: the front end's bigMath.mulDiv behaves so, and the model follows it.
    """
    result = div_toward_zero(x * y, z)
    if round_up_magnitude and rem_toward_zero(x * y, z) > 0:
        return result + 1
    return result


def apply_factor(value: int, factor: int) -> int:
    """value * factor / 1e30 toward zero."""
    return div_toward_zero(value * factor, FLOAT_PRECISION)


def round_up_magnitude_division(a: int, b: int) -> int:
    """a / b rounded away from zero (for b > 0)."""
    if a < 0:
        return div_toward_zero(a - b + 1, b)
    return div_toward_zero(a + b - 1, b)


def convert_to_usd(token_amount: int, token_decimals: int, price: int) -> int:
    """A token amount's USD value at `price` (USD per smallest unit, scaled by 1e30), toward zero."""
    return div_toward_zero(token_amount * price, 10**token_decimals)


def convert_to_token_amount(usd: int, token_decimals: int, price: int) -> int:
    """The token amount worth `usd` at `price`, toward zero; `price` must be positive."""
    if price <= 0:
        raise ValueError(f"price must be positive, got {price}")
    return div_toward_zero(usd * 10**token_decimals, price)


def unit_price(usd: Decimal, decimals: int) -> int:
    """USD per whole token -> GMX's contract price (USD x 1e30 per smallest unit), rounded down."""
    return int((usd * Decimal(10) ** (USD_DECIMALS - decimals)).to_integral_value(ROUND_FLOOR))


def usd_price(unit: int, decimals: int) -> Decimal:
    """A contract price back to USD per whole token."""
    return Decimal(unit) * Decimal(10) ** decimals / Decimal(FLOAT_PRECISION)
