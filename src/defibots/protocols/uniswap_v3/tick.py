"""Tick: the liquidity bookkeeping of Tick.update that mint and burn perform (fees and oracle omitted).

Fee growth, seconds-outside and tick-cumulative fields never change what a trader pays or receives,
so a tick here is just (liquidity_gross, liquidity_net).
"""

from __future__ import annotations

from collections.abc import MutableMapping

from defibots.protocols.uniswap_v3.errors import UniswapV3Revert
from defibots.protocols.uniswap_v3.liquidity_math import add_delta
from defibots.protocols.uniswap_v3.tick_math import MAX_TICK, MIN_TICK

MAX_UINT128 = (1 << 128) - 1
INT128_MIN = -(1 << 127)
INT128_MAX = (1 << 127) - 1


def tick_spacing_to_max_liquidity_per_tick(tick_spacing: int) -> int:
    """Tick.tickSpacingToMaxLiquidityPerTick: uint128 max split evenly over every usable tick."""
    min_tick = -(-MIN_TICK // tick_spacing) * tick_spacing  # Solidity `/` truncates toward zero
    max_tick = (MAX_TICK // tick_spacing) * tick_spacing
    num_ticks = (max_tick - min_tick) // tick_spacing + 1
    return MAX_UINT128 // num_ticks


def update_tick(
    ticks: MutableMapping[int, tuple[int, int]],
    tick: int,
    liquidity_delta: int,
    upper: bool,
    max_liquidity: int,
) -> bool:
    """Tick.update on a mapping the caller owns; returns whether the tick flipped (un)initialized.

    A flipped tick with zero gross liquidity is left in place; the pool deletes it after a burn
    (Tick.clear), as the contract does.
    """
    gross_before, net_before = ticks.get(tick, (0, 0))
    gross_after = add_delta(gross_before, liquidity_delta)
    if gross_after > max_liquidity:
        raise UniswapV3Revert("LO", f"tick {tick} would hold {gross_after} > {max_liquidity} liquidity")
    net_after = net_before - liquidity_delta if upper else net_before + liquidity_delta
    if not INT128_MIN <= net_after <= INT128_MAX:
        raise UniswapV3Revert("", "SafeCast.toInt128 overflow of liquidityNet")
    ticks[tick] = (gross_after, net_after)
    return (gross_after == 0) != (gross_before == 0)
