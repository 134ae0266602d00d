"""A V3 pool's price in whole tokens, from slot0's sqrtPriceX96 (for display and screening, not amounts)."""

from __future__ import annotations

from decimal import Decimal

_Q192 = Decimal(2**192)


def v3_price(sqrt_price_x96: int, base_is_token0: bool, base_decimals: int, quote_decimals: int) -> Decimal:
    """A V3 pool's price (slot0's sqrtPriceX96) in whole quote tokens per whole base token."""
    raw = Decimal(sqrt_price_x96**2) / _Q192  # token1 units per token0 unit
    if not base_is_token0:
        raw = 1 / raw
    return raw.scaleb(base_decimals - quote_decimals)
