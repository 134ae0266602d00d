"""The local exchange's matching: a taker order walks the book (`cex.book.walk`) and takes what it walked.

The book only takes: there are no resting orders, so a fill consumes the levels it crossed until the
next price move rebuilds the book. Trades update the market's 24h statistics.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from decimal import Decimal

from defibots.cex.book import Fill, Side
from defibots.devnet.exchange.market import MarketState


@dataclass(frozen=True)
class Trade:
    trade_id: int
    price: Decimal
    qty: Decimal


class MatchingEngine:
    """Hands out order and trade ids and applies taker fills to the books."""

    def __init__(self) -> None:
        self._order_ids = itertools.count(1)
        self._trade_ids = itertools.count(1)

    def next_order_id(self) -> int:
        return next(self._order_ids)

    def take(self, market: MarketState, side: Side, fill: Fill) -> list[Trade]:
        """Consume the liquidity `fill` walked, best level first, and record its trades.

        The fill must have been walked on this book with no change in between (`book[0]` is each leg's
        level); the caller plans and takes without an await between.
        """
        book = market.asks if side == "buy" else market.bids
        trades = []
        for leg in fill.legs:
            book[0][1] -= leg.qty
            if book[0][1] <= 0:
                book.pop(0)
            trade = Trade(next(self._trade_ids), leg.price, leg.qty)
            trades.append(trade)
            if market.first_trade_id < 0:
                market.first_trade_id = trade.trade_id
            market.last_trade_id = trade.trade_id
            market.trade_count += 1
            market.last_price, market.last_qty = leg.price, leg.qty
            market.high, market.low = max(market.high, leg.price), min(market.low, leg.price)
            market.volume += leg.qty
            market.quote_volume += leg.price * leg.qty
        if fill.legs:
            market.update_id += 1
        return trades
