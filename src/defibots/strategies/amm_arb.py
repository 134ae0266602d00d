"""AMM-AMM cyclic arbitrage over tracked Uniswap V2/V3 pools: find, size, and price net of gas.

Pure: it reads pool models and returns opportunities. A float screen (product of marginal prices at
size zero) discards cycles with no edge cheaply; every number an opportunity carries comes from the
exact integer models at the chosen size.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from defibots.actions import (
    Cycle,
    CycleHop,
    ExecutorTxAction,
    Opportunity,
    wei_to_base,
)
from defibots.chain.addresses import TOKENS, token
from defibots.chain.events import NewBlock
from defibots.config import ArbSettings
from defibots.engine import Action, Capability, Strategy
from defibots.errors import UserError
from defibots.events import Event
from defibots.protocols.eip1559 import next_base_fee
from defibots.protocols.uniswap_quote import quote
from defibots.protocols.uniswap_v2 import UniswapV2Pair
from defibots.protocols.uniswap_v3 import UniswapV3Pool
from defibots.state.store import MarketState
from defibots.state.uniswap import PoolModel, PoolsUpdated, uniswap
from defibots.strategies.registry import StrategyContext, StrategySpec

_Q96 = 2.0**96
_Q192 = 2**192
_GOLDEN = (math.sqrt(5) - 1) / 2
WETH = TOKENS["WETH"].address
"""Gas is paid in ETH; its price in a base token comes from the tracked WETH/base pools."""


@dataclass(frozen=True)
class ArbParams:
    """`min_net_profit` and `max_amount_in` are in base-token units; `base_fee` is the fee per gas the
    next block will charge and `priority_fee` the tip per gas (wei)."""

    base_token: str
    max_hops: int = 3
    max_amount_in: int = 1_000 * 10**18
    min_net_profit: int = 0
    base_fee: int = 0
    priority_fee: int = 1_000_000_000
    builder_share_bps: int = 0
    search_iterations: int = 48


def reference_pool(pools: Iterable[PoolModel], base: str) -> PoolModel | None:
    """The deepest WETH/base pool (most WETH on its books), or None if none is tracked."""
    pairs = [p for p in pools if {p.token0, p.token1} == {WETH, base}]
    return max(pairs, key=lambda p: (_depth_in(p, WETH), p.address), default=None)


def eth_to_base(pool: PoolModel, base: str) -> tuple[int, int]:
    """Base-token units per wei at the pool's mid price, as an exact ratio: V2 reserves, or V3
    sqrtPriceX96**2 / 2**192 (token1 per token0). Mid, not an executable quote: it prices gas, which is
    small next to the trade, and does not move with our own size."""
    if isinstance(pool, UniswapV2Pair):
        r_weth, r_base = pool.reserves_for(WETH)
        return (r_base, r_weth) if r_weth else (0, 1)
    price = pool.sqrt_price_x96**2
    if pool.token0 == WETH:
        return (price, _Q192)
    return (_Q192, price) if price else (0, 1)


def _protocol(pool: PoolModel) -> str:
    return "v2" if isinstance(pool, UniswapV2Pair) else "v3"


def enumerate_cycles(pools: Iterable[PoolModel], base: str, max_hops: int = 3) -> list[Cycle]:
    """Every simple cycle of 2..max_hops hops from `base` (each pool used once per cycle)."""
    by_token: dict[str, list[PoolModel]] = defaultdict(list)
    for p in pools:
        by_token[p.token0].append(p)
        by_token[p.token1].append(p)
    cycles: list[Cycle] = []

    def extend(token: str, hops: list[CycleHop], used: set[str]) -> None:
        for p in by_token[token]:
            if p.address in used:
                continue
            out = p.token1 if token == p.token0 else p.token0
            hop = (
                CycleHop(p.address, "v3", token, out, p.fee)
                if isinstance(p, UniswapV3Pool)
                else CycleHop(p.address, "v2", token, out, v2_fee=(p.fee_numerator, p.fee_denominator))
            )
            if out == base:
                if hops:
                    cycles.append(Cycle((*hops, hop)))
            elif len(hops) + 1 < max_hops and all(h.token_in != out for h in hops):
                extend(out, [*hops, hop], used | {p.address})

    extend(base, [], set())
    return cycles


def cycle_amounts(pools: Mapping[str, PoolModel], cycle: Cycle, amount_in: int) -> tuple[int, ...]:
    amounts: list[int] = []
    amount = amount_in
    for hop in cycle.hops:
        amount = quote(pools[hop.pool], hop.token_in, amount)
        amounts.append(amount)
        if amount == 0:
            break
    return tuple(amounts)


def marginal_rate(pool: PoolModel, token_in: str) -> float:
    """Output per unit input at size zero, after the fee (screening only)."""
    if isinstance(pool, UniswapV2Pair):
        r_in, r_out = pool.reserves_for(token_in)
        if r_in == 0:
            return 0.0
        return r_out / r_in * pool.fee_numerator / pool.fee_denominator
    price = (pool.sqrt_price_x96 / _Q96) ** 2  # token1 per token0
    if pool.liquidity == 0 or price == 0.0:
        return 0.0
    fee = 1 - pool.fee / 1_000_000
    return (price if token_in == pool.token0 else 1 / price) * fee


def _depth_in(pool: PoolModel, token_in: str) -> int:
    """Units of `token_in` on the pool's books (V3: virtual reserve at the current price)."""
    if isinstance(pool, UniswapV2Pair):
        return pool.reserves_for(token_in)[0]
    if pool.sqrt_price_x96 == 0:
        return 0
    if token_in == pool.token0:
        return pool.liquidity * 2**96 // pool.sqrt_price_x96
    return pool.liquidity * pool.sqrt_price_x96 // 2**96


def screen(pools: Mapping[str, PoolModel], cycle: Cycle) -> float:
    rate = 1.0
    for hop in cycle.hops:
        rate *= marginal_rate(pools[hop.pool], hop.token_in)
    return rate


def _chord_bound(x0: int, f0: int, x1: int, f1: int, x2: int, f2: int) -> int:
    """An upper bound of a concave f on [x0, x2] given f(x1) >= f(x0), f(x2): right of x1 f lies under the
    chord x0-x1 extended, left of x1 under the chord x1-x2 extended (ceiling division: never too low)."""
    right = -(-(f1 - f0) * (x2 - x1) // (x1 - x0))
    left = -(-(f1 - f2) * (x1 - x0) // (x2 - x1))
    return f1 + max(right, left, 0)


class ArbFinder:
    """Holds the cycle index and re-evaluates only the cycles that touch pools that changed.

    Gas is converted into the base token at the mid price of one reference pool, the deepest tracked
    WETH/base pool at start-up (re-read whenever it changes); a base with no such pool is a UserError.
    Each opportunity carries the rate it was priced with (`eth_to_base`), so its numbers stay consistent
    even when it was priced before the reference pool last moved.
    """

    def __init__(self, pools: Mapping[str, PoolModel], params: ArbParams) -> None:
        self.params = params
        self.pools: dict[str, PoolModel] = dict(pools)
        self.cycles = enumerate_cycles(self.pools.values(), params.base_token, params.max_hops)
        self.cycles_by_pool: dict[str, list[int]] = defaultdict(list)
        for i, c in enumerate(self.cycles):
            for address in c.pools:
                self.cycles_by_pool[address].append(i)
        self.best: dict[int, Opportunity] = {}
        self._net: dict[int, int] = {}
        """Each best opportunity's net profit, computed once: ranking reads it on every update."""
        # the block the models are from: opportunities priced before any update are stamped with it
        self.block_number = max((p.block_number for p in self.pools.values()), default=0)
        self.reference: str | None = None
        self.eth_to_base: tuple[int, int] = (1, 1)
        if params.base_token.lower() != WETH.lower():
            ref = reference_pool(self.pools.values(), params.base_token)
            if ref is None:
                symbol = next((t.symbol for t in TOKENS.values() if t.address == params.base_token), None)
                raise UserError(
                    f"base token {symbol or params.base_token}: no tracked WETH pool to price gas in it "
                    "(track WETH too, or use WETH as the base)"
                )
            self.reference = ref.address
            self.eth_to_base = eth_to_base(ref, params.base_token)

    def update(self, changed: Mapping[str, PoolModel], block_number: int) -> list[Opportunity]:
        """Apply new pool states and return the ranked opportunities above the profit threshold."""
        self.pools.update(changed)
        self.block_number = max(self.block_number, block_number)
        if self.reference is not None and self.reference in changed:
            self.eth_to_base = eth_to_base(changed[self.reference], self.params.base_token)
        touched = {i for address in changed for i in self.cycles_by_pool.get(address, ())}
        for i in touched:
            self._keep(i, self.evaluate(self.cycles[i]))
        return self.ranked()

    def _keep(self, i: int, opp: Opportunity | None) -> None:
        if opp is None:
            self.best.pop(i, None)
            self._net.pop(i, None)
        else:
            self.best[i] = opp
            self._net[i] = opp.net_profit

    def clear(self) -> None:
        self.best, self._net = {}, {}

    def evaluate_all(self) -> list[Opportunity]:
        """Price every cycle from scratch (at start-up and after a resync)."""
        self.clear()
        for i, c in enumerate(self.cycles):
            self._keep(i, self.evaluate(c))
        return self.ranked()

    def ranked(self) -> list[Opportunity]:
        floor = self.params.min_net_profit
        net = self._net
        above = sorted((i for i, n in net.items() if n > floor), key=net.__getitem__, reverse=True)
        return [self.best[i] for i in above]

    def evaluate(self, cycle: Cycle) -> Opportunity | None:
        rate = screen(self.pools, cycle)
        if rate <= 1.0:
            return None
        need = wei_to_base(cycle.gas() * (self.params.base_fee + self.params.priority_fee), self.eth_to_base)
        amount_in = self.optimal_input(cycle, rate, need + max(self.params.min_net_profit, 0))
        if amount_in <= 0:
            return None
        return self.price(cycle, amount_in)

    def price(self, cycle: Cycle, amount_in: int) -> Opportunity | None:
        """Exact opportunity at a given size (None if a hop would fail)."""
        amounts = cycle_amounts(self.pools, cycle, amount_in)
        if len(amounts) != len(cycle.hops) or amounts[-1] == 0:
            return None
        gas = cycle.gas()
        priority = self.params.priority_fee
        max_fee = self.params.base_fee + priority  # what the sent tx carries; it pays at most this
        gross = amounts[-1] - amount_in
        # a share of the gross profit, so already in base-token units (the contract's rounding)
        builder = gross * self.params.builder_share_bps // 10_000 if gross > 0 else 0
        gas_cost = wei_to_base(gas * max_fee, self.eth_to_base)
        return Opportunity(
            cycle, amount_in, amounts[-1], amounts, gas, gas_cost, builder, self.block_number,
            max_fee_per_gas=max_fee, priority_fee_per_gas=priority, eth_to_base=self.eth_to_base,
        )  # fmt: skip

    def optimal_input(self, cycle: Cycle, rate: float, need: int = 0) -> int:
        """Size maximizing out(x) - x: closed form for all-V2 cycles, golden-section search otherwise.

        The search runs on the exact models; profit is concave in size for these AMMs. It first brackets
        the optimum by growing a probe 4x at a time from ~1e-6 of the first pool's depth, then closes the
        bracket by golden section. Bracketing first matters: the precision is relative to the bracket
        (~1e-10 of it), and a bracket of the whole `max_amount_in` (1e21 units) is far wider than a
        6-decimal token's optimum. The profit reported is exact for the size chosen.

        A cycle whose gross profit cannot reach `need` (its gas cost plus the floor) is dropped after the
        bracket: by concavity the chords through the bracket's three points, extended, bound the profit
        over the bracket from above (below the first probe: the marginal rate at zero does); when that
        bound is below `need` the search cannot find a trade.
        """
        upper = self.params.max_amount_in
        if all(h.protocol == "v2" for h in cycle.hops):
            x = self._v2_closed_form(cycle)
            return max(0, min(x, upper))

        def profit(x: int) -> int:
            amounts = cycle_amounts(self.pools, cycle, x)
            if len(amounts) != len(cycle.hops) or amounts[-1] == 0:
                return -x
            return amounts[-1] - x

        first = self.pools[cycle.hops[0].pool]
        probe = min(max(1, _depth_in(first, cycle.base) >> 20), upper)
        below, best_x, best = 0, probe, profit(probe)
        above, f_below, f_above = probe, 0, best
        while best > 0 and best_x < upper:
            above = min(best_x * 4, upper)
            f_above = profit(above)
            if f_above <= best:
                break
            below, f_below, best_x, best = best_x, best, above, f_above
        if best <= 0:  # past the optimum already: it lies below the first probe
            below, above = 0, probe
            if need > 0 and (rate - 1.0) * probe * 1.01 + 1 < need:  # slope at 0 bounds it (1% float margin)
                return 0
        elif (
            need > 0
            and below < best_x < above
            and _chord_bound(below, f_below, best_x, best, above, f_above) < need
        ):
            return 0
        lo, hi = float(below), float(above)
        f_lo, f_hi = (0, best) if best <= 0 else (f_below, f_above)
        a = hi - _GOLDEN * (hi - lo)
        b = lo + _GOLDEN * (hi - lo)
        fa, fb = profit(int(a)), profit(int(b))
        for _ in range(self.params.search_iterations):
            if fa < fb:
                lo, f_lo, a, fa = a, fa, b, fb
                b = lo + _GOLDEN * (hi - lo)
                fb = profit(int(b))
            else:
                hi, f_hi, b, fb = b, fb, a, fa
                a = hi - _GOLDEN * (hi - lo)
                fa = profit(int(a))
            if hi - lo < 1.0:
                break
            if need > 0 and max(fa, fb) < need and int(lo) < int(a) < int(b) < int(hi):
                left = _chord_bound(int(lo), f_lo, int(a), fa, int(b), fb)  # covers [lo, b]
                right = _chord_bound(int(a), fa, int(b), fb, int(hi), f_hi)  # covers [a, hi]
                if max(left, right) < need:
                    return 0
        x, fx = (int(a), fa) if fa >= fb else (int(b), fb)
        if best > fx:
            x, fx = best_x, best
        return x if fx > 0 else 0

    def _v2_closed_form(self, cycle: Cycle) -> int:
        """Chained constant-product hops compose to out = A x / (B + C x): optimum (sqrt(AB) - B) / C."""
        a_num, b_den, c_den = 1, 1, 0  # out = a x / (b + c x), start as identity
        for hop in cycle.hops:
            pair = self.pools[hop.pool]
            assert isinstance(pair, UniswapV2Pair)
            r_in, r_out = pair.reserves_for(hop.token_in)
            f, d = pair.fee_numerator, pair.fee_denominator
            # hop: y = f r_out x / (d r_in + f x); substitute x = a u / (b + c u)
            a_num, b_den, c_den = f * r_out * a_num, d * r_in * b_den, d * r_in * c_den + f * a_num
        if a_num <= b_den:
            return 0
        return (math.isqrt(a_num * b_den) - b_den) // c_den


class AmmArbStrategy(Strategy):
    """ArbFinder on the bus: re-price on pool changes; act on the best opportunity once per (block, cycle).

    Each NewBlock sets the base fee to the one the next block will charge (EIP-1559, from the block's gas
    used and limit). The first NewBlock also re-prices every cycle and acts on the best: an opportunity
    that already stands when the watcher starts is no different from one a later swap opens.
    """

    def __init__(self, market: MarketState, params: ArbParams) -> None:
        self.uniswap = uniswap(market)
        self.finder = ArbFinder(self.uniswap.pools, params)
        self.ranked: list[Opportunity] = []
        self.last_block = 0
        self._acted: set[tuple[int, Cycle]] = set()
        self._started = False

    @property
    def name(self) -> str:
        return "amm_arb"

    async def sync_state(self) -> None:
        self.ranked = self.finder.evaluate_all()

    async def process_event(self, event: Event) -> Sequence[Action]:
        if isinstance(event, NewBlock):
            self.last_block = max(self.last_block, event.number)
            if event.base_fee_per_gas is not None:
                base_fee = next_base_fee(event.base_fee_per_gas, event.gas_used, event.gas_limit)
                self.finder.params = replace(self.finder.params, base_fee=base_fee)
            if self._started:
                return ()
            self._started = True
            self.ranked = self.finder.evaluate_all()
            return self._act()
        if not isinstance(event, PoolsUpdated):
            return ()
        changed = {a: p for a in event.pools if (p := self.uniswap.get(a)) is not None}
        self.ranked = self.finder.update(changed, event.block_number)
        return self._act()

    def _act(self) -> Sequence[Action]:
        """The best ranked opportunity as an action, unless this (block, cycle) was acted on already."""
        if not self.ranked:
            return ()
        best = self.ranked[0]
        key = (best.block_number, best.cycle)
        if key in self._acted:
            return ()
        self._acted = {k for k in self._acted if k[0] >= best.block_number - 1}
        self._acted.add(key)
        return (ExecutorTxAction(opportunity=best),)


def _build(ctx: StrategyContext, s: ArbSettings) -> AmmArbStrategy:
    params = ArbParams(
        base_token=token(s.base_token).address, max_hops=s.max_hops, min_net_profit=s.min_profit_wei,
        priority_fee=s.priority_fee_wei, builder_share_bps=0,  # the public path pays no builder
    )  # fmt: skip
    return AmmArbStrategy(ctx.market, params)


def _rows(strategy: AmmArbStrategy) -> list[list[str]]:
    base = next((t for t in TOKENS.values() if t.address == strategy.finder.params.base_token), None)
    decimals = base.decimals if base else 18
    symbols: dict[str, str] = {t.address: t.symbol for t in TOKENS.values()}

    def units(amount: int) -> str:
        return f"{Decimal(amount).scaleb(-decimals):.6f}"

    return [
        [o.cycle.describe(symbols), units(o.amount_in), units(o.gross_profit), units(o.gas_cost),
         units(o.net_profit), str(o.block_number)]
        for o in strategy.ranked[:10]
    ]  # fmt: skip


STRATEGY = StrategySpec(
    name="amm_arb",
    summary="cyclic V2/V3 arbitrage from a base token, sent through the executor contract",
    settings=ArbSettings,
    build=_build,
    columns=("route", "size", "gross", "gas cost", "net", "block"),
    rows=_rows,
    executors=(Capability.PUBLIC_TX,),
)
"""Registered as `amm_arb` (`defibots run amm_arb`); settings from `[strategies.amm_arb]`, keys as `[arb]`."""
