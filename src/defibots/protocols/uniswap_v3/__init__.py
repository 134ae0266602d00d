"""Uniswap V3: the core libraries, bit-exact to v3-core 1.0.1, and a fast pool model built on them."""

from defibots.protocols.uniswap_v3.errors import UniswapV3Revert
from defibots.protocols.uniswap_v3.full_math import mul_div, mul_div_rounding_up
from defibots.protocols.uniswap_v3.liquidity_math import add_delta
from defibots.protocols.uniswap_v3.pool import UniswapV3Pool, V3ModifyResult, V3SwapResult
from defibots.protocols.uniswap_v3.price import v3_price
from defibots.protocols.uniswap_v3.sqrt_price_math import (
    get_amount0_delta,
    get_amount0_delta_signed,
    get_amount1_delta,
    get_amount1_delta_signed,
    get_next_sqrt_price_from_input,
    get_next_sqrt_price_from_output,
)
from defibots.protocols.uniswap_v3.swap_math import compute_swap_step
from defibots.protocols.uniswap_v3.tick import tick_spacing_to_max_liquidity_per_tick
from defibots.protocols.uniswap_v3.tick_bitmap import flip_tick, next_initialized_tick_within_one_word
from defibots.protocols.uniswap_v3.tick_math import (
    MAX_SQRT_RATIO,
    MAX_TICK,
    MIN_SQRT_RATIO,
    MIN_TICK,
    get_sqrt_ratio_at_tick,
    get_tick_at_sqrt_ratio,
)

__all__ = [
    "MAX_SQRT_RATIO",
    "MAX_TICK",
    "MIN_SQRT_RATIO",
    "MIN_TICK",
    "UniswapV3Pool",
    "UniswapV3Revert",
    "V3ModifyResult",
    "V3SwapResult",
    "add_delta",
    "compute_swap_step",
    "flip_tick",
    "get_amount0_delta",
    "get_amount0_delta_signed",
    "get_amount1_delta",
    "get_amount1_delta_signed",
    "get_next_sqrt_price_from_input",
    "get_next_sqrt_price_from_output",
    "get_sqrt_ratio_at_tick",
    "get_tick_at_sqrt_ratio",
    "mul_div",
    "mul_div_rounding_up",
    "next_initialized_tick_within_one_word",
    "tick_spacing_to_max_liquidity_per_tick",
    "v3_price",
]
