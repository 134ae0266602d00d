"""amm_arb over the replica's real pools loaded into models: route labels, and V3/mixed sizing against a
brute-force optimum on seeded random imbalances."""

from __future__ import annotations

import random

import pytest

from defibots.actions import Cycle
from defibots.chain.addresses import TOKENS
from defibots.chain.pool_discovery import discover_pools
from defibots.chain.pool_loader import load_pools
from defibots.chain.rpc import JsonRpc
from defibots.devnet.node import Devnet
from defibots.protocols.uniswap_v2 import UniswapV2Pair
from defibots.state.uniswap import PoolModel
from defibots.strategies.amm_arb import ArbFinder, ArbParams, cycle_amounts, screen


@pytest.fixture(scope="module")
def replica_pools(replica: Devnet) -> dict[str, PoolModel]:
    """Every replica pool among the five tokens, as models at the current block (read only)."""
    rpc = JsonRpc(replica.http_url)
    return load_pools(rpc, discover_pools(rpc, [t.address for t in TOKENS.values()]))


@pytest.mark.parametrize("base", ["WETH", "USDC"])
def test_cycle_labels_on_the_replica_are_distinct(replica_pools: dict[str, PoolModel], base: str) -> None:
    finder = ArbFinder(replica_pools, ArbParams(base_token=TOKENS[base].address, max_hops=3))
    labels = [_label(c) for c in finder.cycles]
    assert len(labels) > 50
    assert len(set(labels)) == len(labels), sorted(lb for lb in labels if labels.count(lb) > 1)[:6]
    assert all(any(f"-v3-{fee}->" in lb for lb in labels) for fee in (100, 500, 3000))


def _label(cycle: Cycle) -> str:
    """The label the live view and the journal show (public_tx.describe of an opportunity on it)."""
    return cycle.describe({t.address: t.symbol for t in TOKENS.values()})


def imbalance(pools: dict[str, PoolModel], rng: random.Random, swaps: int) -> dict[str, PoolModel]:
    """`swaps` random pools each moved by an exact-input swap: 1-8% of a V2 reserve, 0.05-1% of a V3 pool's
    virtual reserve (concentrated: its real reserves are far smaller)."""
    out = dict(pools)
    for address in rng.sample(sorted(out), swaps):
        pool = out[address]
        token_in = rng.choice((pool.token0, pool.token1))
        if isinstance(pool, UniswapV2Pair):
            depth = pool.reserves_for(token_in)[0]
            out[address] = pool.swap_exact_in(token_in, int(depth * rng.uniform(0.01, 0.08))).pair_after
        else:
            sqrt_p, liquidity = pool.sqrt_price_x96, pool.liquidity
            depth = liquidity * 2**96 // sqrt_p if token_in == pool.token0 else liquidity * sqrt_p // 2**96
            out[address] = pool.swap_exact_in(token_in, int(depth * rng.uniform(0.0005, 0.01))).pool_after
    return out


def brute_force_best(pools: dict[str, PoolModel], cycle: Cycle, upper: int) -> int:
    """Best profit over a log-spaced grid of sizes up to `upper`, refined twice around the best point."""

    def profit(x: int) -> int:
        amounts = cycle_amounts(pools, cycle, x)
        return amounts[-1] - x if len(amounts) == len(cycle.hops) and amounts[-1] else -x

    grid = sorted({int(upper ** (i / 600)) for i in range(601)})
    for _ in range(3):
        values = [profit(x) for x in grid]
        i = max(range(len(grid)), key=values.__getitem__)
        lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
        best = values[i]
        grid = sorted({lo + (hi - lo) * k // 300 for k in range(301)})
    return max(best, max(profit(x) for x in grid))


@pytest.mark.parametrize("seed", range(6))
def test_v3_and_mixed_sizing_is_within_a_tenth_of_a_percent_of_brute_force(
    replica_pools: dict[str, PoolModel], seed: int
) -> None:
    rng = random.Random(seed)
    pools = imbalance(replica_pools, rng, swaps=3)
    checked = 0
    for base in ("WETH", "USDC"):
        finder = ArbFinder(pools, ArbParams(base_token=TOKENS[base].address, max_hops=3, priority_fee=0))
        for cycle in finder.cycles:
            rate = screen(finder.pools, cycle)
            if rate <= 1.0 or all(h.protocol == "v2" for h in cycle.hops):
                continue
            best = brute_force_best(finder.pools, cycle, finder.params.max_amount_in)
            if best <= 0:
                continue
            x = finder.optimal_input(cycle, rate)
            amounts = cycle_amounts(finder.pools, cycle, x)
            chosen = amounts[-1] - x if x > 0 and len(amounts) == len(cycle.hops) else 0
            assert chosen * 1000 >= best * 999, (base, _label(cycle), x, chosen, best)
            checked += 1
    assert checked >= 2


@pytest.mark.parametrize("seed", range(4))
def test_a_cycle_dropped_as_unable_to_pay_its_gas_really_cannot(
    replica_pools: dict[str, PoolModel], seed: int
) -> None:
    """The concave bound that skips the size search is never wrong: a cycle some size of which (on a
    brute-force grid) earns more than `need` is always searched, and cycles that cannot are dropped."""
    rng = random.Random(100 + seed)
    pools = imbalance(replica_pools, rng, swaps=3)
    finder = ArbFinder(pools, ArbParams(base_token=TOKENS["WETH"].address, max_hops=3, priority_fee=0))
    kept = dropped = 0
    for cycle in finder.cycles:
        rate = screen(finder.pools, cycle)
        if rate <= 1.0 or all(h.protocol == "v2" for h in cycle.hops):
            continue
        best = brute_force_best(finder.pools, cycle, finder.params.max_amount_in)
        for need in (best // 2, best * 999 // 1000):
            if need > 0:
                assert finder.optimal_input(cycle, rate, need) > 0, (_label(cycle), best, need)
                kept += 1
        dropped += finder.optimal_input(cycle, rate, max(best, 0) * 2 + 1) == 0
    assert kept > 0 and dropped > 0
