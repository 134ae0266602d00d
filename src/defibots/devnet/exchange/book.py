"""A price-time-priority book of resting orders for one symbol, and the price levels it changed.

The book only stores and orders: the matching engine decides what trades. Every price level whose total
changed since the last `pop_changes` is remembered, so a diff stream (Binance's depthUpdate) can carry
exactly the levels that moved, with quantity 0 for a level that emptied.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterator
from decimal import Decimal

from defibots.cex.book import Side
from defibots.devnet.exchange.orders import Order

LevelChange = tuple[Decimal, Decimal]  # (price, new total quantity; 0 = level removed)


class OrderBook:
    """Bids and asks as FIFO queues per price; prices kept sorted ascending, best bid last, best ask first."""

    def __init__(self) -> None:
        self._queues: dict[Side, dict[Decimal, deque[Order]]] = {"buy": {}, "sell": {}}
        self._prices: dict[Side, list[Decimal]] = {"buy": [], "sell": []}
        self._touched: dict[Side, set[Decimal]] = {"buy": set(), "sell": set()}
        self._sequence = 0

    def add(self, order: Order) -> None:
        """Rest `order` at the back of its price level."""
        queues = self._queues[order.side]
        price = order.price
        if price not in queues:
            queues[price] = deque()
            bisect.insort(self._prices[order.side], price)
        self._sequence += 1
        order.sequence = self._sequence
        order.on_book = True
        queues[price].append(order)
        self._touched[order.side].add(price)

    def remove(self, order: Order) -> None:
        """Take `order` off the book (filled, canceled or expired)."""
        queues = self._queues[order.side]
        queue = queues.get(order.price)
        if queue is None or order not in queue:
            return
        queue.remove(order)
        order.on_book = False
        if not queue:
            del queues[order.price]
            prices = self._prices[order.side]
            del prices[bisect.bisect_left(prices, order.price)]
        self._touched[order.side].add(order.price)

    def touch(self, side: Side, price: Decimal) -> None:
        """Note that a resting order's remaining quantity at `price` changed (a partial fill)."""
        self._touched[side].add(price)

    def prices(self, side: Side) -> list[Decimal]:
        """The side's prices, best first."""
        prices = self._prices[side]
        return prices[::-1] if side == "buy" else list(prices)

    def best_price(self, side: Side) -> Decimal | None:
        prices = self._prices[side]
        if not prices:
            return None
        return prices[-1] if side == "buy" else prices[0]

    def orders(self, side: Side) -> Iterator[Order]:
        """The side's resting orders in priority order: best price first, then first come first."""
        queues = self._queues[side]
        for price in self.prices(side):
            yield from queues[price]

    def level_qty(self, side: Side, price: Decimal) -> Decimal:
        return sum((o.remaining for o in self._queues[side].get(price, ())), Decimal(0))

    def levels(self, side: Side, limit: int | None = None) -> list[list[Decimal]]:
        """[price, total quantity] per level, best first."""
        prices = self.prices(side)
        if limit is not None:
            prices = prices[:limit]
        return [[p, self.level_qty(side, p)] for p in prices]

    def pop_changes(self) -> tuple[list[LevelChange], list[LevelChange]]:
        """(bid changes, ask changes) since the last call, each level's new total (0 if gone)."""
        bids = [(p, self.level_qty("buy", p)) for p in sorted(self._touched["buy"], reverse=True)]
        asks = [(p, self.level_qty("sell", p)) for p in sorted(self._touched["sell"])]
        self._touched = {"buy": set(), "sell": set()}
        return bids, asks
