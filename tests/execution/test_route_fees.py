"""route_for takes each V2 hop's fee from the pair model (carried by the cycle), not Uniswap's constant."""

from __future__ import annotations

import pytest

from defibots.actions import Opportunity
from defibots.execution.public_tx import route_for
from defibots.execution.route import RouteError
from defibots.protocols.uniswap_v2 import UniswapV2Pair
from defibots.strategies.amm_arb import enumerate_cycles

from .executor_market import USDC, V2_WETH_USDC, WETH

V2_OTHER = "0x397FF1542f962076d0BFE58eA045FfA2d347ACa0"


def pair(address: str, fee_numerator: int, fee_denominator: int) -> UniswapV2Pair:
    token0, token1 = sorted((WETH, USDC), key=lambda a: int(a, 16))
    return UniswapV2Pair(
        address, token0, token1, 10**12, 10**21, fee_numerator=fee_numerator, fee_denominator=fee_denominator
    )


def opportunity(first: UniswapV2Pair, second: UniswapV2Pair) -> Opportunity:
    """The cycle the strategy itself enumerates over these two pairs, starting at `first`."""
    (cycle,) = (c for c in enumerate_cycles([first, second], WETH, max_hops=2) if c.pools[0] == first.address)
    return Opportunity(cycle, 10**18, 10**18 + 10**15, (3000 * 10**6, 10**18 + 10**15), 150_000, 0, 0, 1)


def test_v2_hop_fee_comes_from_the_pair_model() -> None:
    route = route_for(opportunity(pair(V2_WETH_USDC, 9975, 10_000), pair(V2_OTHER, 997, 1000)), 1)
    assert [h.fee for h in route.hops] == [9975, 9970]  # a 0.25% fork, then Uniswap's 0.3%


def test_a_v2_fee_the_executor_cannot_charge_is_refused() -> None:
    with pytest.raises(RouteError, match="per 10_000"):
        route_for(opportunity(pair(V2_WETH_USDC, 99_999, 100_000), pair(V2_OTHER, 997, 1000)), 1)
