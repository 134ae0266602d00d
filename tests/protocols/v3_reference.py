"""The pool's swap loop written as a plain composition of the library models, step for step like
UniswapV3Pool.swap in v3-core: the slow, obviously-faithful oracle for the inlined hot path."""

from __future__ import annotations

from dataclasses import dataclass

from defibots.protocols.uniswap_v3 import (
    MAX_SQRT_RATIO,
    MAX_TICK,
    MIN_SQRT_RATIO,
    MIN_TICK,
    UniswapV3Pool,
    UniswapV3Revert,
    add_delta,
    compute_swap_step,
    get_sqrt_ratio_at_tick,
    get_tick_at_sqrt_ratio,
    next_initialized_tick_within_one_word,
)


@dataclass(frozen=True)
class ReferenceSwap:
    amount0: int
    amount1: int
    sqrt_price_x96: int
    tick: int
    liquidity: int
    ticks_crossed: int


def reference_swap(
    pool: UniswapV3Pool, zero_for_one: bool, amount_specified: int, sqrt_price_limit_x96: int | None = None
) -> ReferenceSwap:
    if amount_specified == 0:
        raise UniswapV3Revert("AS")
    limit = sqrt_price_limit_x96
    if limit is None:
        limit = MIN_SQRT_RATIO + 1 if zero_for_one else MAX_SQRT_RATIO - 1
    start_price = pool.sqrt_price_x96
    ok = start_price > limit > MIN_SQRT_RATIO if zero_for_one else start_price < limit < MAX_SQRT_RATIO
    if not ok:
        raise UniswapV3Revert("SPL")
    exact_input = amount_specified > 0
    remaining = amount_specified
    calculated = 0
    sqrt_price = start_price
    tick = pool.tick
    liquidity = pool.liquidity
    crossed = 0
    while remaining != 0 and sqrt_price != limit:
        step_start = sqrt_price
        tick_next, initialized = next_initialized_tick_within_one_word(
            pool.bitmap, tick, pool.tick_spacing, zero_for_one
        )
        tick_next = max(MIN_TICK, min(MAX_TICK, tick_next))
        sqrt_next = get_sqrt_ratio_at_tick(tick_next)
        beyond_limit = sqrt_next < limit if zero_for_one else sqrt_next > limit
        sqrt_price, amount_in, amount_out, fee_amount = compute_swap_step(
            sqrt_price, limit if beyond_limit else sqrt_next, liquidity, remaining, pool.fee
        )
        if exact_input:
            remaining -= amount_in + fee_amount
            calculated -= amount_out
        else:
            remaining += amount_out
            calculated += amount_in + fee_amount
        if sqrt_price == sqrt_next:
            if initialized:
                net = pool.ticks[tick_next][1]
                liquidity = add_delta(liquidity, -net if zero_for_one else net)
                crossed += 1
            tick = tick_next - 1 if zero_for_one else tick_next
        elif sqrt_price != step_start:
            tick = get_tick_at_sqrt_ratio(sqrt_price)
    if zero_for_one == exact_input:
        amount0, amount1 = amount_specified - remaining, calculated
    else:
        amount0, amount1 = calculated, amount_specified - remaining
    return ReferenceSwap(amount0, amount1, sqrt_price, tick, liquidity, crossed)
