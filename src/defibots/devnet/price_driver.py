"""The devnet's price driver: the CEX leads price discovery, as on real markets.

One random walk is the market's price (USD per ETH); each venue quotes it with a small mean-reverting
basis of its own, the Aave replica's WETH feed is set to it at a configurable cadence (as Chainlink
follows the exchanges), and on-chain prices follow through noise-trader arbitrage: each step, with
probability `arb_probability`, an arbitrageur swaps each WETH/stable pool of the replica a share
`arb_share` of the way to the walk's price. The swap is sized with the exact pool models (V3: a swap up
to the target sqrt price; V2: bisection on the exact output math) and sent through the real routers with
the target as the V3 price limit, so the pool lands where the model says.

Before this module the direction was the reverse (`noise.ExchangeNoise`: the venue's mid follows the
pool); that class stays for tests that need an exact pool-anchored venue price.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext

from defibots.chain import addresses as A
from defibots.chain.calldata import calldata
from defibots.chain.pool_loader import load_v2_pairs, load_v3_pools, v2_from_snapshot, v3_from_snapshot
from defibots.chain.rpc import JsonRpc
from defibots.devnet.aave_replica import set_aave_price
from defibots.devnet.noise import DEADLINE, MarketNoise
from defibots.devnet.replica import SeededPool, seeded_pools
from defibots.protocols.uniswap_v2 import UniswapV2Pair
from defibots.protocols.uniswap_v3.pool import UniswapV3Pool
from defibots.protocols.uniswap_v3.price import v3_price

STABLES = ("USDT", "USDC", "DAI")
FEED_DECIMALS = 8
SetMid = Callable[[str, Decimal], object]


@dataclass(frozen=True)
class PriceDriverParams:
    sigma_bps: float = 6.0  # shock to the shared walk per step
    basis_sigma_bps: float = 1.0  # shock to each venue's basis per step
    basis_reversion: float = 0.2  # share of a venue's basis taken back per step
    basis_max_bps: float = 5.0
    feed_every: int = 1  # publish the Aave WETH feed every this many steps (0: never)
    arb_probability: float = 0.5  # chance an arbitrageur shows up at a pool in a step
    arb_share: float = 1.0  # share of the pool-CEX gap the arbitrageur closes
    arb_min_gap_bps: float = 1.0  # below this the gap is not worth a swap


@dataclass(frozen=True)
class DriverStep:
    step: int
    mid: Decimal  # the walk's price, USD per ETH
    venue_mids: Mapping[str, Decimal]
    feed_price: int | None  # 8-decimal answer published on the WETH feed this step
    arb_swaps: tuple[str, ...]  # tx hashes


@dataclass
class _Basis:
    bps: float = 0.0


@dataclass
class DriverStats:
    steps: int = 0
    feed_updates: int = 0
    arb_swaps: int = 0
    venue_moves: int = 0


class PriceDriver:
    """Walks the CEX mid and drags the replica after it. `venues` maps a venue name to its `set_mid`
    (LocalExchange.set_mid in its own loop, or `admin_set_mid` bound to its URL); `noise` signs the
    arbitrage swaps (its traders must have approved the routers, `MarketNoise.approve_routers`)."""

    def __init__(
        self,
        venues: Mapping[str, SetMid],
        *,
        rpc_url: str | None = None,
        noise: MarketNoise | None = None,
        symbol: str = "ETH/USDT",
        start_mid: Decimal = Decimal(3000),
        seed: int | None = None,
        params: PriceDriverParams | None = None,
        pools: Sequence[SeededPool] | None = None,
        tick: Decimal = Decimal("0.01"),
    ) -> None:
        if noise is not None and rpc_url is None:
            raise ValueError("arbitrage needs the replica's rpc_url")
        self.venues = dict(venues)
        self.rpc_url = rpc_url
        self.noise = noise
        self.symbol = symbol
        self.mid = start_mid
        self.rng = random.Random(seed)
        self.params = params or PriceDriverParams()
        self.tick = tick
        self.pools = list(pools) if pools is not None else weth_stable_pools()
        self._basis = {name: _Basis() for name in self.venues}
        self.stats = DriverStats()

    # ---------------------------------------------------------------- one step

    def step(self) -> DriverStep:
        """Move the walk, the venues, (at its cadence) the Aave feed, and let arbitrageurs at the pools."""
        p = self.params
        shock = math.exp(self.rng.gauss(0.0, p.sigma_bps / 10_000))
        self.mid = (self.mid * Decimal(repr(shock))).quantize(self.tick)
        venue_mids = {name: self._move_venue(name) for name in self.venues}
        self.stats.steps += 1
        feed = None
        if self.rpc_url is not None and p.feed_every and self.stats.steps % p.feed_every == 0:
            feed = self.publish_feed()
        swaps: list[str] = []
        if self.noise is not None:
            for pool in self.pools:
                if self.rng.random() < p.arb_probability:
                    tx = self.arbitrage(pool, self.mid)
                    if tx is not None:
                        swaps.append(tx)
            self.noise.wait_mined(swaps)
        return DriverStep(self.stats.steps, self.mid, venue_mids, feed, tuple(swaps))

    def run(self, steps: int, on_step: Callable[[DriverStep], None] | None = None) -> list[DriverStep]:
        out = []
        for _ in range(steps):
            result = self.step()
            if on_step is not None:
                on_step(result)
            out.append(result)
        return out

    def _move_venue(self, name: str) -> Decimal:
        p, basis = self.params, self._basis[name]
        drift = -p.basis_reversion * basis.bps + self.rng.gauss(0.0, p.basis_sigma_bps)
        basis.bps = max(-p.basis_max_bps, min(p.basis_max_bps, basis.bps + drift))
        mid = (self.mid * (1 + Decimal(repr(round(basis.bps, 4))) / 10_000)).quantize(self.tick)
        self.venues[name](self.symbol, mid)
        self.stats.venue_moves += 1
        return mid

    def feed_answer(self) -> int:
        """The walk's price as an 8-decimal feed answer."""
        return int((self.mid * 10**FEED_DECIMALS).to_integral_value())

    def publish_feed(self) -> int:
        """Set the Aave replica's WETH/USD feed to the walk's price; returns the answer."""
        assert self.rpc_url is not None  # checked by step()
        answer = self.feed_answer()
        set_aave_price(self.rpc_url, "WETH", answer)
        self.stats.feed_updates += 1
        return answer

    # ---------------------------------------------------------------- arbitrage

    def arbitrage(self, pool: SeededPool, target: Decimal) -> str | None:
        """Swap `pool` part of the way to `target` (USD per ETH); the tx hash, or None if the gap is small."""
        assert self.noise is not None and self.rpc_url is not None
        current = pool_price(self.noise, pool)
        gap_bps = float((target - current) / current * 10_000)
        if abs(gap_bps) < self.params.arb_min_gap_bps:
            return None
        goal = current + (target - current) * Decimal(repr(self.params.arb_share))
        trader = self.rng.choice(self.noise.traders)
        if pool.protocol == "v3":
            router, data = self._v3_swap(pool, goal, trader.address)
        else:
            router, data = self._v2_swap(pool, goal, trader.address)
        if not data:
            return None
        tx_hash = self.noise.send(trader, router, data, gas=1_500_000)
        self.stats.arb_swaps += 1
        return tx_hash

    def _v3_swap(self, pool: SeededPool, goal: Decimal, recipient: str) -> tuple[str, str]:
        model = v3_from_snapshot(load_v3_pools(self.noise_rpc, [pool.address])[0])
        limit = target_sqrt_price_x96(pool, goal)
        zero_for_one = limit < model.sqrt_price_x96
        if limit == model.sqrt_price_x96:
            return "", ""
        amount_in = _v3_amount_to(model, zero_for_one, limit)
        if amount_in <= 0:
            return "", ""
        tokens = (pool.token0, pool.token1) if zero_for_one else (pool.token1, pool.token0)
        tin, tout = (A.TOKENS[t].address for t in tokens)
        sig = "exactInputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160))"
        params = (tin, tout, pool.fee, recipient, DEADLINE, amount_in, 0, limit)
        return A.UNISWAP_V3_SWAP_ROUTER, calldata(sig, params)

    def _v2_swap(self, pool: SeededPool, goal: Decimal, recipient: str) -> tuple[str, str]:
        pair = v2_from_snapshot(load_v2_pairs(self.noise_rpc, [pool.address])[0])
        base_is_0 = pool.token0 == "WETH"
        stable = pool.token1 if base_is_0 else pool.token0
        rising = goal > v2_price(pair.reserve0, pair.reserve1, pool)
        token_in_symbol = stable if rising else "WETH"  # buying WETH raises its price
        token_in = A.TOKENS[token_in_symbol].address
        amount_in = _v2_amount_to(pair, pool, token_in, goal)
        if amount_in <= 0:
            return "", ""
        token_out = A.TOKENS[pool.token1 if token_in_symbol == pool.token0 else pool.token0].address
        sig = "swapExactTokensForTokens(uint256,uint256,address[],address,uint256)"
        return A.UNISWAP_V2_ROUTER02, calldata(sig, amount_in, 0, [token_in, token_out], recipient, DEADLINE)

    @property
    def noise_rpc(self) -> JsonRpc:
        assert self.noise is not None
        return self.noise.rpc


def weth_stable_pools() -> list[SeededPool]:
    """The replica's pools that trade WETH against a USD stablecoin: the ones priced by the ETH walk."""
    return [
        p for p in seeded_pools() if "WETH" in (p.token0, p.token1) and {p.token0, p.token1} & set(STABLES)
    ]


def _decimals(symbol: str) -> int:
    return A.TOKENS[symbol].decimals


def pool_price(noise: MarketNoise, pool: SeededPool) -> Decimal:
    """A WETH/stable pool's price on chain now, in whole stable per whole WETH."""
    stable = pool.token1 if pool.token0 == "WETH" else pool.token0
    if pool.protocol == "v3":
        snap = load_v3_pools(noise.rpc, [pool.address])[0]
        return v3_price(snap.sqrt_price_x96, pool.token0 == "WETH", _decimals("WETH"), _decimals(stable))
    pair = load_v2_pairs(noise.rpc, [pool.address])[0]
    return v2_price(pair.reserve0, pair.reserve1, pool)


def v2_price(reserve0: int, reserve1: int, pool: SeededPool) -> Decimal:
    """A V2 WETH/stable pair's spot price in whole stable per whole WETH."""
    base_is_0 = pool.token0 == "WETH"
    stable = pool.token1 if base_is_0 else pool.token0
    weth, usd = (reserve0, reserve1) if base_is_0 else (reserve1, reserve0)
    return (Decimal(usd).scaleb(-_decimals(stable))) / Decimal(weth).scaleb(-_decimals("WETH"))


def target_sqrt_price_x96(pool: SeededPool, price: Decimal) -> int:
    """sqrtPriceX96 at which a WETH/stable V3 pool quotes `price` (whole stable per whole WETH)."""
    stable = pool.token1 if pool.token0 == "WETH" else pool.token0
    with localcontext() as ctx:
        ctx.prec = 80
        raw = price.scaleb(_decimals(stable) - _decimals("WETH"))  # token1 units per token0 unit if WETH is 0
        if pool.token0 != "WETH":
            raw = 1 / raw
        return math.isqrt(int(raw * Decimal(2**192)))


def _v3_amount_to(model: UniswapV3Pool, zero_for_one: bool, limit: int) -> int:
    """Exact input (fee included) that moves the pool to `limit`: an unbounded swap stopped there."""
    result = model.swap(zero_for_one, 2**200, limit)
    return result.amount_in


def _v2_amount_to(pair: UniswapV2Pair, pool: SeededPool, token_in: str, goal: Decimal) -> int:
    """The largest input whose exact post-swap price has not passed `goal` (bisection on the pair math)."""
    current = v2_price(pair.reserve0, pair.reserve1, pool)
    rising = goal > current
    reserve_in = pair.reserves_for(token_in)[0]
    lo, hi = 0, reserve_in  # swapping the whole reserve in passes any sane goal
    while hi - lo > 1:
        mid = (lo + hi) // 2
        after = pair.swap_exact_in(token_in, mid).pair_after
        price = v2_price(after.reserve0, after.reserve1, pool)
        if (price <= goal) if rising else (price >= goal):
            lo = mid
        else:
            hi = mid
    return lo
