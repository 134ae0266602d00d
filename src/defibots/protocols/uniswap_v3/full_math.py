"""FullMath: 512-bit intermediate mulDiv, with the contract's overflow and zero-denominator reverts."""

from __future__ import annotations

from defibots.protocols.uniswap_v3.errors import UniswapV3Revert

MAX_UINT256 = (1 << 256) - 1


def mul_div(a: int, b: int, denominator: int) -> int:
    """floor(a * b / denominator); reverts when denominator is 0 or the result needs more than 256 bits."""
    if denominator == 0:
        raise UniswapV3Revert("", "FullMath.mulDiv: denominator is zero")
    result = a * b // denominator
    if result > MAX_UINT256:
        raise UniswapV3Revert("", "FullMath.mulDiv: result overflows uint256")
    return result


def mul_div_rounding_up(a: int, b: int, denominator: int) -> int:
    """ceil(a * b / denominator) with the same reverts, plus one when rounding up would overflow."""
    result = mul_div(a, b, denominator)
    if a * b % denominator:
        if result == MAX_UINT256:
            raise UniswapV3Revert("", "FullMath.mulDivRoundingUp: result overflows uint256")
        result += 1
    return result


def div_rounding_up(x: int, y: int) -> int:
    """UnsafeMath.divRoundingUp: EVM `div`/`mod` semantics, so a zero divisor yields 0 (no revert)."""
    if y == 0:
        return 0
    return -(-x // y)
