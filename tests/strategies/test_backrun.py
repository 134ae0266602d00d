"""backrun on pure models: a pending swap's predicted post-state, the arbitrage it opens, and the action
that puts the victim first — exact to the wei, without touching the live models."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from defibots.actions import BackrunBundleAction, BundlePrepare
from defibots.chain.addresses import TOKENS, UNISWAP_V2_ROUTER02, UNISWAP_V3_SWAP_ROUTER02
from defibots.chain.calldata import calldata
from defibots.chain.events import MempoolSwap, NewBlock
from defibots.chain.mempool import bus_event
from defibots.chain.pool_address import v2_pair_address, v3_pool_address
from defibots.chain.router_calls import RouterCallDecoder
from defibots.execution.bundles import SignedTx
from defibots.protocols.eip1559 import next_base_fee
from defibots.protocols.uniswap_v2 import UniswapV2Pair, get_amount_out
from defibots.protocols.uniswap_v3 import UniswapV3Pool
from defibots.protocols.uniswap_v3.tick_math import get_tick_at_sqrt_ratio
from defibots.state.store import MarketState
from defibots.state.uniswap import pool_market, uniswap
from defibots.strategies.amm_arb import ArbFinder, ArbParams, cycle_amounts
from defibots.strategies.backrun import BackrunStrategy, Head

WETH, USDC = TOKENS["WETH"].address, TOKENS["USDC"].address  # USDC < WETH: USDC is token0
V2 = v2_pair_address(USDC, WETH)
V3 = v3_pool_address(USDC, WETH, 500)
CHAIN_ID = 31337
USER: LocalAccount = Account.from_key("0x" + "11" * 32)
US: LocalAccount = Account.from_key("0x" + "22" * 32)
V2_IN = "swapExactTokensForTokens(uint256,uint256,address[],address,uint256)"
HEAD = Head(number=100, hash="0x" + "ab" * 32, timestamp=1_700_000_000, base_fee=10**9,
            gas_used=15_000_000, gas_limit=30_000_000)  # fmt: skip
SHARE = 3_000


def market() -> MarketState:
    """A V2 pair and a full-range V3 pool at the same price: no arbitrage until someone trades."""
    usdc, weth = 30_000_000 * 10**6, 10_000 * 10**18
    pair = UniswapV2Pair(V2, USDC, WETH, usdc, weth, block_number=100)
    sqrt_price = math.isqrt(weth * 2**192 // usdc)
    liquidity = math.isqrt(usdc * weth)
    top = 887_270
    pool = UniswapV3Pool(
        address=V3, token0=USDC, token1=WETH, fee=500, tick_spacing=10, sqrt_price_x96=sqrt_price,
        tick=get_tick_at_sqrt_ratio(sqrt_price), liquidity=liquidity,
        ticks={-top: (liquidity, liquidity), top: (liquidity, -liquidity)}, block_number=100,
    )  # fmt: skip
    return pool_market([pair, pool])


def params(**overrides: int) -> ArbParams:
    return replace(
        ArbParams(base_token=WETH, max_hops=2, priority_fee=0, builder_share_bps=SHARE), **overrides
    )


def victim(
    data: str, sender: LocalAccount = USER, to: str = UNISWAP_V2_ROUTER02, raw: bool = True, nonce: int = 7
) -> MempoolSwap:
    """A signed router call as the mempool watcher delivers it: decoded once, the whole call in one event."""
    tx = {"type": 2, "chainId": CHAIN_ID, "nonce": nonce, "to": to, "value": 0, "gas": 300_000,
          "maxFeePerGas": 3 * 10**9, "maxPriorityFeePerGas": 10**9, "data": data}  # fmt: skip
    signed = SignedTx.decode(bytes(sender.sign_transaction(tx).raw_transaction))
    rpc_object = {"hash": signed.hash_hex, "from": sender.address, "to": to, "nonce": hex(nonce),
                  "value": "0x0", "gas": hex(300_000), "type": "0x2", "maxFeePerGas": hex(3 * 10**9),
                  "maxPriorityFeePerGas": hex(10**9), "input": "0x" + signed.data.hex()}  # fmt: skip
    call = RouterCallDecoder().decode_transaction(rpc_object, signed.raw if raw else None)
    assert call is not None
    return bus_event(call, CHAIN_ID)


def sell_weth(amount: int, min_out: int = 0, deadline: int = 2**40) -> str:
    return calldata(V2_IN, amount, min_out, [WETH, USDC], USER.address, deadline)


async def test_a_big_swap_is_backrun_with_exact_amounts() -> None:
    states = market()
    before = dict(uniswap(states).pools)
    strategy = BackrunStrategy(states, params(), HEAD, own_senders=[US.address])
    event = victim(sell_weth(300 * 10**18))
    (action,) = await strategy.process_event(event)
    assert isinstance(action, BackrunBundleAction)

    # the victim, byte for byte, goes first; the bundle targets the block after the head
    assert action.victim is event.tx and action.victim_raw == event.tx.raw
    assert (action.state_block, action.target_block) == (100, 101)
    assert action.base_fee == HEAD.next_base_fee == 10**9 and action.priority_fee == 0

    # predicted post-state of the V2 pair: the router's exact amounts
    pair = before[V2]
    assert isinstance(pair, UniswapV2Pair)
    out = get_amount_out(300 * 10**18, pair.reserve1, pair.reserve0)
    after = {**before, V2: replace(pair, reserve0=pair.reserve0 - out, reserve1=pair.reserve1 + 300 * 10**18)}
    assert action.moved_pools == (V2,)

    # the opportunity is the best one on the predicted pools, priced exactly there
    opp = action.opportunity
    fresh = ArbFinder(after, params(base_fee=10**9))
    fresh.block_number = 101
    assert fresh.evaluate_all()[0] == opp
    assert opp.cycle.pools == (V3, V2)  # WETH is cheap on V2 now: buy it there with V3's USDC
    assert cycle_amounts(after, opp.cycle, opp.amount_in)[-1] == opp.amount_out
    assert opp.builder_payment == action.builder_payment == opp.gross_profit * SHARE // 10_000 > 0
    assert action.executor_profit == opp.gross_profit - opp.builder_payment
    assert opp.net_profit == opp.gross_profit - opp.gas * 10**9 - opp.builder_payment > 0

    # the live models and the template finder are untouched
    assert uniswap(states).pools == before
    assert strategy.finder.pools == before and strategy.finder.best == {}


async def test_our_own_and_unsigned_transactions_are_not_backrun() -> None:
    strategy = BackrunStrategy(market(), params(), HEAD, own_senders=[US.address])
    event = victim(sell_weth(300 * 10**18))
    assert len(await strategy.process_event(event)) == 1
    assert await strategy.process_event(victim(sell_weth(300 * 10**18), sender=US)) == ()
    assert await strategy.process_event(victim(sell_weth(300 * 10**18), raw=False, nonce=8)) == ()
    stats = strategy.stats
    assert (stats.pending_swaps, stats.actions, stats.own, stats.no_raw) == (3, 1, 1, 1)


async def test_nothing_to_do_for_small_reverting_late_or_untracked_swaps() -> None:
    strategy = BackrunStrategy(market(), params(), HEAD)
    small = victim(sell_weth(10**18), nonce=1)  # moves the price less than the two pools' fees
    too_greedy = victim(sell_weth(300 * 10**18, min_out=10**15), nonce=2)  # reverts: output below min
    late = victim(sell_weth(300 * 10**18, deadline=HEAD.timestamp), nonce=3)  # expired by the next block
    dai = TOKENS["DAI"].address
    untracked = victim(calldata(V2_IN, 10**18, 0, [WETH, dai], USER.address, 2**40), nonce=4)
    for event in (small, too_greedy, late, untracked):
        assert await strategy.process_event(event) == ()
    stats = strategy.stats
    assert (stats.no_opportunity, stats.victim_reverts, stats.unpredictable, stats.actions) == (1, 2, 1, 0)


async def test_a_multicall_is_predicted_whole() -> None:
    """SwapRouter02 multicall of two V2 swaps: both legs land on the pair before we trade."""
    states = market()
    leg = "swapExactTokensForTokens(uint256,uint256,address[],address)"
    inner = [bytes.fromhex(calldata(leg, 150 * 10**18, 0, [WETH, USDC], USER.address)[2:])] * 2
    data = calldata("multicall(uint256,bytes[])", 2**40, inner)
    event = victim(data, to=UNISWAP_V3_SWAP_ROUTER02)
    assert len(event.call.legs) == 2  # one event carries the whole call
    (action,) = await BackrunStrategy(states, params(), HEAD).process_event(event)
    assert isinstance(action, BackrunBundleAction)
    pair = uniswap(states).pools[V2]
    assert isinstance(pair, UniswapV2Pair)
    for _ in range(2):  # SwapRouter02 prices V2 exact-in swaps like Router02
        out = get_amount_out(150 * 10**18, pair.reserve1, pair.reserve0)
        pair = replace(pair, reserve0=pair.reserve0 - out, reserve1=pair.reserve1 + 150 * 10**18)
    fresh = ArbFinder({**uniswap(states).pools, V2: pair}, params(base_fee=10**9))
    fresh.block_number = 101
    assert fresh.evaluate_all()[0] == action.opportunity


async def test_new_blocks_move_the_target_and_ask_the_executor_to_get_ready() -> None:
    strategy = BackrunStrategy(market(), params(), None)
    assert await strategy.process_event(victim(sell_weth(300 * 10**18), nonce=1)) == ()  # no head yet
    block = NewBlock(chain_id=CHAIN_ID, number=205, hash="0x" + "cd" * 32, parent_hash="0x" + "00" * 32,
                     timestamp=1_700_000_100, base_fee_per_gas=2 * 10**9, gas_used=20_000_000,
                     gas_limit=30_000_000)  # fmt: skip
    (prepare,) = await strategy.process_event(block)
    assert isinstance(prepare, BundlePrepare) and prepare.state_block == 205
    assert {p.address for p in prepare.pools} == {V2, V3}
    (action,) = await strategy.process_event(victim(sell_weth(300 * 10**18), nonce=2))
    assert isinstance(action, BackrunBundleAction)
    assert (action.state_block, action.target_block) == (205, 206)
    assert action.base_fee == 2 * 10**9 + 2 * 10**9 * 5_000_000 // 15_000_000 // 8
    older = replace(block, number=204)
    assert await strategy.process_event(older) == () and strategy.head is not None
    assert strategy.head.number == 205


@pytest.mark.parametrize(
    ("base", "used", "limit", "expected"),
    [
        (10**9, 15_000_000, 30_000_000, 10**9),  # at target: unchanged
        (10**9, 30_000_000, 30_000_000, 1_125_000_000),  # full: +12.5%
        (10**9, 0, 30_000_000, 875_000_000),  # empty: -12.5%
        (7, 15_000_001, 30_000_000, 8),  # above target moves by at least 1 wei
    ],
)
def test_next_base_fee_is_eip_1559(base: int, used: int, limit: int, expected: int) -> None:
    assert next_base_fee(base, used, limit) == expected
