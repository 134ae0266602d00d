"""Best bid/ask and depth from a centralized exchange through ccxt, as `BookTop` events for the engine.

Numbers: ccxt parses every number to a Python float (order-book levels always go through `safe_float`,
whatever `exchange.number` says), so the exchange's decimal strings cannot be had through the unified
API. A float's `repr` is the shortest decimal that reads back to the same float, so for any exchange
string of at most 15 significant digits (Binance prints 8 decimals: every price below 10^7)
`Decimal(repr(x))` is exactly the exchange's value. The feed converts that way, once, at the edge;
everything after it is Decimal (see defibots.cex.book).

Errors: at start-up an unknown symbol, bad credentials or an exchange that stays unreachable become one
`UserError` line. While polling, ccxt's NetworkError family (timeouts, 5xx, rate limits) and
ExchangeErrors are counted in `stats` and retried with exponential backoff; the loop never dies of them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import ccxt.async_support as ccxt_async

from defibots.cex.book import Depth, Level, parse_decimal
from defibots.cex.events import BookTop
from defibots.config import CexSettings
from defibots.engine import Collector
from defibots.errors import UserError
from defibots.events import Event

log = logging.getLogger(__name__)

# Per exchange: keep load_markets to spot and public endpoints (binance would also load futures
# markets from fapi/dapi and, with keys, margin pairs and currencies from sapi).
SPOT_ONLY_OPTIONS: dict[str, dict[str, Any]] = {
    "binance": {
        "defaultType": "spot",
        "fetchMarkets": {"types": ["spot"]},
        "fetchCurrencies": False,
        "fetchMargins": False,
    },
}


def rebase_urls(urls: Any, base_url: str) -> Any:
    """The same endpoint map with every URL's scheme and host replaced by `base_url` (paths kept)."""
    if isinstance(urls, str):
        parts = urlsplit(urls)
        if not parts.scheme:
            return urls
        base = urlsplit(base_url)
        return urlunsplit((base.scheme, base.netloc, base.path.rstrip("/") + parts.path, parts.query, ""))
    if isinstance(urls, dict):
        return {key: rebase_urls(value, base_url) for key, value in urls.items()}
    return urls


def make_exchange(
    exchange_id: str,
    *,
    url_override: str | None = None,
    api_key: str | None = None,
    secret: str | None = None,
    options: Mapping[str, Any] | None = None,
    timeout_ms: int = 10_000,
) -> Any:
    """A ccxt async exchange; with `url_override` every API URL points at that host (local exchange)."""
    exchange_class = getattr(ccxt_async, exchange_id, None)
    if exchange_class is None or exchange_id not in ccxt_async.exchanges:
        raise UserError(f"unknown exchange {exchange_id!r} (not a ccxt exchange id)")
    merged = {**SPOT_ONLY_OPTIONS.get(exchange_id, {}), **(options or {})}
    config: dict[str, Any] = {"options": merged, "timeout": timeout_ms, "enableRateLimit": True}
    if api_key is not None:
        config["apiKey"] = api_key
    if secret is not None:
        config["secret"] = secret
    exchange = exchange_class(config)
    if url_override is not None:
        exchange.urls["api"] = rebase_urls(exchange.urls["api"], url_override)
    return exchange


def depth_from_ccxt(venue: str, symbol: str, book: Mapping[str, Any], fallback_ms: int) -> Depth:
    """ccxt's unified order book as an exact `Depth`; raises ValueError on malformed levels."""
    bids = tuple(Level(parse_decimal(p), parse_decimal(q)) for p, q, *_ in book.get("bids") or [] if q)
    asks = tuple(Level(parse_decimal(p), parse_decimal(q)) for p, q, *_ in book.get("asks") or [] if q)
    timestamp = book.get("timestamp")
    nonce = book.get("nonce")
    return Depth(
        venue=venue,
        symbol=symbol,
        bids=bids,
        asks=asks,
        timestamp_ms=int(timestamp) if timestamp else fallback_ms,
        nonce=int(nonce) if nonce is not None else None,
    )


@dataclass
class FeedStats:
    polls: int = 0
    events: int = 0
    network_errors: int = 0
    exchange_errors: int = 0
    malformed: int = 0
    consecutive_failures: int = 0
    last_error: str | None = None


class CexFeed(Collector):
    """Polls order books of `symbols` and yields a `BookTop` (with its `Depth`) whenever the top changes.

    `timestamp_ms` is the exchange's book time when it sends one (Binance spot does not), else the local
    wall clock when the reply arrived.
    """

    def __init__(
        self,
        exchange_id: str,
        symbols: Sequence[str],
        url_override: str | None = None,
        *,
        api_key: str | None = None,
        secret: str | None = None,
        options: Mapping[str, Any] | None = None,
        poll_interval_s: float = 1.0,
        depth_limit: int = 20,
        emit_unchanged: bool = False,
        backoff_initial_s: float = 0.25,
        backoff_max_s: float = 30.0,
        startup_attempts: int = 3,
        venue: str | None = None,
    ) -> None:
        if not symbols:
            raise UserError("the CEX feed needs at least one symbol")
        self.exchange_id = exchange_id
        self.symbols = list(dict.fromkeys(symbols))
        self.venue = venue or exchange_id
        self.poll_interval_s = poll_interval_s
        self.depth_limit = depth_limit
        self.emit_unchanged = emit_unchanged
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.startup_attempts = startup_attempts
        self.stats = FeedStats()
        self.exchange: Any = make_exchange(
            exchange_id, url_override=url_override, api_key=api_key, secret=secret, options=options
        )
        self._opened = False
        self._last_top: dict[str, tuple[Any, ...]] = {}
        self.latest: dict[str, BookTop] = {}

    @classmethod
    def from_settings(cls, cex: CexSettings, **options: Any) -> CexFeed:
        """The feed `[cex]` in defibots.toml describes (exchange, url, symbols); keywords override."""
        return cls(cex.exchange, cex.symbols, cex.url, **options)

    @property
    def name(self) -> str:
        return f"cex:{self.venue}"

    async def open(self) -> None:
        """Load markets and check every symbol exists; problems a user can fix become a UserError."""
        if self._opened:
            return
        for attempt in range(1, self.startup_attempts + 1):
            try:
                await self.exchange.load_markets()
                break
            except ccxt_async.AuthenticationError as exc:
                raise UserError(f"{self.venue}: credentials rejected ({exc})") from None
            except ccxt_async.NetworkError as exc:
                self.stats.network_errors += 1
                if attempt == self.startup_attempts:
                    raise UserError(f"{self.venue} unreachable after {attempt} attempts: {exc}") from None
                await asyncio.sleep(self._backoff(attempt))
            except ccxt_async.ExchangeError as exc:
                raise UserError(f"{self.venue}: cannot load markets ({exc})") from None
        missing = [s for s in self.symbols if s not in self.exchange.markets]
        if missing:
            raise UserError(f"{self.venue} has no market {', '.join(missing)}")
        self._opened = True

    def _backoff(self, failures: int) -> float:
        return float(min(self.backoff_initial_s * 2 ** (failures - 1), self.backoff_max_s))

    async def fetch_depth(self, symbol: str) -> Depth:
        book = await self.exchange.fetch_order_book(symbol, self.depth_limit)
        return depth_from_ccxt(self.venue, symbol, book, time.time_ns() // 1_000_000)

    async def poll_once(self) -> list[BookTop]:
        """One round over all symbols; returns the tops that changed (all of them if `emit_unchanged`)."""
        await self.open()
        self.stats.polls += 1
        results = await asyncio.gather(*(self.fetch_depth(s) for s in self.symbols), return_exceptions=True)
        tops: list[BookTop] = []
        failed: BaseException | None = None
        for symbol, result in zip(self.symbols, results, strict=True):
            if isinstance(result, ccxt_async.NetworkError):
                self.stats.network_errors += 1
                failed = result
            elif isinstance(result, ccxt_async.ExchangeError):
                self.stats.exchange_errors += 1
                failed = result
            elif isinstance(result, ValueError):
                self.stats.malformed += 1
                log.warning("%s %s: malformed order book: %s", self.venue, symbol, result)
            elif isinstance(result, BaseException):
                raise result
            else:
                top = self._top(result)
                if top is not None:
                    tops.append(top)
        if failed is not None:
            self.stats.last_error = f"{type(failed).__name__}: {failed}"
            raise failed
        return tops

    def _top(self, depth: Depth) -> BookTop | None:
        bid, ask = depth.best_bid, depth.best_ask
        if bid is None or ask is None:
            return None
        key = (bid.price, bid.qty, ask.price, ask.qty)
        if not self.emit_unchanged and self._last_top.get(depth.symbol) == key:
            return None
        self._last_top[depth.symbol] = key
        top = BookTop(
            venue=self.venue,
            symbol=depth.symbol,
            bid=bid.price,
            bid_qty=bid.qty,
            ask=ask.price,
            ask_qty=ask.qty,
            timestamp_ms=depth.timestamp_ms,
            depth=depth,
        )
        self.latest[depth.symbol] = top
        return top

    async def events(self) -> AsyncIterator[Event]:
        await self.open()
        while True:
            try:
                tops = await self.poll_once()
            except (ccxt_async.NetworkError, ccxt_async.ExchangeError) as exc:
                self.stats.consecutive_failures += 1
                delay = self._backoff(self.stats.consecutive_failures)
                log.warning("%s poll failed (%s); retry in %.2fs", self.venue, exc, delay)
                await asyncio.sleep(delay)
                continue
            self.stats.consecutive_failures = 0
            for top in tops:
                self.stats.events += 1
                yield top
            await asyncio.sleep(self.poll_interval_s)

    async def close(self) -> None:
        await self.exchange.close()
