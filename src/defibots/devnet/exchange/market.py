"""One spot symbol of a local venue: its spec (tick and lot sizes, maker depth shape) and live state."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal

from defibots.cex.book import Depth, Level
from defibots.devnet.exchange.book import OrderBook
from defibots.devnet.exchange.candles import PriceHistory
from defibots.errors import UserError


@dataclass(frozen=True)
class MarketSpec:
    """One spot symbol and the shape of the market maker's depth around its mid (see `liquidity`)."""

    symbol: str  # unified, "ETH/USDT"
    mid: Decimal
    tick_size: Decimal = Decimal("0.01")
    lot_size: Decimal = Decimal("0.0001")
    min_qty: Decimal = Decimal("0.0001")
    max_qty: Decimal = Decimal("9000")
    min_notional: Decimal = Decimal("5")
    levels: int = 50
    spread_ticks: int = 2  # best ask - best bid, in ticks
    level_step_ticks: int = 5  # distance between consecutive levels, in ticks
    top_qty: Decimal = Decimal("2")  # base quantity near the top; deeper levels hold more
    depth_growth: Decimal = Decimal("0.15")  # each level deeper holds this much more (relative)

    def __post_init__(self) -> None:
        if "/" not in self.symbol:
            raise UserError(f"market symbol {self.symbol!r} must look like BASE/QUOTE")
        if min(self.mid, self.tick_size, self.lot_size) <= 0 or self.levels < 1 or self.spread_ticks < 1:
            raise UserError(f"market {self.symbol}: mid, tick, lot, levels and spread must be positive")

    @property
    def base(self) -> str:
        return self.symbol.split("/")[0]

    @property
    def quote(self) -> str:
        return self.symbol.split("/")[1]

    @property
    def market_id(self) -> str:
        return self.base + self.quote


@dataclass
class MarketState:
    """Mutable state of one symbol: its resting book, the mid the market maker quotes around, 24h stats."""

    spec: MarketSpec
    mid: Decimal
    book: OrderBook = field(default_factory=OrderBook)
    update_id: int = 0  # the book's version: one step per change, as Binance's lastUpdateId
    open_price: Decimal = Decimal(0)
    high: Decimal = Decimal(0)
    low: Decimal = Decimal(0)
    last_price: Decimal = Decimal(0)
    last_qty: Decimal = Decimal(0)
    volume: Decimal = Decimal(0)
    quote_volume: Decimal = Decimal(0)
    first_trade_id: int = -1
    last_trade_id: int = -1
    trade_count: int = 0
    history: PriceHistory = field(default_factory=PriceHistory)
    """Every quoted mid and trade, for the klines."""

    @property
    def bids(self) -> list[list[Decimal]]:
        """[price, total quantity] per bid level, best (highest) first."""
        return self.book.levels("buy")

    @property
    def asks(self) -> list[list[Decimal]]:
        """[price, total quantity] per ask level, best (lowest) first."""
        return self.book.levels("sell")

    def record_trade(self, trade_id: int, price: Decimal, qty: Decimal) -> None:
        """Count one match in the 24h statistics."""
        if self.first_trade_id < 0:
            self.first_trade_id = trade_id
        self.last_trade_id = trade_id
        self.trade_count += 1
        self.last_price, self.last_qty = price, qty
        self.high, self.low = max(self.high, price), min(self.low, price)
        self.volume += qty
        self.quote_volume += price * qty
        self.history.record(int(time.time() * 1000), price, qty)


def top_of_book(market: MarketState) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """(best bid, its quantity, best ask, its quantity); zeros for an empty side."""
    book = market.book
    bid, ask = book.best_price("buy"), book.best_price("sell")
    bid_qty = book.level_qty("buy", bid) if bid is not None else Decimal(0)
    ask_qty = book.level_qty("sell", ask) if ask is not None else Decimal(0)
    return bid or Decimal(0), bid_qty, ask or Decimal(0), ask_qty


def depth_snapshot(market: MarketState, timestamp_ms: int, limit: int | None = None) -> Depth:
    """The current book as the pure `Depth` snapshot (what ccxt should see)."""
    return Depth(
        venue="local",
        symbol=market.spec.symbol,
        bids=tuple(Level(p, q) for p, q in market.book.levels("buy", limit)),
        asks=tuple(Level(p, q) for p, q in market.book.levels("sell", limit)),
        timestamp_ms=timestamp_ms,
        nonce=market.update_id,
    )
