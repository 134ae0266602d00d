"""The pure pool models predict what the Executor makes, to the wei, on the replica's real pools."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from defibots.chain.pool_loader import load_v2_pairs, load_v3_pools
from defibots.chain.rpc import JsonRpc
from defibots.devnet.node import Devnet
from defibots.execution.executor_client import ExecutorClient
from defibots.execution.route import Funding, Route, RouteHop
from defibots.protocols.uniswap_v2 import UniswapV2Pair
from defibots.protocols.uniswap_v3.pool import UniswapV3Pool

from .executor_market import USDC, V2_WETH_USDC, V3_WETH_USDC_500, WETH, balance_of, dump_on_v2, v2_reserve_of

pytestmark = pytest.mark.devnet


def load_models(devnet: Devnet) -> tuple[UniswapV2Pair, UniswapV3Pool]:
    rpc = JsonRpc(devnet.http_url)
    (v2,) = load_v2_pairs(rpc, [V2_WETH_USDC])
    (v3,) = load_v3_pools(rpc, [V3_WETH_USDC_500], [10])
    pair = UniswapV2Pair(v2.address, v2.token0, v2.token1, v2.reserve0, v2.reserve1)
    pool = UniswapV3Pool.from_chain_state(
        address=v3.address,
        token0=v3.token0,
        token1=v3.token1,
        fee=v3.fee,
        tick_spacing=v3.tick_spacing,
        sqrt_price_x96=v3.sqrt_price_x96,
        tick=v3.tick,
        liquidity=v3.liquidity,
        ticks=v3.ticks,
    )
    return pair, pool


def v3_then_v2(pair: UniswapV2Pair, pool: UniswapV3Pool, weth_in: int) -> int:
    usdc = pool.swap_exact_in(WETH, weth_in).amount_out
    return pair.get_amount_out(USDC, usdc) - weth_in


def v2_then_v3(pair: UniswapV2Pair, pool: UniswapV3Pool, weth_in: int) -> int:
    usdc = pair.get_amount_out(WETH, weth_in)
    return pool.swap_exact_in(USDC, usdc).amount_out - weth_in


def best_amount(profit: Callable[[int], int], lo: int, hi: int) -> int:
    """Ternary search on the (concave) profit curve, as a strategy would size the trade."""
    while hi - lo > 10**12:
        a, b = lo + (hi - lo) // 3, hi - (hi - lo) // 3
        if profit(a) < profit(b):
            lo = a
        else:
            hi = b
    return lo


@pytest.mark.parametrize("direction", ["v3_then_v2", "v2_then_v3"])
def test_model_predicts_executed_profit_to_the_wei(devnet: Devnet, direction: str) -> None:
    w3 = devnet.w3
    owner, bot, trader = devnet.accounts[0], devnet.accounts[1], devnet.accounts[2]
    deployed, _ = ExecutorClient.deploy(w3, owner, owner.address, [bot.address])
    executor = ExecutorClient(w3, deployed.address, bot)
    depth = v2_reserve_of(w3, V2_WETH_USDC, WETH, USDC)
    if direction == "v3_then_v2":  # WETH cheap on V2: sell on V3, buy back on V2
        dump_on_v2(w3, trader.address, V2_WETH_USDC, WETH, USDC, depth // 20)
        hops = (RouteHop.v3(V3_WETH_USDC_500, USDC, 500), RouteHop.v2(V2_WETH_USDC, WETH))
        model, funding = v3_then_v2, Funding.V3_FLASH_SWAP
    else:  # WETH dear on V2: sell it there, buy back on V3
        dump_on_v2(w3, trader.address, V2_WETH_USDC, USDC, WETH, 3_000_000 * 10**6)
        hops = (RouteHop.v2(V2_WETH_USDC, USDC), RouteHop.v3(V3_WETH_USDC_500, WETH, 500))
        model, funding = v2_then_v3, Funding.V2_FLASH_SWAP

    pair, pool = load_models(devnet)
    amount_in = best_amount(lambda x: model(pair, pool, x), 10**15, depth // 10)
    predicted = model(pair, pool, amount_in)
    assert predicted > 0

    route = Route(WETH, amount_in, hops, funding=funding, min_profit=predicted)
    assert executor.simulate(route).profit == predicted
    before = balance_of(w3, WETH, executor.address)
    executor.execute(route)
    assert balance_of(w3, WETH, executor.address) - before == predicted
