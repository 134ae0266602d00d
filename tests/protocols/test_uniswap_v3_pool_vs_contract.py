"""UniswapV3Pool model against the real UniswapV3Pool bytecode (npm v3-core 1.0.1) on a plain anvil.

Every mint/burn is sent to the chain and applied to the model (amounts must agree to the wei); swaps
are eth_calls through harness/V3PoolDriver.sol, compared field by field (amounts, price, tick,
liquidity) or by revert reason. The chain replica's QuoterV2 parity suite complements this.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import pytest
from eth_abi import decode

from defibots.protocols.uniswap_v3 import (
    MAX_SQRT_RATIO,
    MIN_SQRT_RATIO,
    UniswapV3Pool,
    UniswapV3Revert,
    get_sqrt_ratio_at_tick,
    get_tick_at_sqrt_ratio,
)

from .conftest import ChainV3, Reverted, _revert_of, calldata
from .test_uniswap_v3_pool import FEE_SPACINGS, random_amount, random_limit

SWAP_SIGNATURE = "swap(address,bool,int256,uint160)"
SWAP_TYPES = ["address", "bool", "int256", "uint160"]
SWAP_OUTCOME = ["(int256,int256,uint160,int24,uint128)"]


@dataclass
class PoolPair:
    """One pool on chain and its model, kept in step by `modify`."""

    chain: ChainV3
    driver: str
    address: str
    model: UniswapV3Pool

    def modify(self, lower: int, upper: int, delta: int) -> tuple[int, int]:
        """Mint (delta > 0) or burn on chain and in the model; the amounts must agree to the wei."""
        name = "mint" if delta > 0 else "burn"
        data = calldata(f"{name}(address,int24,int24,uint128)", ["address", "int24", "int24", "uint128"],
                        [self.address, lower, upper, abs(delta)])  # fmt: skip
        amounts = decode(["uint256", "uint256"], self.chain.eth_call(self.driver, data))
        self.chain.send(self.driver, data)
        result = self.model.modify_liquidity(lower, upper, delta)
        sign = 1 if delta > 0 else -1
        assert (sign * amounts[0], sign * amounts[1]) == (result.amount0, result.amount1)
        self.model = result.pool_after
        return amounts[0], amounts[1]

    def chain_swaps(self, swaps: list[tuple[bool, int, int]]) -> list[Any]:
        requests = [
            (
                "eth_call",
                [{"to": self.driver, "data": self._swap_data(swap), "gas": hex(900_000_000)}, "latest"],
            )
            for swap in swaps
        ]
        outcomes: list[Any] = []
        for reply in self.chain.rpc.batch(requests):
            if "error" in reply:
                outcomes.append(_revert_of(reply["error"]))
            else:
                (outcome,) = decode(SWAP_OUTCOME, bytes.fromhex(reply["result"][2:]))
                outcomes.append(tuple(outcome))
        return outcomes

    def _swap_data(self, swap: tuple[bool, int, int]) -> str:
        return calldata(SWAP_SIGNATURE, SWAP_TYPES, [self.address, *swap])

    def chain_tick(self, tick: int) -> tuple[int, int]:
        data = calldata("ticks(int24)", ["int24"], [tick])
        types = ["uint128", "int128", "uint256", "uint256", "int56", "uint160", "uint32", "bool"]
        gross, net, *_ = decode(types, self.chain.eth_call(self.address, data))
        return gross, net

    def chain_word(self, position: int) -> int:
        (word,) = decode(
            ["uint256"],
            self.chain.eth_call(self.address, calldata("tickBitmap(int16)", ["int16"], [position])),
        )
        return int(word)


def new_pair(chain: ChainV3, fee: int, spacing: int, sqrt_price: int) -> PoolPair:
    driver, address, token0, token1 = chain.new_pool(fee, sqrt_price)
    model = UniswapV3Pool(
        address=address,
        token0=token0,
        token1=token1,
        fee=fee,
        tick_spacing=spacing,
        sqrt_price_x96=sqrt_price,
        tick=get_tick_at_sqrt_ratio(sqrt_price),
        liquidity=0,
    )
    return PoolPair(chain, driver, address, model)


def model_swap(pool: UniswapV3Pool, zero_for_one: bool, amount: int, limit: int) -> Any:
    try:
        r = pool.swap(zero_for_one, amount, limit)
    except UniswapV3Revert as revert:
        return Reverted(revert.reason)
    return (r.amount0, r.amount1, r.sqrt_price_x96, r.tick, r.liquidity)


def no_limit(zero_for_one: bool) -> int:
    return MIN_SQRT_RATIO + 1 if zero_for_one else MAX_SQRT_RATIO - 1


def test_known_pool_in_wei(chain_v3: ChainV3) -> None:
    """The literals asserted by the model-only unit test, confirmed on the real pool."""
    pair = new_pair(chain_v3, 3000, 60, get_sqrt_ratio_at_tick(0))
    assert pair.modify(-120, 120, 10**18) == (5981737760509663, 5981737760509663)
    swaps = [
        (True, 10**15, no_limit(True)),
        (True, 10**18, no_limit(True)),
        (False, -(10**15), no_limit(False)),
    ]
    chain = pair.chain_swaps(swaps)
    assert chain == [model_swap(pair.model, *swap) for swap in swaps]
    assert chain[0][:2] == (10**15, -996006981039903)
    assert chain[1][:2] == (6035841794200769, -5981737760509662)
    assert chain[1][2:] == (MIN_SQRT_RATIO + 1, -887272, 0)
    assert chain[2][:2] == (-(10**15), 1004013040121367)


@pytest.mark.parametrize("seed", range(4))
def test_random_pools_match_the_contract(chain_v3: ChainV3, seed: int) -> None:
    rng = random.Random(seed)
    fee, spacing = FEE_SPACINGS[seed % len(FEE_SPACINGS)]
    center = rng.choice([0, rng.randint(-200_000, 200_000)])
    pair = new_pair(chain_v3, fee, spacing, get_sqrt_ratio_at_tick(center) + rng.randint(0, 1 << 70))
    usable = 887272 // spacing * spacing
    width = spacing * 256 * 3
    positions: list[tuple[int, int, int]] = []
    for _ in range(40):
        lower = (center + rng.randint(-width, width)) // spacing * spacing
        upper = min(lower + spacing * rng.choice([1, 3, rng.randint(1, 900)]), usable)
        if rng.random() < 0.1:
            lower, upper = -usable, usable
        if rng.random() < 0.1:
            lower = (center + rng.choice([-1, 1]) * rng.randint(width, 20 * width)) // spacing * spacing
            upper = lower + spacing * rng.randint(1, 30)
        lower, upper = max(lower, -usable), min(upper, usable)
        if lower >= upper:
            continue
        liquidity = rng.choice([rng.randint(1, 10**9), rng.randint(1, 10**24), rng.randint(1, 1 << 90)])
        pair.modify(lower, upper, liquidity)
        positions.append((lower, upper, liquidity))
    for lower, upper, liquidity in rng.sample(positions, len(positions) // 4):  # partial and full burns
        pair.modify(lower, upper, -rng.choice([liquidity, liquidity // 2 or 1]))
    model = pair.model
    for tick, (gross, net) in model.ticks.items():
        assert pair.chain_tick(tick) == (gross, net)
    for position, word in model.bitmap.items():
        assert pair.chain_word(position) == word

    swaps: list[tuple[bool, int, int]] = []
    for _ in range(150):
        zero_for_one = rng.random() < 0.5
        limit = random_limit(rng, model, zero_for_one)
        amount = random_amount(rng) if rng.random() < 0.95 else 0
        swaps.append((zero_for_one, amount, no_limit(zero_for_one) if limit is None else limit))
    chain = pair.chain_swaps(swaps)
    mismatches = [
        (swap, got, want)
        for swap, got, want in zip(swaps, [model_swap(model, *swap) for swap in swaps], chain, strict=True)
        if got != want
    ]
    assert not mismatches, mismatches[:3]
    assert any(isinstance(outcome, Reverted) for outcome in chain)
    assert sum(not isinstance(outcome, Reverted) for outcome in chain) > 100
