"""LiquidityMath.addDelta: uint128 plus int128, reverting 'LS' on underflow and 'LA' on overflow."""

from __future__ import annotations

from defibots.protocols.uniswap_v3.errors import UniswapV3Revert

UINT128_LIMIT = 1 << 128


def add_delta(x: int, y: int) -> int:
    z = x + y
    if y < 0:
        if z < 0:
            raise UniswapV3Revert("LS", f"liquidity {x} minus {-y} underflows")
    elif z >= UINT128_LIMIT:
        raise UniswapV3Revert("LA", f"liquidity {x} plus {y} overflows uint128")
    return z
