"""The matching engine of a local venue: orders against the resting book, price-time priority.

A taker order walks the opposite side best price first, first come first within a price, trading at
the resting order's price, and stops at its limit price. What it did not fill then rests (LIMIT GTC),
or expires (MARKET, IOC, FOK; FOK trades all or nothing). POST_ONLY (Binance's LIMIT_MAKER) is refused
if it would trade at once. Self-trades expire the resting order (Binance's EXPIRE_MAKER). Each side pays
its own account's maker or taker fee on the asset it receives.

The venue's market maker (`liquidity.maker_ladder`) trades through the same path: `refresh_liquidity`
withdraws its old quotes and posts a ladder around the new mid, so a resting order of ours that the new
quotes cross is filled as maker. Every operation is one book version (`MarketState.update_id`), and
listeners hear of it after it is complete: the depth diff, then order and balance changes. Everything
runs synchronously in the venue's event loop, so an operation is atomic.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
import time
from collections.abc import Callable
from decimal import Decimal

from defibots.cex.book import Side, fee_for, floor_to_step
from defibots.devnet.exchange.accounts import Account
from defibots.devnet.exchange.book import LevelChange
from defibots.devnet.exchange.liquidity import maker_ladder
from defibots.devnet.exchange.market import MarketState
from defibots.devnet.exchange.orders import (
    Execution,
    Order,
    OrderRejected,
    OrderRequest,
    OrderUpdate,
    Trade,
)

COMMISSION_QUANTUM = Decimal("0.00000001")  # commissions are rounded up to 8 decimals, like Binance
MARKET_MAKER_ID = "market-maker"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class VenueListener:
    """Hears what the engine did; the no-op defaults let a listener pick what it needs."""

    def depth_changed(
        self, market: MarketState, update_id: int, bids: list[LevelChange], asks: list[LevelChange]
    ) -> None:
        """The book moved to version `update_id`; `bids`/`asks` are the changed levels' new totals."""

    def order_changed(self, account: Account, update: OrderUpdate) -> None:
        """An order of `account` was accepted, traded, canceled or expired."""

    def balances_changed(self, account: Account, assets: set[str]) -> None:
        """Free or locked balances of these assets changed."""


def _crosses(side: Side, limit: Decimal, resting_price: Decimal) -> bool:
    return resting_price <= limit if side == "buy" else resting_price >= limit


class MatchingEngine:
    """Owns order and trade ids, the orders of every account, and who is told of changes."""

    def __init__(self, clock: Callable[[], int] = now_ms) -> None:
        self.clock = clock
        self.listeners: list[VenueListener] = []
        self.accounts: dict[str, Account] = {}
        self.orders: dict[int, Order] = {}
        self.trades: dict[str, list[Trade]] = {}  # per account id, oldest first
        self.market_maker = Account(MARKET_MAKER_ID, "", "", unlimited=True)
        self._order_ids = itertools.count(1)
        self._trade_ids = itertools.count(1)
        self._by_client: dict[tuple[str, str, str], Order] = {}
        self._order_events: list[tuple[Account, OrderUpdate]] = []
        self._dirty_balances: dict[str, set[str]] = {}

    def add_account(self, account: Account) -> None:
        self.accounts[account.account_id] = account
        self.trades.setdefault(account.account_id, [])

    # ---------------------------------------------------------------- orders

    def submit(self, account: Account, market: MarketState, request: OrderRequest) -> Order:
        """Match, rest or expire a new order; raises OrderRejected (nothing changed) if it cannot be taken."""
        if request.client_id:
            previous = self._by_client.get((account.account_id, market.spec.market_id, request.client_id))
            if previous is not None and (previous.is_open or previous.executed > 0):
                raise OrderRejected("duplicate")
        order = self._match(account, market, request)
        self._commit(market)
        return order

    def cancel(self, account: Account, market: MarketState, order: Order) -> Order:
        """Cancel an open order of `account`; raises OrderRejected("unknown_order") if it is not open."""
        if order.account_id != account.account_id or not order.is_open:
            raise OrderRejected("unknown_order")
        market.book.remove(order)
        self._release(account, market, order, order.locked)
        order.status = "CANCELED"
        order.updated_ms = self.clock()
        self._event(account, order, "CANCELED")
        self._commit(market)
        return order

    def find(
        self, account: Account, market: MarketState, order_id: int | None = None, client_id: str | None = None
    ) -> Order | None:
        """An order of `account` on `market`, by venue id or by client id."""
        order: Order | None
        if order_id is not None:
            order = self.orders.get(order_id)
        elif client_id:
            order = self._by_client.get((account.account_id, market.spec.market_id, client_id))
        else:
            return None
        if (
            order is None
            or order.account_id != account.account_id
            or order.market_id != market.spec.market_id
        ):
            return None
        return order

    def open_orders(self, account: Account, market: MarketState | None = None) -> list[Order]:
        return [
            o
            for o in self.orders.values()
            if o.account_id == account.account_id
            and o.is_open
            and (market is None or o.market_id == market.spec.market_id)
        ]

    # ---------------------------------------------------------------- the market maker

    def refresh_liquidity(self, market: MarketState, rng: random.Random) -> None:
        """Replace the market maker's quotes with a fresh ladder around `market.mid` (one book version)."""
        book = market.book
        for side in ("buy", "sell"):
            for order in [o for o in book.orders(side) if o.account_id == MARKET_MAKER_ID]:
                book.remove(order)
        for side, price, qty in maker_ladder(market.spec, market.mid, rng):
            self._match(self.market_maker, market, OrderRequest(side, "LIMIT", qty=qty, price=price))
        self._commit(market, force=True)

    # ---------------------------------------------------------------- internals

    def _plan(
        self, account: Account, market: MarketState, request: OrderRequest
    ) -> tuple[list[tuple[Order, Decimal]], list[Order]]:
        """What the order would take (resting order, quantity), and own resting orders it would meet."""
        opposite: Side = "sell" if request.side == "buy" else "buy"
        remaining = request.qty
        budget = request.quote_qty
        matches: list[tuple[Order, Decimal]] = []
        own: list[Order] = []
        for maker in market.book.orders(opposite):
            if request.price is not None and not _crosses(request.side, request.price, maker.price):
                break
            if maker.account_id == account.account_id:
                own.append(maker)
                continue
            if budget is not None:
                take = floor_to_step(min(maker.remaining, budget / maker.price), market.spec.lot_size)
                if take <= 0:
                    break
                budget -= take * maker.price
            elif remaining is not None:
                take = min(maker.remaining, remaining)
                remaining -= take
            else:
                break
            matches.append((maker, take))
            if remaining is not None and remaining <= 0:
                break
        return matches, own

    def _match(self, account: Account, market: MarketState, request: OrderRequest) -> Order:
        spec = market.spec
        matches, own = self._plan(account, market, request)
        rests = request.order_type == "LIMIT" and request.time_in_force in ("GTC", "POST_ONLY")
        if request.time_in_force == "POST_ONLY" and (matches or own):
            raise OrderRejected("would_take")
        planned_base = sum((qty for _, qty in matches), Decimal(0))
        if request.time_in_force == "FOK" and planned_base < (request.qty or Decimal(0)):
            matches = []
        if request.side == "buy":
            if rests and request.price is not None and request.qty is not None:
                lock = request.qty * request.price
            else:
                lock = sum((maker.price * qty for maker, qty in matches), Decimal(0))
            lock_asset = spec.quote
        else:
            lock = request.qty if request.qty is not None else planned_base
            lock_asset = spec.base
        account.lock(lock_asset, lock)  # the last check: from here on the order is accepted
        now = self.clock()
        order_id = 0 if account.unlimited else next(self._order_ids)
        order = Order(
            order_id=order_id,
            account_id=account.account_id,
            market_id=spec.market_id,
            request=request,
            client_id=request.client_id or f"local-{order_id}",
            created_ms=now,
            updated_ms=now,
            locked=lock,
        )
        if not account.unlimited:
            self.orders[order_id] = order
            self._by_client[(account.account_id, spec.market_id, order.client_id)] = order
            self._event(account, order, "NEW")
            self._dirty_balances.setdefault(account.account_id, set()).add(lock_asset)
        for maker in own:
            market.book.remove(maker)
            self._release(account, market, maker, maker.locked)
            maker.status = "EXPIRED"
            maker.updated_ms = now
            self._event(account, maker, "EXPIRED")
        for maker, qty in matches:
            self._fill(market, order, account, maker, qty, now)
        if rests and order.remaining > 0:
            keep = order.remaining * order.price if order.side == "buy" else order.remaining
            self._release(account, market, order, order.locked - keep)
            market.book.add(order)
            return order
        self._release(account, market, order, order.locked)
        opposite: Side = "sell" if order.side == "buy" else "buy"
        if request.qty is not None:
            filled = order.remaining <= 0
        else:  # by quote: whole unless the book ran out before the budget did
            filled = order.executed > 0 and market.book.best_price(opposite) is not None
        order.status = "FILLED" if filled else "EXPIRED"
        if account.unlimited:
            return order
        if filled:  # an order by quote learns it is whole only now: its last trade report says so
            for i in range(len(self._order_events) - 1, -1, -1):
                update = self._order_events[i][1]
                if update.order is order and update.execution == "TRADE":
                    self._order_events[i] = (account, dataclasses.replace(update, status="FILLED"))
                    break
        else:
            self._event(account, order, "EXPIRED")
        return order

    def _fill(
        self, market: MarketState, taker: Order, taker_account: Account, maker: Order, qty: Decimal, now: int
    ) -> None:
        spec = market.spec
        price = maker.price
        trade_id = next(self._trade_ids)
        maker_account = self.accounts.get(maker.account_id, self.market_maker)
        for order, account, is_maker in ((maker, maker_account, True), (taker, taker_account, False)):
            if order.side == "buy":
                spent_asset, spent, received_asset, gross = spec.quote, price * qty, spec.base, qty
            else:
                spent_asset, spent, received_asset, gross = spec.base, qty, spec.quote, price * qty
            commission = Decimal(0)
            if not account.unlimited:
                commission = fee_for(gross, account.fee_bps(is_maker), COMMISSION_QUANTUM)
            trade = Trade(
                trade_id=trade_id,
                order_id=order.order_id,
                market_id=spec.market_id,
                side=order.side,
                price=price,
                qty=qty,
                commission=commission,
                commission_asset=received_asset,
                is_maker=is_maker,
                time_ms=now,
            )
            account.settle(spent_asset, spent, received_asset, gross - commission)
            order.locked -= spent
            order.executed += qty
            order.cum_quote += price * qty
            order.updated_ms = now
            order.status = (
                "FILLED" if order.request.qty is not None and order.remaining <= 0 else "PARTIALLY_FILLED"
            )
            if not account.unlimited:
                order.trades.append(trade)
                self.trades[account.account_id].append(trade)
                self._event(account, order, "TRADE", trade)
                self._dirty_balances.setdefault(account.account_id, set()).update(
                    (spent_asset, received_asset)
                )
        if maker.remaining <= 0:
            market.book.remove(maker)
            self._release(maker_account, market, maker, maker.locked)
        else:
            market.book.touch(maker.side, price)
        market.record_trade(trade_id, price, qty)

    def _event(
        self, account: Account, order: Order, execution: Execution, trade: Trade | None = None
    ) -> None:
        update = OrderUpdate(
            order,
            execution,
            order.status,
            order.executed,
            order.cum_quote,
            order.on_book,
            self.clock(),
            trade,
        )
        self._order_events.append((account, update))

    def _release(self, account: Account, market: MarketState, order: Order, amount: Decimal) -> None:
        """Give back `amount` of what `order` holds locked."""
        if amount <= 0:
            return
        asset = market.spec.quote if order.side == "buy" else market.spec.base
        account.unlock(asset, amount)
        order.locked -= amount
        if not account.unlimited:
            self._dirty_balances.setdefault(account.account_id, set()).add(asset)

    def _commit(self, market: MarketState, force: bool = False) -> None:
        """Close the operation: bump the book version if it changed, then tell the listeners."""
        bids, asks = market.book.pop_changes()
        if bids or asks or force:
            market.update_id += 1
            for listener in self.listeners:
                listener.depth_changed(market, market.update_id, bids, asks)
        events, self._order_events = self._order_events, []
        dirty, self._dirty_balances = self._dirty_balances, {}
        for listener in self.listeners:
            for account, update in events:
                listener.order_changed(account, update)
            for account_id, assets in dirty.items():
                listener.balances_changed(self.accounts[account_id], assets)
