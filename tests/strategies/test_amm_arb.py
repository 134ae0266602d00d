"""amm_arb on pure models: cycles, exact pricing, and sizes that are truly optimal."""

from __future__ import annotations

import random

import pytest

from defibots.actions import ExecutorTxAction
from defibots.chain.addresses import TOKENS
from defibots.chain.events import NewBlock
from defibots.errors import UserError
from defibots.protocols.eip1559 import next_base_fee
from defibots.protocols.uniswap_v2 import UniswapV2Pair
from defibots.state.uniswap import pool_market
from defibots.strategies.amm_arb import (
    AmmArbStrategy,
    ArbFinder,
    ArbParams,
    cycle_amounts,
    enumerate_cycles,
)

# WETH is the real address: gas is paid in ETH, so the finder knows WETH by its address
WETH, USDC, DAI = TOKENS["WETH"].address, "0x" + "a0" * 20, "0x" + "6b" * 20


def pair(address: str, t0: str, t1: str, r0: int, r1: int) -> UniswapV2Pair:
    return UniswapV2Pair(address, t0, t1, r0, r1)


def market(gap: float) -> dict[str, UniswapV2Pair]:
    """Two WETH/USDC pairs whose prices differ by `gap`, plus a triangle through DAI."""
    pools = [
        pair("0x01" + "0" * 38, USDC, WETH, 30_000_000 * 10**6, 10_000 * 10**18),
        pair("0x02" + "0" * 38, USDC, WETH, int(30_000_000 * (1 + gap)) * 10**6, 10_000 * 10**18),
        pair("0x03" + "0" * 38, DAI, WETH, 3_000_000 * 10**18, 1_000 * 10**18),
        pair("0x04" + "0" * 38, USDC, DAI, 5_000_000 * 10**6, 5_000_000 * 10**18),
    ]
    return {p.address: p for p in pools}


def test_cycles_are_closed_simple_and_complete() -> None:
    pools = market(0.0)
    cycles = enumerate_cycles(pools.values(), WETH, 3)
    # 2-hop: pairs 1<->2 both ways; 3-hop: WETH->USDC(1|2)->DAI->WETH and reverse = 4
    assert sorted(len(c.hops) for c in cycles) == [2, 2, 3, 3, 3, 3]
    for c in cycles:
        assert c.hops[0].token_in == c.hops[-1].token_out == WETH
        assert len(set(c.pools)) == len(c.pools)
        assert all(a.token_out == b.token_in for a, b in zip(c.hops, c.hops[1:], strict=False))


def test_no_opportunity_without_a_gap() -> None:
    finder = ArbFinder(market(0.0), ArbParams(base_token=WETH, priority_fee=0))
    assert finder.evaluate_all() == []


def test_v2_closed_form_is_the_exact_optimum() -> None:
    rng = random.Random(7)
    for _ in range(20):
        gap = rng.uniform(0.01, 0.2)
        finder = ArbFinder(market(gap), ArbParams(base_token=WETH, priority_fee=0))
        best = finder.evaluate_all()[0]
        cycle, x = best.cycle, best.amount_in
        assert best.amount_out == cycle_amounts(finder.pools, cycle, x)[-1]

        def profit(v: int, cycle=cycle, finder=finder) -> int:
            return cycle_amounts(finder.pools, cycle, v)[-1] - v

        # Nearby sizes do no better, beyond the sawtooth that flooring to whole USDC units (6 decimals,
        # ~3e8 wei of WETH each) puts on the exact profit curve.
        rounding = 10**9
        for delta in (x // 1_000, x // 10_000, x // 100_000, 1):
            assert profit(x) >= profit(x + delta) - rounding
            assert profit(x) >= profit(x - delta) - rounding
        assert profit(x) > profit(x + x // 100) + rounding and profit(x) > profit(x - x // 100) + rounding


def test_net_profit_subtracts_gas_and_builder_share() -> None:
    params = ArbParams(base_token=WETH, base_fee=10 * 10**9, priority_fee=2 * 10**9, builder_share_bps=2_500)
    finder = ArbFinder(market(0.05), params)
    opp = finder.evaluate_all()[0]
    assert opp.gas_cost == opp.gas * 12 * 10**9
    assert opp.builder_payment == opp.gross_profit * 2_500 // 10_000
    assert opp.net_profit == opp.amount_out - opp.amount_in - opp.gas_cost - opp.builder_payment


def test_update_reprices_only_touched_cycles() -> None:
    pools = market(0.0)
    finder = ArbFinder(pools, ArbParams(base_token=WETH, priority_fee=0))
    assert finder.evaluate_all() == []
    p2 = pools["0x02" + "0" * 38]
    moved = UniswapV2Pair(p2.address, USDC, WETH, p2.reserve0 * 11 // 10, p2.reserve1, block_number=5)
    ranked = finder.update({p2.address: moved}, 5)
    assert ranked and all(p2.address in o.cycle.pools for o in ranked)
    assert ranked[0].block_number == 5


def test_a_usdc_base_prices_gas_in_usdc_at_the_deepest_weth_pool() -> None:
    pools = market(0.05)  # pairs 1 and 2: 10,000 WETH each, at $3,000 and $3,150
    deep = pair("0x05" + "0" * 38, USDC, WETH, 60_000_000 * 10**6, 20_000 * 10**18)  # $3,000: the reference
    pools[deep.address] = deep
    params = ArbParams(base_token=USDC, base_fee=10 * 10**9, priority_fee=2 * 10**9, max_hops=2)
    finder = ArbFinder(pools, params)
    opp = finder.evaluate_all()[0]
    assert opp.cycle.base == USDC
    assert opp.eth_to_base == (60_000_000 * 10**6, 20_000 * 10**18)  # 3,000 USDC per ETH
    assert (opp.max_fee_per_gas, opp.priority_fee_per_gas) == (12 * 10**9, 2 * 10**9)
    wei = opp.gas * 12 * 10**9
    assert opp.gas_cost == -(-wei * 3_000 * 10**6 // 10**18)  # rounded up, in USDC units
    assert opp.gas_cost == opp.to_base(wei) < wei
    assert opp.net_profit == opp.gross_profit - opp.gas_cost


def test_a_base_token_without_a_weth_pool_is_a_user_error() -> None:
    pools = {p.address: p for p in market(0.05).values() if WETH not in (p.token0, p.token1)}
    with pytest.raises(UserError, match="no tracked WETH pool"):
        ArbFinder(pools, ArbParams(base_token=DAI))


async def test_an_opportunity_standing_at_start_is_acted_on_at_the_first_block() -> None:
    pools = market(0.05)
    stamped = {a: UniswapV2Pair(p.address, p.token0, p.token1, p.reserve0, p.reserve1, block_number=41)
               for a, p in pools.items()}  # fmt: skip
    strategy = AmmArbStrategy(pool_market(stamped.values()), ArbParams(base_token=WETH, priority_fee=10**9))
    await strategy.sync_state()
    assert strategy.ranked and strategy.ranked[0].block_number == 41
    block = NewBlock(chain_id=31337, number=41, hash="0x" + "41" * 32, parent_hash="0x" + "40" * 32,
                     timestamp=1_700_000_000, base_fee_per_gas=8 * 10**9,
                     gas_used=20_000_000, gas_limit=30_000_000)  # fmt: skip
    actions = await strategy.process_event(block)
    assert len(actions) == 1 and isinstance(actions[0], ExecutorTxAction)
    opp = actions[0].opportunity
    assert opp == strategy.ranked[0] and opp.block_number == 41
    base_fee = next_base_fee(8 * 10**9, 20_000_000, 30_000_000)
    assert base_fee == 8 * 10**9 + 8 * 10**9 * 5_000_000 // 15_000_000 // 8  # above target: it rises
    assert (opp.max_fee_per_gas, opp.priority_fee_per_gas) == (base_fee + 10**9, 10**9)
    assert opp.gas_cost == opp.gas * (base_fee + 10**9)
    assert await strategy.process_event(block) == ()  # once: later actions come from pool changes
