"""AMM model speed: V2 quotes per second and V3 exact-input swap latency versus pool size.

Prints numbers only (no thresholds). The V3 pools are synthetic: nested positions centred on the
price, so every spacing-aligned tick near the price is initialized; each timed swap crosses 8 of them.
The growth ratio (10,000 vs 100 initialized ticks) shows the tick lookup walks the bitmap instead of
scanning ticks. Run: .venv/bin/python scripts/bench_amm.py
"""

from __future__ import annotations

import gc
import os
import platform
import time
from collections.abc import Callable
from functools import partial

from defibots.protocols.uniswap_v2 import get_amount_out
from defibots.protocols.uniswap_v3 import UniswapV3Pool, get_sqrt_ratio_at_tick

POOL_SIZES = (100, 2_000, 10_000)
TICKS_CROSSED = 8
SWAP_REPETITIONS = 5_000
V2_QUOTES = 1_000_000


def bench_v2_quotes_per_second(rounds: int = 5) -> float:
    """Best of a few rounds of get_amount_out on mainnet-sized reserves."""
    amounts = [10**18 + 7919 * i for i in range(1_000)]
    reserve_in, reserve_out = 12_345 * 10**18, 41_000_000 * 10**6
    best = 0.0
    for _ in range(rounds):
        start = time.perf_counter_ns()
        for _ in range(V2_QUOTES // len(amounts)):
            for amount in amounts:
                get_amount_out(amount, reserve_in, reserve_out)
        elapsed = time.perf_counter_ns() - start
        best = max(best, V2_QUOTES / elapsed * 1e9)
    return best


def synthetic_pool(initialized_ticks: int, spacing: int = 60) -> UniswapV3Pool:
    """initialized_ticks / 2 nested positions [-i*spacing, +i*spacing), price just above tick 0."""
    liquidity_each = 10**18
    ticks: dict[int, tuple[int, int]] = {}
    for i in range(1, initialized_ticks // 2 + 1):
        ticks[-i * spacing] = (liquidity_each, liquidity_each)
        ticks[i * spacing] = (liquidity_each, -liquidity_each)
    return UniswapV3Pool(
        address="0x0000000000000000000000000000000000000bee",
        token0="0x6B175474E89094C44Da98b954EedeAC495271d0F",
        token1="0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2",
        fee=3000,
        tick_spacing=spacing,
        sqrt_price_x96=get_sqrt_ratio_at_tick(7),
        tick=7,
        liquidity=liquidity_each * (initialized_ticks // 2),
        ticks=ticks,
    )


def amount_crossing(pool: UniswapV3Pool, zero_for_one: bool, crossed: int) -> int:
    """Input that moves the price past the `crossed`-th initialized tick, ending between two ticks."""
    spacing = pool.tick_spacing
    stop_tick = -crossed * spacing - spacing // 2 if zero_for_one else crossed * spacing + spacing // 2
    stop_price = (get_sqrt_ratio_at_tick(stop_tick) + get_sqrt_ratio_at_tick(stop_tick + 1)) // 2
    return pool.swap(zero_for_one, 1 << 200, stop_price).amount_in


def time_calls(call: Callable[[], object], repetitions: int) -> list[int]:
    for _ in range(50):  # warm the caches the model keeps (sqrt ratios, step lookups)
        call()
    samples = []
    for _ in range(repetitions):
        start = time.perf_counter_ns()
        call()
        samples.append(time.perf_counter_ns() - start)
    samples.sort()
    return samples


def bench_v3_swaps() -> dict[tuple[int, bool], tuple[float, float, int]]:
    """(pool size, zero_for_one) -> (median µs, p99 µs, ticks crossed)."""
    results = {}
    for size in POOL_SIZES:
        pool = synthetic_pool(size)
        for zero_for_one in (True, False):
            amount = amount_crossing(pool, zero_for_one, TICKS_CROSSED)
            crossed = pool.swap(zero_for_one, amount).ticks_crossed
            samples = time_calls(partial(pool.swap, zero_for_one, amount), SWAP_REPETITIONS)
            median = samples[len(samples) // 2] / 1000
            p99 = samples[int(len(samples) * 0.99)] / 1000
            results[size, zero_for_one] = (median, p99, crossed)
    return results


def main() -> None:
    print(
        f"python {platform.python_version()}  load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cpus"
    )
    gc.collect()
    gc.disable()
    try:
        quotes = bench_v2_quotes_per_second()
        swaps = bench_v3_swaps()
    finally:
        gc.enable()
    print(f"v2 get_amount_out: {quotes:,.0f} quotes/s")
    print(f"v3 exact-input swap, {TICKS_CROSSED} initialized ticks crossed, µs (median / p99):")
    print(f"  {'initialized ticks':>17}  {'token0 in':>17}  {'token1 in':>17}")
    for size in POOL_SIZES:
        cells = []
        for zero_for_one in (True, False):
            median, p99, crossed = swaps[size, zero_for_one]
            cells.append(
                f"{median:6.2f} / {p99:6.2f}" + ("" if crossed == TICKS_CROSSED else f" ({crossed}x)")
            )
        print(f"  {size:>17,}  {cells[0]:>17}  {cells[1]:>17}")
    for zero_for_one, label in ((True, "token0 in"), (False, "token1 in")):
        growth = swaps[POOL_SIZES[-1], zero_for_one][0] / swaps[POOL_SIZES[0], zero_for_one][0]
        print(f"growth {POOL_SIZES[-1]:,} vs {POOL_SIZES[0]:,} ticks, median, {label}: {growth:.2f}x")


if __name__ == "__main__":
    main()
