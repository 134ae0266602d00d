"""UniswapV3Pool model against QuoterV2 and SwapRouter on the devnet replica, to the wei.

Three replica pools get hundreds of extra NPM positions first (USDC/USDT 0.01% around tick 0,
WETH/USDC 0.05% around tick 196,000, DAI/USDC 0.01% around tick -276,000), two pools on new tokens cover
the 0.3% and 1% tiers, position ends land on bitmap word edges, and all five are loaded with the
state-override lens. Then random quotes (both directions, exact in and out, 0 and 1 wei to more than
the pool holds, with and without valid or invalid price limits) go to QuoterV2 in JSON-RPC batches, and
a sequence of swaps is executed through SwapRouter, the model following each one. Reproduce a run with
DEFIBOTS_PARITY_SEED=<printed seed>.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from eth_abi import decode

from defibots.chain import addresses as A
from defibots.chain.calldata import calldata
from defibots.chain.pool_address import v3_pool_address
from defibots.chain.pool_loader import load_v3_pools, v3_from_snapshot
from defibots.chain.rpc import JsonRpc
from defibots.devnet.node import Devnet
from defibots.devnet.pool_factory import (
    CreatedPool,
    DevnetPoolFactory,
    DevnetTxFailed,
    PositionSpec,
    random_positions,
    sort_tokens,
)
from defibots.protocols.uniswap_v3 import (
    MAX_SQRT_RATIO,
    MAX_TICK,
    MIN_SQRT_RATIO,
    MIN_TICK,
    UniswapV3Pool,
    UniswapV3Revert,
    V3SwapResult,
    get_sqrt_ratio_at_tick,
)

from .replica_swaps import (
    DEADLINE,
    TRADER_TOKENS,
    TX_GAS,
    RawRpc,
    Reverted,
    approve_all,
    balance_call,
    call_outcome,
    eth_call,
    fund_trader,
    log_uniform,
    parity_seed,
    quoter_ticks_crossed,
    seeded_rng,
)

pytestmark = pytest.mark.devnet


@dataclass(frozen=True)
class ReplicaPoolSpec:
    """A seeded replica pool that gets `positions` more positions within `half_width_ticks` of its price."""

    token_a: str
    token_b: str
    fee: int
    positions: int
    half_width_ticks: int


@dataclass(frozen=True)
class FreshPoolSpec:
    """A pool created in the test on two new tokens, covering the fee tiers the replica pools above miss."""

    fee: int
    tick: int
    positions: int


REPLICA_POOLS = (
    ReplicaPoolSpec("USDC", "USDT", 100, 200, 1_500),  # spacing 1 around tick 0: words -1/0 and +-256
    ReplicaPoolSpec("WETH", "USDC", 500, 100, 8_000),  # spacing 10 around tick 196,000
    ReplicaPoolSpec("DAI", "USDC", 100, 80, 1_500),  # spacing 1 around tick -276,000
)
FRESH_POOLS = (FreshPoolSpec(3000, -30_000, 100), FreshPoolSpec(10000, 120_000, 100))
FRESH_LIQUIDITY = (10**15, 10**21)
QUOTES_PER_POOL = 360
EXECUTED_PER_POOL = 22
"""Swaps that must go through per pool; reverting cases drawn on the way are compared by eth_call on top."""
FULL = 1 << 200
"""An amount larger than any replica pool can fill in either direction."""

QUOTE_IN = "quoteExactInputSingle((address,address,uint256,uint24,uint160))"
QUOTE_OUT = "quoteExactOutputSingle((address,address,uint256,uint24,uint160))"
QUOTE_TYPES = ("uint256", "uint160", "uint32", "uint256")
ROUTER_IN = "exactInputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160))"
ROUTER_OUT = "exactOutputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160))"
QUOTER_PARTIAL = "Unexpected error"
"""QuoterV2's revert when the pool's callback saw no token paid in, or an unlimited exact-output quote
was filled only partly (a bare `require` inside the callback, re-raised as this string)."""


@dataclass(frozen=True)
class SwapCase:
    zero_for_one: bool
    exact_in: bool
    amount: int
    limit: int
    """sqrtPriceLimitX96 as the periphery takes it: 0 means none."""


@dataclass
class V3Market:
    trader: str
    pools: list[UniswapV3Pool]


@pytest.fixture(scope="module")
def v3_market(replica: Devnet) -> Iterator[V3Market]:
    """The replica with the extra positions and pools, for this module only (reverted afterwards)."""
    snapshot = replica.snapshot()
    try:
        rng = random.Random(f"{parity_seed()}:v3 positions")
        rpc = JsonRpc(replica.http_url)
        trader = replica.accounts[0].address
        fund_trader(rpc, trader)
        factory = DevnetPoolFactory(rpc, trader)
        plan: list[tuple[CreatedPool, list[PositionSpec]]] = []
        for spec in REPLICA_POOLS:
            token0, token1 = sort_tokens(A.TOKENS[spec.token_a].address, A.TOKENS[spec.token_b].address)
            spacing = A.V3_FEE_TICK_SPACING[spec.fee]
            pool = CreatedPool(v3_pool_address(token0, token1, spec.fee), token0, token1, spec.fee, spacing)
            (before,) = load_v3_pools(rpc, [pool.address], [spacing])
            liquidity = (before.liquidity // 10**4, before.liquidity // 2)
            positions = random_positions(
                rng, before.tick, spacing, spec.positions, liquidity, spec.half_width_ticks
            )
            plan.append((pool, positions))
        new_tokens = factory.deploy_tokens([("Parity A", "PARA", 18), ("Parity B", "PARB", 6)])
        factory.mint_tokens(new_tokens, trader, TRADER_TOKENS)
        fresh = factory.create_pools(
            [(*new_tokens, spec.fee, get_sqrt_ratio_at_tick(spec.tick)) for spec in FRESH_POOLS]
        )
        for pool, spec in zip(fresh, FRESH_POOLS, strict=True):
            half_width = 300 * pool.tick_spacing
            positions = random_positions(
                rng, spec.tick, pool.tick_spacing, spec.positions, FRESH_LIQUIDITY, half_width
            )
            plan.append((pool, positions))
        spenders = [A.UNISWAP_V3_POSITION_MANAGER, A.UNISWAP_V3_SWAP_ROUTER]
        approve_all(factory, spenders, new_tokens)
        factory.add_positions_many(plan)
        snapshots = load_v3_pools(rpc, [p.address for p, _ in plan], [p.tick_spacing for p, _ in plan])
        yield V3Market(trader, [v3_from_snapshot(s) for s in snapshots])
    finally:
        replica.revert(snapshot)


# -- case generation -----------------------------------------------------------------------------


def full_fills(pool: UniswapV3Pool) -> dict[tuple[bool, bool], int]:
    """(zero_for_one, exact_in) -> the most the pool can take in / pay out in that direction."""
    fills = {}
    for zero_for_one in (True, False):
        drained = pool.swap(zero_for_one, FULL)
        fills[zero_for_one, True] = drained.amount_in
        fills[zero_for_one, False] = drained.amount_out
    return fills


def random_amount(rng: random.Random, fill: int) -> int:
    """Log-uniform from 1 wei to 16x what the pool can fill, plus 0, the fill itself +-1, and far more."""
    roll = rng.random()
    if roll < 0.02:
        return 0
    if roll < 0.08:
        return max(0, fill + rng.choice((-1, 0, 1)))  # the exact edge of what the pool can fill
    if roll < 0.16:
        return fill + log_uniform(rng, fill << 20)  # more than the pool can fill
    return log_uniform(rng, fill * 16)


def random_limit(rng: random.Random, pool: UniswapV3Pool, zero_for_one: bool, invalid_share: float) -> int:
    """0 (none), a valid limit (on an initialized tick, a word edge, or anywhere ahead, +-1 wei), or an
    invalid one (the current price, the wrong side, the TickMath bounds)."""
    roll = rng.random()
    if roll < 0.35:
        return 0
    sign = -1 if zero_for_one else 1
    if roll < 0.35 + invalid_share:
        wrong_side = get_sqrt_ratio_at_tick(
            max(MIN_TICK, min(MAX_TICK, pool.tick - sign * rng.randint(1, 5_000)))
        )
        bound = MIN_SQRT_RATIO if zero_for_one else MAX_SQRT_RATIO
        return rng.choice((pool.sqrt_price_x96, wrong_side, bound, bound + sign, 1, (1 << 160) - 1))
    spacing = pool.tick_spacing
    ahead = [t for t in pool.ticks if (t <= pool.tick if zero_for_one else t > pool.tick)]
    kind = rng.random()
    if kind < 0.35 and ahead:
        tick = rng.choice(ahead)
    elif kind < 0.6:
        word = 256 * spacing
        tick = (pool.tick // word + sign * rng.randint(0, 6)) * word - rng.choice((0, spacing))
    else:
        tick = pool.tick + sign * log_uniform(rng, 30_000)
    tick = max(MIN_TICK, min(MAX_TICK, tick))
    limit = get_sqrt_ratio_at_tick(tick) + rng.choice((0, 0, 1, -1))
    valid = (
        MIN_SQRT_RATIO < limit < pool.sqrt_price_x96
        if zero_for_one
        else pool.sqrt_price_x96 < limit < MAX_SQRT_RATIO
    )
    return limit if valid else 0


def random_case(rng: random.Random, pool: UniswapV3Pool, fills: dict[tuple[bool, bool], int]) -> SwapCase:
    zero_for_one = rng.random() < 0.5
    exact_in = rng.random() < 0.5
    amount = random_amount(rng, fills[zero_for_one, exact_in])
    return SwapCase(zero_for_one, exact_in, amount, random_limit(rng, pool, zero_for_one, 0.1))


def model_swap(pool: UniswapV3Pool, case: SwapCase) -> V3SwapResult | Reverted:
    """The pool's swap as the periphery calls it, or the periphery's revert: the pool's own reverts,
    and a bare `require` when nothing was paid in or an unlimited exact output fell short."""
    specified = case.amount if case.exact_in else -case.amount
    try:
        result = pool.swap(case.zero_for_one, specified, case.limit or None)
    except UniswapV3Revert as revert:
        return Reverted(revert.reason)
    if result.amount0 <= 0 and result.amount1 <= 0:
        return Reverted("")
    if not case.exact_in and not case.limit and result.amount_out != case.amount:
        return Reverted("")
    return result


def expected_quote(pool: UniswapV3Pool, case: SwapCase) -> tuple[int, int, int] | Reverted:
    """QuoterV2's (amount, sqrtPriceX96After, initializedTicksCrossed), or its revert."""
    result = model_swap(pool, case)
    if isinstance(result, Reverted):
        return Reverted(result.reason or QUOTER_PARTIAL)
    amount = result.amount_out if case.exact_in else result.amount_in
    crossed = quoter_ticks_crossed(pool.bitmap, pool.tick_spacing, pool.tick, result.tick)
    return amount, result.sqrt_price_x96, crossed


def token_in_out(pool: UniswapV3Pool, zero_for_one: bool) -> tuple[str, str]:
    return (pool.token0, pool.token1) if zero_for_one else (pool.token1, pool.token0)


def quote_call(pool: UniswapV3Pool, case: SwapCase) -> tuple[str, list[Any]]:
    token_in, token_out = token_in_out(pool, case.zero_for_one)
    signature = QUOTE_IN if case.exact_in else QUOTE_OUT
    data = calldata(signature, (token_in, token_out, case.amount, pool.fee, case.limit))
    return eth_call(A.UNISWAP_V3_QUOTER_V2, data)


def router_call(pool: UniswapV3Pool, case: SwapCase, trader: str) -> str:
    token_in, token_out = token_in_out(pool, case.zero_for_one)
    if case.exact_in:
        params = (token_in, token_out, pool.fee, trader, DEADLINE, case.amount, 0, case.limit)
        return calldata(ROUTER_IN, params)
    params = (token_in, token_out, pool.fee, trader, DEADLINE, case.amount, 2**256 - 1, case.limit)
    return calldata(ROUTER_OUT, params)


# -- tests ---------------------------------------------------------------------------------------


def test_pools_have_hundreds_of_ticks_with_negative_and_word_edge_ticks(
    v3_market: V3Market, devnet: Devnet
) -> None:
    rpc = RawRpc(devnet.http_url)
    try:
        for pool in v3_market.pools:
            assert len(pool.ticks) >= 100, pool
            word = 256 * pool.tick_spacing
            edges = {t % word for t in pool.ticks} & {0, word - pool.tick_spacing}
            assert edges == {0, word - pool.tick_spacing}, f"no word-edge ticks on both sides in {pool}"
            # the model's bitmap (rebuilt from the loaded ticks) is the pool's, word for word
            positions = range(min(pool.bitmap) - 2, max(pool.bitmap) + 3)
            calls = [eth_call(pool.address, calldata("tickBitmap(int16)", p)) for p in positions]
            chain = {p: int(r["result"], 16) for p, r in zip(positions, rpc.batch(calls), strict=True)}
            assert {p: w for p, w in chain.items() if w} == dict(pool.bitmap)
    finally:
        rpc.close()
    print("initialized ticks per pool:", [len(pool.ticks) for pool in v3_market.pools])
    assert sum(len(pool.ticks) for pool in v3_market.pools) >= 900
    around_zero, _, negative, *_ = v3_market.pools
    assert min(around_zero.ticks) < -256 and max(around_zero.ticks) > 256
    assert max(negative.ticks) < 0


def test_quotes_equal_quoter_v2_to_the_wei(v3_market: V3Market, devnet: Devnet) -> None:
    rng = seeded_rng("v3 quotes")
    rpc = RawRpc(devnet.http_url)
    mismatches: list[tuple[str, SwapCase, Any, Any]] = []
    kinds: Counter[str] = Counter()
    try:
        for pool in v3_market.pools:
            fills = full_fills(pool)
            cases = [random_case(rng, pool, fills) for _ in range(QUOTES_PER_POOL)]
            replies = rpc.batch([quote_call(pool, case) for case in cases], chunk=50)
            for case, reply in zip(cases, replies, strict=True):
                chain = call_outcome(reply, QUOTE_TYPES)
                if not isinstance(chain, Reverted):
                    chain = chain[:3]  # gasEstimate is the quoter's measurement, not a swap outcome
                want = expected_quote(pool, case)
                if chain != want:
                    mismatches.append((pool.address, case, chain, want))
                kinds[_kind(pool, case)] += 1
    finally:
        rpc.close()
    assert not mismatches, f"seed {parity_seed()}: {len(mismatches)} mismatches, first {mismatches[:3]}"
    print(f"v3 quotes compared: {sum(kinds.values())} {dict(kinds)}")
    assert sum(kinds.values()) >= 1_500
    for kind in ("filled", "drained", "stopped at the limit", "AS", "SPL", QUOTER_PARTIAL):
        assert kinds[kind] >= 10, (kind, kinds)


def _kind(pool: UniswapV3Pool, case: SwapCase) -> str:
    """What a case exercised: a revert reason, or how the swap ended."""
    result = model_swap(pool, case)
    if isinstance(result, Reverted):
        return result.reason or QUOTER_PARTIAL
    if result.sqrt_price_x96 in (MIN_SQRT_RATIO + 1, MAX_SQRT_RATIO - 1):
        return "drained"
    if case.limit and result.sqrt_price_x96 == case.limit:
        return "stopped at the limit"
    return "filled"


def test_router_swaps_move_balances_and_pool_as_modelled(v3_market: V3Market, devnet: Devnet) -> None:
    rng = seeded_rng("v3 swaps")
    trader = v3_market.trader
    factory = DevnetPoolFactory(JsonRpc(devnet.http_url), trader)
    rpc = RawRpc(devnet.http_url)
    executed = reverted = 0
    try:
        for start in v3_market.pools:
            pool, fills, done = start, full_fills(start), 0
            tokens = (pool.token0, pool.token1)
            balances = [int(r["result"], 16) for r in rpc.batch([balance_call(t, trader) for t in tokens])]
            while done < EXECUTED_PER_POOL:
                case, want = _executable_case(rng, pool, fills)
                label = f"seed {parity_seed()} pool {pool.address} swap {done + reverted} {case}"
                data = router_call(pool, case, trader)
                if isinstance(want, Reverted):
                    reply = rpc.batch([eth_call(A.UNISWAP_V3_SWAP_ROUTER, data, trader)])
                    assert call_outcome(reply[0], ["uint256"]) == want, label
                    reverted += 1
                    continue
                try:
                    factory.send(A.UNISWAP_V3_SWAP_ROUTER, data, TX_GAS)
                except DevnetTxFailed as failed:
                    raise AssertionError(
                        f"{label}: the model filled {want} but the router reverted"
                    ) from failed
                balances = [balances[0] - want.amount0, balances[1] - want.amount1]
                assert _balances_and_slot(rpc, pool, trader) == (balances, _slot(want.pool_after)), label
                pool = want.pool_after
                done += 1
            executed += done
            (fresh,) = load_v3_pools(JsonRpc(devnet.http_url), [pool.address], [pool.tick_spacing])
            assert _state(v3_from_snapshot(fresh)) == _state(pool), f"seed {parity_seed()}: {pool.address}"
            assert _state(pool) != _state(start)
    finally:
        rpc.close()
    print(f"v3 router swaps: {executed} executed, {reverted} reverts compared")
    assert executed >= 100 and reverted >= 1


def _balances_and_slot(
    rpc: RawRpc, pool: UniswapV3Pool, trader: str
) -> tuple[list[int], tuple[int, int, int]]:
    """The trader's token0/token1 balances and the pool's (sqrtPriceX96, tick, liquidity), in one batch."""
    slot0 = eth_call(pool.address, calldata("slot0()"))
    liquidity = eth_call(pool.address, calldata("liquidity()"))
    reads = rpc.batch(
        [balance_call(pool.token0, trader), balance_call(pool.token1, trader), slot0, liquidity]
    )
    sqrt_price, tick = decode(["uint160", "int24"], bytes.fromhex(reads[2]["result"][2:130]))
    balances = [int(r["result"], 16) for r in reads[:2]]
    return balances, (int(sqrt_price), int(tick), int(reads[3]["result"], 16))


def _slot(pool: UniswapV3Pool) -> tuple[int, int, int]:
    return pool.sqrt_price_x96, pool.tick, pool.liquidity


def _state(pool: UniswapV3Pool) -> tuple[int, int, int, dict[int, tuple[int, int]]]:
    return pool.sqrt_price_x96, pool.tick, pool.liquidity, dict(pool.ticks)


def _executable_case(
    rng: random.Random, pool: UniswapV3Pool, fills: dict[tuple[bool, bool], int]
) -> tuple[SwapCase, V3SwapResult | Reverted]:
    """A random case that fits one 30M-gas block: an unlimited swap that drains a spacing-1 pool walks
    ~3,500 bitmap words (more gas than a block has), so those get a reachable price limit instead."""
    while True:
        zero_for_one = rng.random() < 0.5
        exact_in = rng.random() < 0.5
        amount = random_amount(rng, fills[zero_for_one, exact_in])
        limit = random_limit(rng, pool, zero_for_one, 0.05)
        case = SwapCase(zero_for_one, exact_in, amount, limit)
        want = model_swap(pool, case)
        too_long = (
            isinstance(want, V3SwapResult)
            and pool.tick_spacing < 10
            and want.sqrt_price_x96 in (MIN_SQRT_RATIO + 1, MAX_SQRT_RATIO - 1)
        )
        if not too_long:
            return case, want
