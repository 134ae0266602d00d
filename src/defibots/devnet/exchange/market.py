"""One spot symbol of the local exchange: its spec (tick and lot sizes, book shape) and its live state."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal

from defibots.cex.book import Depth, Level, floor_to_step
from defibots.errors import UserError


@dataclass(frozen=True)
class MarketSpec:
    """One spot symbol and the shape of its simulated book."""

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
    """Mutable state of one symbol: the live book and the 24h statistics."""

    spec: MarketSpec
    mid: Decimal
    bids: list[list[Decimal]] = field(default_factory=list)  # [price, qty], best first
    asks: list[list[Decimal]] = field(default_factory=list)
    update_id: int = 0
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


def rebuild_book(market: MarketState, rng: random.Random) -> None:
    """Lay a fresh book around the market's mid: `levels` per side, sizes jittered by `rng`."""
    spec = market.spec
    tick = spec.tick_size
    half = tick * spec.spread_ticks / 2
    best_bid = ((market.mid - half) / tick).to_integral_value(rounding=ROUND_FLOOR) * tick
    best_ask = best_bid + tick * spec.spread_ticks
    step = tick * spec.level_step_ticks
    bids: list[list[Decimal]] = []
    asks: list[list[Decimal]] = []
    for i in range(spec.levels):
        size = spec.top_qty * (1 + spec.depth_growth * i)
        for book, price in ((bids, best_bid - step * i), (asks, best_ask + step * i)):
            jitter = Decimal(rng.randint(70, 130)) / 100
            qty = max(floor_to_step(size * jitter, spec.lot_size), spec.lot_size)
            if price > 0:
                book.append([price, qty])
    market.bids, market.asks = bids, asks
    market.update_id += 1


def top_of_book(market: MarketState) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """(best bid, its quantity, best ask, its quantity); zeros for an empty side."""
    bid, bid_qty = market.bids[0] if market.bids else (Decimal(0), Decimal(0))
    ask, ask_qty = market.asks[0] if market.asks else (Decimal(0), Decimal(0))
    return bid, bid_qty, ask, ask_qty


def depth_snapshot(market: MarketState, timestamp_ms: int, limit: int | None = None) -> Depth:
    """The current book as the pure `Depth` snapshot (what ccxt should see)."""
    n = limit or max(len(market.bids), len(market.asks))
    return Depth(
        venue="local",
        symbol=market.spec.symbol,
        bids=tuple(Level(p, q) for p, q in market.bids[:n]),
        asks=tuple(Level(p, q) for p, q in market.asks[:n]),
        timestamp_ms=timestamp_ms,
        nonce=market.update_id,
    )
