"""SqrtPriceMath: token amounts between two prices and the price after adding/removing an amount.

Inputs round up and outputs round down, exactly as v3-core 1.0.1; the uint160/uint256 overflow
checks the contract performs (LowGasSafeMath, SafeCast, the `product / amount == sqrtPX96` test)
are reproduced so the same inputs revert here.
"""

from __future__ import annotations

from defibots.protocols.uniswap_v3.errors import UniswapV3Revert
from defibots.protocols.uniswap_v3.full_math import div_rounding_up, mul_div, mul_div_rounding_up

MAX_UINT160 = (1 << 160) - 1
MAX_UINT256 = (1 << 256) - 1
Q96 = 1 << 96
RESOLUTION = 96
INT256_LIMIT = 1 << 255


def _to_uint160(value: int) -> int:
    if value > MAX_UINT160:
        raise UniswapV3Revert("", "SafeCast.toUint160 overflow")
    return value


def _to_int256(value: int) -> int:
    if value >= INT256_LIMIT:
        raise UniswapV3Revert("", "SafeCast.toInt256 overflow")
    return value


def get_next_sqrt_price_from_amount0_rounding_up(
    sqrt_px96: int, liquidity: int, amount: int, add: bool
) -> int:
    """Price after adding (or removing) `amount` of token0, rounded up so the pool never loses."""
    if amount == 0:
        return sqrt_px96
    numerator1 = liquidity << RESOLUTION
    product = amount * sqrt_px96
    if add:
        if product <= MAX_UINT256:
            denominator = numerator1 + product
            if denominator <= MAX_UINT256:
                return mul_div_rounding_up(numerator1, sqrt_px96, denominator) & MAX_UINT160
        # Overflow branch: numerator1 / (numerator1 / sqrtPX96 + amount), with a checked add.
        if sqrt_px96 == 0:
            raise UniswapV3Revert("", "division by zero")
        divisor = numerator1 // sqrt_px96 + amount
        if divisor > MAX_UINT256:
            raise UniswapV3Revert("", "LowGasSafeMath.add overflow")
        return div_rounding_up(numerator1, divisor) & MAX_UINT160
    if product > MAX_UINT256 or numerator1 <= product:
        raise UniswapV3Revert("", "token0 output exceeds the reserves at this price")
    return _to_uint160(mul_div_rounding_up(numerator1, sqrt_px96, numerator1 - product))


def get_next_sqrt_price_from_amount1_rounding_down(
    sqrt_px96: int, liquidity: int, amount: int, add: bool
) -> int:
    """Price after adding (or removing) `amount` of token1, rounded down."""
    if add:
        if amount <= MAX_UINT160:
            if liquidity == 0:
                raise UniswapV3Revert("", "division by zero")
            quotient = (amount << RESOLUTION) // liquidity
        else:
            quotient = mul_div(amount, Q96, liquidity)
        result = sqrt_px96 + quotient
        if result > MAX_UINT256:
            raise UniswapV3Revert("", "LowGasSafeMath.add overflow")
        return _to_uint160(result)
    if amount <= MAX_UINT160:
        quotient = div_rounding_up(amount << RESOLUTION, liquidity)
    else:
        quotient = mul_div_rounding_up(amount, Q96, liquidity)
    if sqrt_px96 <= quotient:
        raise UniswapV3Revert("", "token1 output exceeds the reserves at this price")
    return sqrt_px96 - quotient


def get_next_sqrt_price_from_input(sqrt_px96: int, liquidity: int, amount_in: int, zero_for_one: bool) -> int:
    """Price after swapping `amount_in` (fee already taken) into the pool."""
    if sqrt_px96 == 0 or liquidity == 0:
        raise UniswapV3Revert("", "zero price or liquidity")
    if zero_for_one:
        return get_next_sqrt_price_from_amount0_rounding_up(sqrt_px96, liquidity, amount_in, True)
    return get_next_sqrt_price_from_amount1_rounding_down(sqrt_px96, liquidity, amount_in, True)


def get_next_sqrt_price_from_output(
    sqrt_px96: int, liquidity: int, amount_out: int, zero_for_one: bool
) -> int:
    """Price after taking `amount_out` out of the pool."""
    if sqrt_px96 == 0 or liquidity == 0:
        raise UniswapV3Revert("", "zero price or liquidity")
    if zero_for_one:
        return get_next_sqrt_price_from_amount1_rounding_down(sqrt_px96, liquidity, amount_out, False)
    return get_next_sqrt_price_from_amount0_rounding_up(sqrt_px96, liquidity, amount_out, False)


def get_amount0_delta(sqrt_ratio_a_x96: int, sqrt_ratio_b_x96: int, liquidity: int, round_up: bool) -> int:
    """Token0 between two prices: liquidity * (sqrtB - sqrtA) / (sqrtA * sqrtB)."""
    if sqrt_ratio_a_x96 > sqrt_ratio_b_x96:
        sqrt_ratio_a_x96, sqrt_ratio_b_x96 = sqrt_ratio_b_x96, sqrt_ratio_a_x96
    if sqrt_ratio_a_x96 == 0:
        raise UniswapV3Revert("", "zero sqrt ratio")
    numerator1 = liquidity << RESOLUTION
    numerator2 = sqrt_ratio_b_x96 - sqrt_ratio_a_x96
    if round_up:
        return div_rounding_up(
            mul_div_rounding_up(numerator1, numerator2, sqrt_ratio_b_x96), sqrt_ratio_a_x96
        )
    return mul_div(numerator1, numerator2, sqrt_ratio_b_x96) // sqrt_ratio_a_x96


def get_amount1_delta(sqrt_ratio_a_x96: int, sqrt_ratio_b_x96: int, liquidity: int, round_up: bool) -> int:
    """Token1 between two prices: liquidity * (sqrtB - sqrtA)."""
    if sqrt_ratio_a_x96 > sqrt_ratio_b_x96:
        sqrt_ratio_a_x96, sqrt_ratio_b_x96 = sqrt_ratio_b_x96, sqrt_ratio_a_x96
    if round_up:
        return mul_div_rounding_up(liquidity, sqrt_ratio_b_x96 - sqrt_ratio_a_x96, Q96)
    return mul_div(liquidity, sqrt_ratio_b_x96 - sqrt_ratio_a_x96, Q96)


def get_amount0_delta_signed(sqrt_ratio_a_x96: int, sqrt_ratio_b_x96: int, liquidity: int) -> int:
    """Signed token0 owed for a liquidity change: rounded up when added, down (and negative) when removed."""
    if liquidity < 0:
        return -_to_int256(get_amount0_delta(sqrt_ratio_a_x96, sqrt_ratio_b_x96, -liquidity, False))
    return _to_int256(get_amount0_delta(sqrt_ratio_a_x96, sqrt_ratio_b_x96, liquidity, True))


def get_amount1_delta_signed(sqrt_ratio_a_x96: int, sqrt_ratio_b_x96: int, liquidity: int) -> int:
    """Signed token1 owed for a liquidity change."""
    if liquidity < 0:
        return -_to_int256(get_amount1_delta(sqrt_ratio_a_x96, sqrt_ratio_b_x96, -liquidity, False))
    return _to_int256(get_amount1_delta(sqrt_ratio_a_x96, sqrt_ratio_b_x96, liquidity, True))
