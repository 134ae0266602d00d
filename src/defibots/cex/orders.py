"""The ccxt order executor: orders on one venue (ccxt.async_support / ccxt.pro) that are never lost and
never doubled, with every trade and fee journaled as the venue reports it.

- Each order gets a deterministic client order id (`order_cache.client_order_id`). A create that times
  out is first looked up by that id; only if the venue does not know it is the create sent again, with
  the same id, and a "duplicate order" answer (Binance -2010, Bybit 110072) is reconciled by the same
  lookup. The venue refuses a second live order with one client id, so nothing fills twice.
- Outbound orders stay in the `OrderCache` until the venue has confirmed them and they are final with all
  trades journaled. `run_stream` follows the private order stream (`watch_orders`); after a websocket drop
  it reconnects with backoff and reconciles every unsettled order over REST (`fetch_open_orders`,
  `fetch_order` by client id, `fetch_my_trades`).
- Rate limits (HTTP 429/418, -1003) wait out the venue's Retry-After before the next call, so a client
  that keeps sending is never banned.
- Every exception text goes through `secrets.scrub` before it reaches a log line, an error record or the
  journal: ccxt puts signed URLs in timeout messages.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import ccxt.async_support as ccxt_async

from defibots.cex.book import parse_decimal
from defibots.cex.order_cache import OrderCache, OrderIntent, TrackedOrder, VenueFill, client_order_id
from defibots.cex.secrets import register_secret, scrub, scrubbed_logger
from defibots.journal import Journal
from defibots.journal.records import ErrorRecord, Fill, Order

log = logging.getLogger(__name__)
T = TypeVar("T")

# ccxt's unified order status -> the journal's (records.ORDER_STATUSES)
_STATUS = {"closed": "filled", "canceled": "canceled", "expired": "expired", "rejected": "rejected"}
_DUPLICATE_MARKERS = ("Duplicate order", "duplicate", "110072")


@dataclass
class ExecutorStats:
    creates: int = 0
    create_retries: int = 0
    timeouts: int = 0
    duplicates_reconciled: int = 0
    rate_limited: int = 0
    rate_limit_wait_s: float = 0.0
    stream_updates: int = 0
    stream_drops: int = 0
    reconciles: int = 0
    fills: int = 0
    rejects: int = 0


class CexOrderExecutor:
    """Places and tracks orders on one ccxt venue; `exchange` is a ccxt.pro (or async_support) instance with
    keys set, e.g. `ccxt.pro.binance(config)`. The executor owns it from here on (`close` closes it)."""

    def __init__(
        self,
        exchange: Any,
        venue: str,
        journal: Journal | None = None,
        *,
        strategy: str = "",
        prefix: str = "db",
        max_attempts: int = 4,
        backoff_initial_s: float = 0.2,
        backoff_max_s: float = 5.0,
        max_rate_limit_wait_s: float = 65.0,
        reconcile_interval_s: float = 2.0,
    ) -> None:
        self.exchange = exchange
        self.venue = venue
        self.journal = journal
        self.strategy = strategy
        self.prefix = prefix
        self.max_attempts = max_attempts
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.max_rate_limit_wait_s = max_rate_limit_wait_s
        self.reconcile_interval_s = reconcile_interval_s
        self.cache = OrderCache()
        self.stats = ExecutorStats()
        self._secrets = tuple(str(v) for v in (exchange.apiKey, exchange.secret) if v)
        for value in self._secrets:
            register_secret(value)
        exchange.logger = scrubbed_logger()  # ccxt's debug log prints headers and signed URLs
        self._resume_at = 0.0  # monotonic time before which no request may go (rate-limit backoff)
        self._stream_down = False
        self._sending: set[str] = set()  # client ids with a create loop running

    # ---------------------------------------------------------------- lifecycle

    async def open(self) -> None:
        await self._call(self.exchange.load_markets)

    async def close(self) -> None:
        await self.exchange.close()

    async def __aenter__(self) -> CexOrderExecutor:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---------------------------------------------------------------- orders

    def client_id(self, key: str) -> str:
        return client_order_id(self.prefix, f"{self.venue}:{self.strategy}:{key}")

    async def place(self, intent: OrderIntent, key: str) -> TrackedOrder:
        """Send `intent` once under the client id derived from `key`; a second call with the same key
        returns the same order (and resends it only if the venue never got it)."""
        cid = self.client_id(key)
        order = self.cache.add(TrackedOrder(cid, intent))
        if order.state != "pending" or cid in self._sending:
            return order
        self._journal_new(order)
        self._sending.add(cid)
        try:
            return await self._send(order)
        finally:
            self._sending.discard(cid)

    async def _send(self, order: TrackedOrder) -> TrackedOrder:
        """Create until the venue answers: a time-out is looked up by client id before it is resent."""
        cid = order.client_order_id
        for attempt in range(1, self.max_attempts + 1):
            order.attempts += 1
            self.stats.creates += 1
            if attempt > 1:
                self.stats.create_retries += 1
            try:
                reply = await self._call(self._create, order)
            except ccxt_async.RequestTimeout as exc:
                self.stats.timeouts += 1
                self._error("timeout", f"create {cid} timed out (attempt {attempt})", exc)
            except ccxt_async.NetworkError as exc:
                self._error("network", f"create {cid} failed (attempt {attempt})", exc)
            except ccxt_async.InvalidOrder as exc:
                if not any(marker in str(exc) for marker in _DUPLICATE_MARKERS):
                    self._reject(order, exc)
                    return order
                self.stats.duplicates_reconciled += 1
            except ccxt_async.ExchangeError as exc:  # insufficient funds, bad symbol, auth: final
                self._reject(order, exc)
                return order
            else:
                await self._apply(order, reply)
                if reply.get("status") is None:  # an acknowledgement only (Bybit's create): ask for the state
                    await self.reconcile_order(order)
                return order
            if await self.reconcile_order(order):
                return order
            await asyncio.sleep(self._backoff(attempt))
        order.error = f"no answer after {self.max_attempts} attempts; kept for reconciliation"
        self._error("unconfirmed", f"order {cid}: {order.error}")
        return order

    async def cancel(self, order: TrackedOrder) -> TrackedOrder:
        """Cancel a resting order; an order that is already gone is reconciled instead."""
        if order.state == "closed":
            return order
        try:
            reply = await self._call(
                self.exchange.cancel_order, order.venue_order_id, order.intent.symbol, self._id_params(order)
            )
        except ccxt_async.OrderNotFound:
            await self.reconcile_order(order)
            return order
        await self._apply(order, reply)
        return order

    async def _create(self, order: TrackedOrder) -> Any:
        intent = order.intent
        params: dict[str, Any] = {"clientOrderId": order.client_order_id}
        if intent.time_in_force is not None:
            params["timeInForce"] = intent.time_in_force
        price = None if intent.price is None else float(intent.price)
        return await self.exchange.create_order(
            intent.symbol, intent.type, intent.side, float(intent.amount), price, params
        )

    def _id_params(self, order: TrackedOrder) -> dict[str, Any]:
        if self.exchange.id == "bybit":
            return {"orderLinkId": order.client_order_id, "acknowledged": True}
        return {"clientOrderId": order.client_order_id}

    # ---------------------------------------------------------------- reconciliation

    async def reconcile_order(self, order: TrackedOrder) -> bool:
        """Ask the venue about one order by our client id; False if it does not know it (or is down)."""
        try:
            reply = await self._call(
                self.exchange.fetch_order, order.venue_order_id, order.intent.symbol, self._id_params(order)
            )
        except ccxt_async.OrderNotFound:
            return False
        except (ccxt_async.NetworkError, ccxt_async.ExchangeError) as exc:
            self._error("reconcile", f"cannot look up order {order.client_order_id}", exc)
            return False
        await self._apply(order, reply)
        return True

    async def reconcile(self) -> None:
        """Bring every unsettled order up to date over REST: one `fetch_open_orders` per symbol, then
        `fetch_order` for the ones no longer open, then their trades."""
        self.stats.reconciles += 1
        unsettled = self.cache.unsettled()
        for symbol in sorted({o.intent.symbol for o in unsettled}):
            try:
                open_orders = await self._call(self.exchange.fetch_open_orders, symbol)
            except (ccxt_async.NetworkError, ccxt_async.ExchangeError) as exc:
                self._error("reconcile", f"cannot list open orders on {symbol}", exc)
                continue
            seen = set()
            for reply in open_orders:
                tracked = self.cache.get(str(reply.get("clientOrderId") or ""))
                if tracked is not None:
                    seen.add(tracked.client_order_id)
                    await self._apply(tracked, reply)
            for order in unsettled:
                if order.intent.symbol != symbol or order.client_order_id in seen:
                    continue
                found = await self.reconcile_order(order)
                if not found and order.state == "pending" and order.client_order_id not in self._sending:
                    await self.place_again(order)  # the venue never got it: resend under the same id

    async def place_again(self, order: TrackedOrder) -> TrackedOrder:
        """Resend a pending order the venue does not know (its create never arrived)."""
        self._sending.add(order.client_order_id)
        try:
            return await self._send(order)
        finally:
            self._sending.discard(order.client_order_id)

    async def _apply(self, order: TrackedOrder, reply: Mapping[str, Any]) -> None:
        """Fold one ccxt order (a create reply, a fetch or a stream update) into the cache and journal."""
        status = self._status(reply)
        filled = parse_decimal(reply.get("filled") or 0)
        before = (order.status, order.venue_order_id)
        self.cache.confirm(order, str(reply["id"]), status, filled)
        if (
            self.journal is not None
            and order.journal_id is not None
            and before
            != (
                order.status,
                order.venue_order_id,
            )
        ):
            self.journal.update_order(order.journal_id, order.status, order.venue_order_id)
        if order.needs_trades:
            self._add_fills(order, reply.get("trades") or [])
        if order.needs_trades:
            await self._fetch_fills(order)
        self.cache.settle(order)

    async def _fetch_fills(self, order: TrackedOrder) -> None:
        params = {"orderId": order.venue_order_id}
        try:
            trades = await self._call(self.exchange.fetch_my_trades, order.intent.symbol, None, None, params)
        except (ccxt_async.NetworkError, ccxt_async.ExchangeError) as exc:
            self._error("reconcile", f"cannot fetch trades of {order.client_order_id}", exc)
            return
        self._add_fills(order, trades)

    def _add_fills(self, order: TrackedOrder, trades: Sequence[Mapping[str, Any]]) -> None:
        """Journal each trade of `order` not seen before (by the venue's trade id), fee as reported."""
        for trade in trades:
            trade_id = trade.get("id")
            if trade_id is None or str(trade.get("order") or order.venue_order_id) != order.venue_order_id:
                continue
            if str(trade_id) in order.fills:
                continue
            fee = trade.get("fee") or {}
            fill = VenueFill(
                trade_id=str(trade_id),
                price=parse_decimal(trade["price"]),
                amount=parse_decimal(trade["amount"]),
                fee=parse_decimal(fee.get("cost") or 0),
                fee_currency=str(fee.get("currency") or ""),
            )
            order.fills[fill.trade_id] = fill
            self.stats.fills += 1
            if self.journal is not None and order.journal_id is not None:
                self.journal.record_fill(
                    Fill(
                        order_id=order.journal_id,
                        price=fill.price,
                        amount=fill.amount,
                        fee=fill.fee,
                        fee_currency=fill.fee_currency,
                        venue_trade_id=fill.trade_id,
                    )
                )

    @staticmethod
    def _status(reply: Mapping[str, Any]) -> str:
        status = str(reply.get("status") or "open")
        if status in _STATUS:
            return _STATUS[status]
        filled = reply.get("filled") or 0
        return "partially_filled" if filled else "open"

    # ---------------------------------------------------------------- the private stream

    async def run_stream(self) -> None:
        """Follow `watch_orders` forever; a drop is counted, waited out with backoff, and followed by a REST
        reconciliation of every unsettled order once the stream is subscribed again."""
        failures = 0
        while True:
            watch = asyncio.ensure_future(self.exchange.watch_orders())
            try:
                if self._stream_down:
                    await asyncio.sleep(0.05)  # let the resubscription go out before the REST lookups
                    await self.reconcile()
                    self._stream_down = False
                while True:
                    done, _ = await asyncio.wait({watch}, timeout=self.reconcile_interval_s)
                    if done:
                        break
                    if self.cache.unsettled():  # a quiet stream does not leave an order unreconciled
                        await self.reconcile()
                updates = watch.result()
            except asyncio.CancelledError:
                watch.cancel()
                raise
            except (ccxt_async.NetworkError, ccxt_async.ExchangeError) as exc:
                failures += 1
                self.stats.stream_drops += 1
                self._stream_down = True
                self._error("stream", "order stream dropped; reconnecting", exc)
                await asyncio.sleep(self._backoff(failures))
                continue
            failures = 0
            for update in updates:
                self.stats.stream_updates += 1
                tracked = self.cache.get(str(update.get("clientOrderId") or ""))
                if tracked is None and update.get("id") is not None:
                    tracked = self.cache.by_venue_id(str(update["id"]))
                if tracked is not None:
                    await self._apply(tracked, update)

    # ---------------------------------------------------------------- calls, backoff, errors

    async def _call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """One REST call that respects the venue's Retry-After: a 429/418 waits, then tries again."""
        waited = 0.0
        while True:
            delay = self._resume_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                return await fn(*args)
            except ccxt_async.DDoSProtection as exc:  # 429/418 and -1003
                wait = self._retry_after()
                self.stats.rate_limited += 1
                waited += wait
                if waited > self.max_rate_limit_wait_s:
                    raise
                self._error("rate_limit", f"rate limited; waiting {wait:g}s as told", exc)
                self.stats.rate_limit_wait_s += wait
                self._resume_at = time.monotonic() + wait

    def _retry_after(self) -> float:
        headers = getattr(self.exchange, "last_response_headers", None) or {}
        for name, value in dict(headers).items():
            if name.lower() == "retry-after":
                try:
                    return max(float(value), 0.1)
                except ValueError:
                    break
        return self.backoff_max_s

    def _backoff(self, failures: int) -> float:
        return float(min(self.backoff_initial_s * 2 ** (failures - 1), self.backoff_max_s))

    def _journal_new(self, order: TrackedOrder) -> None:
        if self.journal is None or order.journal_id is not None:
            return
        existing = self.journal.order_by_client_id(self.venue, order.client_order_id)
        if existing is not None:
            order.journal_id = existing.id
            return
        intent = order.intent
        order.journal_id = self.journal.record_order(
            Order(
                venue=self.venue,
                symbol=intent.symbol,
                client_order_id=order.client_order_id,
                side=intent.side,
                type=intent.type,
                amount=intent.amount,
                price=intent.price,
                strategy=self.strategy,
                details={"time_in_force": intent.time_in_force} if intent.time_in_force else {},
            )
        )

    def _reject(self, order: TrackedOrder, exc: BaseException) -> None:
        self.stats.rejects += 1
        self.cache.confirm(order, "", "rejected", order.filled)
        order.error = self.scrub(str(exc))
        if self.journal is not None and order.journal_id is not None:
            self.journal.update_order(order.journal_id, "rejected")
        self._error("reject", f"order {order.client_order_id} rejected", exc)

    def scrub(self, text: str) -> str:
        return scrub(text, self._secrets)

    def _error(self, kind: str, what: str, exc: BaseException | None = None) -> None:
        """Log and journal one problem; the exception text is scrubbed first."""
        message = what if exc is None else f"{what}: {type(exc).__name__}: {self.scrub(str(exc))}"
        log.warning("%s %s", self.venue, message)
        if self.journal is not None:
            self.journal.record_error(ErrorRecord(source=f"cex:{self.venue}", kind=kind, message=message))


def total_fees(orders: Sequence[TrackedOrder]) -> dict[str, Decimal]:
    """Fees per currency over `orders`, as the venue charged them."""
    totals: dict[str, Decimal] = {}
    for order in orders:
        for currency, fee in order.fees.items():
            totals[currency] = totals.get(currency, Decimal(0)) + fee
    return totals
