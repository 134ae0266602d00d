"""Hedged AMM-CEX arbitrage (`defibots run cex_amm_arb`): the gap between the executable AMM price for a
size (exact models) and the venue's book, traded as one swap on chain and an IOC on the venue.

Pricing is `cex_arb`'s (exact ints on chain, exact Decimals from the book, net of the pool fee, the taker
fee, gas and the builder's tip); this strategy turns the best round trip per direction into a `HedgedArb`
with what the legs need: the swap's exact output (its min-out guard), the CEX amount on the venue's lot
grid (a buy rounded up so the base bought net of its fee covers the base sold; a sell rounded down), and
the IOC's price bound, the worst book level the walk took. The leg-risk policy is the executor's
(`config.LegRiskPolicy`). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_UP, Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from defibots.actions import HedgedArb, HedgeToken
from defibots.cex.book import BPS, floor_to_step, to_units, walk
from defibots.cex.events import BookTop
from defibots.chain.events import NewBlock
from defibots.config import LegRiskPolicy
from defibots.engine import Capability
from defibots.errors import UserError
from defibots.protocols.uniswap_quote import buy_exact, quote
from defibots.protocols.uniswap_v2 import UniswapV2Pair
from defibots.protocols.uniswap_v3 import UniswapV3Pool
from defibots.state.store import MarketState
from defibots.state.uniswap import PoolsUpdated
from defibots.strategies.cex_arb import (
    BookAndPoolsStrategy,
    Candidate,
    CexArbParams,
    CexMarket,
    Direction,
    markets_for,
)
from defibots.strategies.registry import StrategyContext, StrategySpec


class CexAmmArbSettings(BaseModel):
    """`[strategies.cex_amm_arb]`: the venue, the markets, when a gap is worth trading, and the policy."""

    model_config = ConfigDict(extra="forbid")

    exchange: str = Field(default="binance", pattern="^(binance|bybit)$")
    url: str | None = None
    """Every API URL of the venue (the local venues); None: the real one."""
    symbols: list[str] = Field(default_factory=lambda: ["ETH/USDT"], min_length=1)
    usd_pegged_equal: bool = True
    """Trade a USDT market against USDC pools too, taking the peg risk (the replica's deep pools are USDC)."""
    tokens: list[str] = Field(default_factory=lambda: ["WETH", "USDC", "USDT"])
    sizes: list[Decimal] = Field(
        default_factory=lambda: [Decimal("0.5"), Decimal(1), Decimal(2)], min_length=1
    )
    taker_fee_bps: int = Field(default=10, ge=0, le=1_000)
    lot_step: Decimal = Field(default=Decimal("0.0001"), gt=0)
    min_edge_bps: Decimal = Field(default=Decimal(5), ge=0)
    priority_fee: int = Field(default=1_000_000_000, ge=0)
    poll_interval_s: float = Field(default=0.5, gt=0)
    api_key_env: str = "DEFIBOTS_CEX_API_KEY"
    api_secret_env: str = "DEFIBOTS_CEX_API_SECRET"
    credentials_file: str | None = None
    """An encrypted credentials file (`defibots.cex.secrets`); otherwise the two env vars."""
    policy: LegRiskPolicy = Field(default_factory=LegRiskPolicy)
    inventory: dict[str, Any] | None = None
    """Bands per place and asset and transfer times (`execution.inventory.InventorySettings`)."""


@dataclass
class HedgedArbStats:
    evaluations: int = 0
    actions: int = 0
    below_lot: int = 0


class CexAmmArbStrategy(BookAndPoolsStrategy):
    """Emits the best round trip per direction whose edge clears `min_edge_bps`, once per distinct
    (pool, size, profit)."""

    def __init__(
        self, market: MarketState, settings: CexAmmArbSettings, markets: Sequence[CexMarket]
    ) -> None:
        params = CexArbParams(
            markets=tuple(markets), sizes=tuple(settings.sizes), min_edge_bps=settings.min_edge_bps,
            taker_fee_bps=Decimal(settings.taker_fee_bps), priority_fee=settings.priority_fee,
        )  # fmt: skip
        super().__init__(market, params)
        self.settings = settings
        self.stats = HedgedArbStats()
        self.best: dict[tuple[str, Direction], HedgedArb] = {}
        """The latest best round trip per (symbol, direction), tradeable or not (live view)."""
        self._emitted: dict[tuple[str, Direction], tuple[str, int, int]] = {}

    @property
    def name(self) -> str:
        return "cex_amm_arb"

    def evaluate(self, symbol: str) -> list[HedgedArb]:
        market, top = self.markets[symbol], self.books[symbol]
        pools = [p for a in self.pools_by_market[symbol] if (p := self.uniswap.get(a)) is not None]
        if top.depth is None or not pools:
            return []
        self.stats.evaluations += 1
        native = top.mid  # the markets are the gas token's own (checked at build)
        out: list[HedgedArb] = []
        best: dict[Direction, HedgedArb] = {}
        for c in self.pricer.candidates(market, pools, top.depth, native):
            trade = self._hedged(market, top, c, native)
            if trade is not None and (
                c.direction not in best or trade.predicted_net > best[c.direction].predicted_net
            ):
                best[c.direction] = trade
        for direction, trade in best.items():
            self.best[(symbol, direction)] = trade
            notional = trade.chain_in if direction == "buy_amm_sell_cex" else trade.chain_out
            edge = Decimal(trade.predicted_net) * BPS / Decimal(max(notional, 1))
            if trade.predicted_net <= 0 or edge <= self.settings.min_edge_bps:
                continue
            key = (trade.pool, trade.chain_in, trade.predicted_net)
            if self._emitted.get((symbol, direction)) == key:
                continue
            self._emitted[(symbol, direction)] = key
            self.stats.actions += 1
            out.append(trade)
        return out

    def _hedged(self, market: CexMarket, top: BookTop, c: Candidate, native: Decimal) -> HedgedArb | None:
        """The legs of one priced round trip on the venue's lot grid; None when the book cannot fill it."""
        assert top.depth is not None
        s = self.settings
        pool, size, q, direction = c.pool, c.size, c.quote, c.direction
        base_asset, _, quote_asset = market.symbol.partition("/")  # the venue's names: ETH, USDT
        base = HedgeToken(market.base.address, market.base.symbol, market.base.decimals, base_asset)
        quote_token = HedgeToken(q.address, q.symbol, q.decimals, quote_asset)
        fee = Decimal(s.taker_fee_bps) / BPS
        if direction == "sell_amm_buy_cex":
            chain_in, chain_out = size, quote(pool, base.address, size)
            wanted = Decimal(size).scaleb(-base.decimals) / (1 - fee)
            amount = (wanted / s.lot_step).to_integral_value(rounding=ROUND_CEILING) * s.lot_step
            fill = walk(top.depth, "buy", amount, taker_fee_bps=s.taker_fee_bps)
            cex_quote = to_units(fill.quote_qty, q.decimals, ROUND_UP)
            gross = chain_out - cex_quote
        else:
            chain_in = buy_exact(pool, q.address, size)
            chain_out = quote(pool, q.address, chain_in) if chain_in else 0
            amount = floor_to_step(Decimal(chain_out).scaleb(-base.decimals), s.lot_step)
            if amount <= 0:
                self.stats.below_lot += 1
                return None
            fill = walk(top.depth, "sell", amount, taker_fee_bps=s.taker_fee_bps)
            cex_quote = to_units(fill.quote_qty - fill.fee, q.decimals, ROUND_DOWN)
            gross = cex_quote - chain_in
        if not fill.complete or chain_out <= 0 or not fill.legs:
            return None
        return HedgedArb(
            venue=top.venue, symbol=market.symbol, direction=direction, pool=pool.address,
            protocol="v2" if isinstance(pool, UniswapV2Pair) else "v3",
            pool_fee=pool.fee if isinstance(pool, UniswapV3Pool) else _v2_fee(pool),
            base=base, quote=quote_token, chain_in=chain_in, chain_out=chain_out,
            cex_side="buy" if direction == "sell_amm_buy_cex" else "sell", cex_amount=amount,
            cex_limit=fill.legs[-1].price, cex_quote=cex_quote, gas=c.gas, gas_cost_wei=c.gas_cost_wei,
            gas_cost_quote=c.gas_cost_quote, max_fee_per_gas=2 * self.pricer.params.base_fee + s.priority_fee,
            priority_fee_per_gas=s.priority_fee, predicted_net=gross - c.gas_cost_quote, native_price=native,
            block_number=max(self.last_block, pool.block_number), book_timestamp_ms=top.timestamp_ms,
        )  # fmt: skip


def _v2_fee(pair: UniswapV2Pair) -> int:
    """The executor's V2 fee field: input kept per 10_000 (9970 for Uniswap's 0.3%)."""
    return int(pair.fee_numerator * 10_000 // pair.fee_denominator)


def build(ctx: StrategyContext, settings: CexAmmArbSettings) -> CexAmmArbStrategy:
    markets = markets_for(settings.symbols, settings.usd_pegged_equal)
    for m in markets:
        if not m.base_is_native:
            raise UserError(f"cex_amm_arb trades the gas token's markets (ETH/...), not {m.symbol}")
    return CexAmmArbStrategy(ctx.market, settings, markets)


def rows(strategy: CexAmmArbStrategy) -> list[list[str]]:
    out = []
    for (symbol, direction), t in sorted(strategy.best.items()):
        base_units = t.chain_in if t.direction == "sell_amm_buy_cex" else t.chain_out
        bound = "<=" if t.cex_side == "buy" else ">="
        out.append([
            symbol, direction.replace("_", " "), f"{t.protocol} {t.pool[:10]}",
            f"{Decimal(base_units).scaleb(-t.base.decimals):.4f}",
            f"{t.cex_side} {t.cex_amount} {bound} {t.cex_limit}",
            f"{Decimal(t.predicted_net).scaleb(-t.quote.decimals):,.2f} {t.quote.symbol}",
            str(t.block_number),
        ])  # fmt: skip
    return out


STRATEGY = StrategySpec(
    name="cex_amm_arb",
    summary="hedged AMM-CEX arbitrage: one exact swap on chain, an IOC on the venue, a leg-risk policy",
    settings=CexAmmArbSettings,
    build=build,
    columns=("symbol", "direction", "pool", "base", "CEX leg", "predicted net", "block"),
    rows=rows,
    state=("uniswap", "cex"),
    events=(NewBlock, PoolsUpdated, BookTop),
    executors=(Capability.HEDGED_ARB,),
)
