"""Pool-imbalance alert: two tracked pools of one token pair (V2 vs V3, or two V3 fee tiers) whose mid
prices differ by more than `min_gap_bps`.

Pure: reads the pool models, returns `Alert`s, does no I/O. Mid prices are exact fractions (V2 reserves,
V3 sqrtPriceX96**2 / 2**192, both token1 per token0 in smallest units), so the gap is exact too; it is
relative to the cheaper pool, which makes it the same whichever way the pair is quoted.

An imbalance is alerted once per block in which one of its two pools changed (and once at the first
block for one that already stands), not on every tick it persists.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from fractions import Fraction
from itertools import combinations

from pydantic import BaseModel, ConfigDict, Field

from defibots.chain.addresses import TOKENS
from defibots.chain.events import NewBlock
from defibots.engine import Action, Capability, Strategy
from defibots.events import Event
from defibots.protocols.uniswap_v2 import UniswapV2Pair
from defibots.state.store import MarketState
from defibots.state.uniswap import PoolModel, PoolsUpdated, uniswap
from defibots.strategies.registry import Alert, StrategySpec

_Q192 = 2**192
_BY_ADDRESS = {t.address.lower(): t for t in TOKENS.values()}


class PoolImbalanceSettings(BaseModel):
    """`[strategies.pool_imbalance]`."""

    model_config = ConfigDict(extra="forbid")

    tokens: list[str] = Field(default_factory=lambda: ["WETH", "USDC", "USDT", "DAI", "WBTC"])
    min_gap_bps: Decimal = Field(default=Decimal(30), gt=0)


def mid_price(pool: PoolModel) -> Fraction | None:
    """token1 per token0 in smallest units at the pool's current price; None for an empty pool."""
    if isinstance(pool, UniswapV2Pair):
        return Fraction(pool.reserve1, pool.reserve0) if pool.reserve0 and pool.reserve1 else None
    return Fraction(pool.sqrt_price_x96**2, _Q192) if pool.sqrt_price_x96 else None


def pool_label(pool: PoolModel) -> str:
    kind = "v2" if isinstance(pool, UniswapV2Pair) else f"v3-{pool.fee}"
    return f"{kind} {pool.address[:10]}"


def _symbol(address: str) -> tuple[str, int]:
    t = _BY_ADDRESS.get(address.lower())
    return (t.symbol, t.decimals) if t else (address[:10], 18)


@dataclass(frozen=True, slots=True)
class PoolGap:
    """Two pools of one pair; `cheap` prices token0 lower (in token1) than `rich`."""

    token0: str
    token1: str
    cheap: PoolModel
    rich: PoolModel
    cheap_price: Fraction
    rich_price: Fraction
    block_number: int

    @property
    def gap_bps(self) -> Fraction:
        return (self.rich_price - self.cheap_price) * 10_000 / self.cheap_price

    @property
    def key(self) -> tuple[str, str]:
        return (self.cheap.address, self.rich.address) if self.cheap.address < self.rich.address else (
            self.rich.address, self.cheap.address
        )  # fmt: skip

    def quoted(self, price: Fraction) -> tuple[Decimal, str]:
        """A mid price for people: in whole tokens, quoted the way up that reads above 1 (USDC per WETH)."""
        (s0, d0), (s1, d1) = _symbol(self.token0), _symbol(self.token1)
        human = price * Fraction(10**d0, 10**d1)
        if human >= 1:
            return _decimal(human, 6), f"{s1} per {s0}"
        return _decimal(1 / human, 6), f"{s0} per {s1}"

    @property
    def pair(self) -> str:
        return f"{_symbol(self.token0)[0]}/{_symbol(self.token1)[0]}"


def _decimal(value: Fraction, places: int) -> Decimal:
    """An exact fraction rounded down to `places` decimals."""
    scaled = value.numerator * 10**places // value.denominator
    return Decimal(scaled).scaleb(-places).quantize(Decimal(1).scaleb(-places), rounding=ROUND_DOWN)


def pair_gaps(pools: Iterable[PoolModel], block_number: int) -> list[PoolGap]:
    """Every two pools of the same pair with a price, as gaps (largest first)."""
    by_pair: dict[tuple[str, str], list[tuple[PoolModel, Fraction]]] = defaultdict(list)
    for pool in pools:
        price = mid_price(pool)
        if price is not None:
            by_pair[(pool.token0, pool.token1)].append((pool, price))
    gaps = []
    for (t0, t1), priced in by_pair.items():
        for (a, pa), (b, pb) in combinations(sorted(priced, key=lambda x: x[0].address), 2):
            (cheap, pc), (rich, pr) = ((a, pa), (b, pb)) if pa <= pb else ((b, pb), (a, pa))
            gaps.append(PoolGap(t0, t1, cheap, rich, pc, pr, block_number))
    return sorted(gaps, key=lambda g: (-g.gap_bps, g.key))


def describe_gap(g: PoolGap) -> str:
    cheap, unit = g.quoted(g.cheap_price)
    rich, _ = g.quoted(g.rich_price)
    return (
        f"block {g.block_number} {g.pair}: {pool_label(g.cheap)} at {cheap:f} vs {pool_label(g.rich)} at "
        f"{rich:f} {unit}: gap {_decimal(g.gap_bps, 2):f} bps"
    )


def alert_for(g: PoolGap) -> Alert:
    return Alert(
        kind="pool_imbalance",
        message=describe_gap(g),
        block_number=g.block_number,
        details={
            "pair": g.pair,
            "cheap_pool": g.cheap.address,
            "rich_pool": g.rich.address,
            "cheap_label": pool_label(g.cheap),
            "rich_label": pool_label(g.rich),
            "cheap_price": str(g.cheap_price),  # exact, token1 per token0 in smallest units
            "rich_price": str(g.rich_price),
            "gap_bps": f"{_decimal(g.gap_bps, 6):f}",
        },
    )


class PoolImbalanceStrategy(Strategy):
    """Re-prices the pairs whose pools changed; alerts the gaps above the threshold."""

    def __init__(self, market: MarketState, min_gap_bps: Decimal) -> None:
        self.uniswap = uniswap(market)
        self.min_gap_bps = Fraction(min_gap_bps)
        self.gaps: list[PoolGap] = []
        self.last_block = 0
        self._started = False
        self._alerted: set[tuple[int, tuple[str, str]]] = set()

    @property
    def name(self) -> str:
        return "pool_imbalance"

    async def sync_state(self) -> None:
        self.gaps = pair_gaps(self.uniswap.pools.values(), self._block())

    def _block(self) -> int:
        return max(self.last_block, max((p.block_number for p in self.uniswap.pools.values()), default=0))

    async def process_event(self, event: Event) -> Sequence[Action]:
        if isinstance(event, NewBlock):
            self.last_block = max(self.last_block, event.number)
            if self._started:
                return ()
            self._started = True
            changed: set[str] | None = None  # a standing imbalance counts at the first block
        elif isinstance(event, PoolsUpdated):
            self.last_block = max(self.last_block, event.block_number)
            changed = set(event.pools)
        else:
            return ()
        block = self._block()
        self.gaps = pair_gaps(self.uniswap.pools.values(), block)
        actions: list[Action] = []
        for g in self.gaps:
            if g.gap_bps <= self.min_gap_bps:
                break  # sorted largest first
            if changed is not None and not {g.cheap.address, g.rich.address} & changed:
                continue
            if (block, g.key) in self._alerted:
                continue
            self._alerted = {k for k in self._alerted if k[0] >= block - 1}
            self._alerted.add((block, g.key))
            actions.append(alert_for(g))
        return actions


def rows(strategy: PoolImbalanceStrategy) -> list[list[str]]:
    """The widest gaps now, above the threshold or not."""
    out = []
    for g in strategy.gaps[:10]:
        cheap, unit = g.quoted(g.cheap_price)
        rich, _ = g.quoted(g.rich_price)
        above = g.gap_bps > strategy.min_gap_bps
        gap = f"{_decimal(g.gap_bps, 2):f}"
        out.append([
            g.pair, pool_label(g.cheap), f"{cheap:f}", pool_label(g.rich), f"{rich:f}", unit,
            f"[green]{gap}[/]" if above else gap, str(g.block_number),
        ])  # fmt: skip
    return out


STRATEGY = StrategySpec(
    name="pool_imbalance",
    summary="alert when two pools of one pair differ in mid price by more than min_gap_bps",
    settings=PoolImbalanceSettings,
    build=lambda ctx, s: PoolImbalanceStrategy(ctx.market, s.min_gap_bps),
    columns=("pair", "cheap pool", "price", "rich pool", "price", "quoted", "gap bps", "block"),
    rows=rows,
    state=("uniswap",),
    events=(NewBlock, PoolsUpdated),
    executors=(Capability.RECORD,),
)
