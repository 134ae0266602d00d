"""AMM model speed: V2 quotes per second, V3 exact-input swap latency versus pool size, and the time to
load 100 V3 pools with all their ticks from the devnet.

Prints numbers only (no thresholds). The V3 pools of the model timings are synthetic: nested positions
centred on the price, so every spacing-aligned tick near the price is initialized; each timed swap
crosses 8 of them. The growth ratio (10,000 vs 100 initialized ticks) shows the tick lookup walks the
bitmap instead of scanning ticks. The loading bench starts a replica devnet, deploys 15 tokens, creates
100 pools on their pairs (mainnet's fee tiers, a few NPM positions each) and times `load_v3_pools`.
Run: .venv/bin/python scripts/bench_amm.py
"""

from __future__ import annotations

import gc
import itertools
import os
import platform
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from defibots.chain import addresses as A
from defibots.chain.pool_loader import load_v3_pools
from defibots.chain.rpc import JsonRpc
from defibots.devnet.node import Devnet, DevnetOptions
from defibots.devnet.pool_factory import CreatedPool, DevnetPoolFactory, random_positions
from defibots.protocols.uniswap_v2 import get_amount_out
from defibots.protocols.uniswap_v3 import UniswapV3Pool, get_sqrt_ratio_at_tick

POOL_SIZES = (100, 2_000, 10_000)
TICKS_CROSSED = 8
SWAP_REPETITIONS = 5_000
V2_QUOTES = 1_000_000
LOADED_POOLS = 100
NEW_TOKENS = 15  # 105 pairs
FEE_MIX = (500, 3000, 100, 3000, 10000)
POSITIONS_PER_POOL = 6
LOAD_RUNS = 5


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


def create_bench_pools(devnet: Devnet) -> list[CreatedPool]:
    """100 initialized V3 pools with a few positions each, on pairs of freshly deployed tokens."""
    rng = random.Random(100)
    rpc = JsonRpc(devnet.http_url)
    factory = DevnetPoolFactory(rpc, rpc.call("eth_accounts")[0])
    tokens = factory.deploy_tokens([(f"Bench Token {i}", f"BENCH{i}", 18) for i in range(NEW_TOKENS)])
    factory.mint_tokens(tokens, factory.sender, 2**200)
    factory.approve(tokens, A.UNISWAP_V3_POSITION_MANAGER)
    pairs = list(itertools.combinations(tokens, 2))[:LOADED_POOLS]
    ticks = [rng.randint(-60_000, 60_000) for _ in pairs]
    pools = factory.create_pools(
        [
            (a, b, FEE_MIX[i % len(FEE_MIX)], get_sqrt_ratio_at_tick(t))
            for i, ((a, b), t) in enumerate(zip(pairs, ticks, strict=True))
        ]
    )
    plan = [
        (
            pool,
            random_positions(
                rng, tick, pool.tick_spacing, POSITIONS_PER_POOL, (10**18, 10**21), 300 * pool.tick_spacing
            ),
        )
        for pool, tick in zip(pools, ticks, strict=True)
    ]
    factory.add_positions_many(plan)
    return pools


@dataclass(frozen=True)
class PoolLoading:
    replica_start_s: float
    setup_s: float
    load_ms: list[float]
    pools: int
    ticks: int
    wide_pools: int
    """Pools with tick spacing > 1: the lens scans ~6,900 bitmap words for each spacing-1 pool."""
    wide_load_ms: list[float]


def bench_pool_loading() -> PoolLoading:
    start = time.perf_counter()
    with Devnet.start(DevnetOptions()) as devnet:
        started = time.perf_counter() - start
        pools = create_bench_pools(devnet)
        setup = time.perf_counter() - start - started
        rpc = JsonRpc(devnet.http_url)
        addresses = [p.address for p in pools]
        spacings = [p.tick_spacing for p in pools]
        runs = []
        for _ in range(LOAD_RUNS):
            begin = time.perf_counter()
            snapshots = load_v3_pools(rpc, addresses, spacings)
            runs.append((time.perf_counter() - begin) * 1000)
        wide = [(a, s) for a, s in zip(addresses, spacings, strict=True) if s > 1]
        wide_runs = []
        for _ in range(LOAD_RUNS):
            begin = time.perf_counter()
            load_v3_pools(rpc, [a for a, _ in wide], [s for _, s in wide])
            wide_runs.append((time.perf_counter() - begin) * 1000)
    return PoolLoading(
        started, setup, runs, len(snapshots), sum(len(s.ticks) for s in snapshots), len(wide), wide_runs
    )


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
    loading = bench_pool_loading()
    mix = ", ".join(
        f"{FEE_MIX.count(fee) * LOADED_POOLS // len(FEE_MIX)} x {fee}" for fee in sorted(set(FEE_MIX))
    )
    runs, wide = loading.load_ms, loading.wide_load_ms
    print(f"load {loading.pools} V3 pools with all their ticks from the devnet ({mix} fee):")
    print(f"  {loading.ticks:,} initialized ticks, median of {LOAD_RUNS}: {statistics.median(runs):.1f} ms"
          f"  (min {min(runs):.1f}, max {max(runs):.1f})")  # fmt: skip
    print(f"  the {loading.wide_pools} pools with tick spacing > 1 alone: {statistics.median(wide):.1f} ms")
    print(f"  replica start {loading.replica_start_s:.2f} s, pools and positions {loading.setup_s:.2f} s")


if __name__ == "__main__":
    main()
