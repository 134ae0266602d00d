"""Normalized top of book across venues: one record per update, `event_time` then per venue the symbol,
top bid and its quantity, top ask and its quantity (the seed's format), the last 24 h kept in memory.

Each venue is a `BookSource`: `WatchedBook` follows ccxt.pro's `watch_order_book` (the venue pushes
diffs), `PolledBook` asks `fetch_order_book` on a cadence (for a venue without a depth stream, as the
local Bybit venue). `MultiVenueTop` merges them: whenever one venue's top changes it emits a
`NormalizedTop` holding the latest top of every venue, appends it to a `TopHistory` (a deque bounded by
time and by count), and yields it on the bus for strategies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt_async

from defibots.cex.book import parse_decimal
from defibots.engine import Collector
from defibots.events import Event

log = logging.getLogger(__name__)
DAY_MS = 24 * 3600 * 1000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class VenueTop:
    """One venue's best bid and ask of one symbol, exact Decimals."""

    venue: str
    symbol: str
    bid: Decimal
    bid_qty: Decimal
    ask: Decimal
    ask_qty: Decimal
    time_ms: int = field(compare=False)

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2

    def same_top(self, other: VenueTop | None) -> bool:
        return other is not None and (self.bid, self.bid_qty, self.ask, self.ask_qty) == (
            other.bid,
            other.bid_qty,
            other.ask,
            other.ask_qty,
        )


@dataclass(frozen=True, slots=True)
class NormalizedTop(Event):
    """One update of the multi-venue view: the latest top of every venue heard from so far."""

    event_time: int  # ms since the epoch, when the update that caused this record arrived
    venues: tuple[VenueTop, ...]
    updated: str = ""  # the venue whose change produced this record

    def top(self, venue: str) -> VenueTop | None:
        return next((v for v in self.venues if v.venue == venue), None)

    def record(self) -> dict[str, Any]:
        """The seed's flat record: event_time, then per venue symbol, bid, bid_qty, ask, ask_qty."""
        out: dict[str, Any] = {"event_time": self.event_time}
        for v in self.venues:
            out[v.venue] = {
                "symbol": v.symbol,
                "bid": str(v.bid),
                "bid_qty": str(v.bid_qty),
                "ask": str(v.ask),
                "ask_qty": str(v.ask_qty),
            }
        return out


class TopHistory:
    """The last `horizon_ms` of records (at most `max_records`), oldest first; queries by time."""

    def __init__(self, horizon_ms: int = DAY_MS, max_records: int = 2_000_000) -> None:
        self.horizon_ms = horizon_ms
        self._records: deque[NormalizedTop] = deque(maxlen=max_records)

    def __len__(self) -> int:
        return len(self._records)

    def add(self, record: NormalizedTop) -> None:
        self._records.append(record)
        cutoff = record.event_time - self.horizon_ms
        while self._records and self._records[0].event_time < cutoff:
            self._records.popleft()

    def latest(self) -> NormalizedTop | None:
        return self._records[-1] if self._records else None

    def window(self, start_ms: int, end_ms: int | None = None) -> list[NormalizedTop]:
        """Records with start_ms <= event_time <= end_ms (end: now)."""
        end = now_ms() if end_ms is None else end_ms
        return [r for r in self._records if start_ms <= r.event_time <= end]


def top_from_ccxt(venue: str, symbol: str, book: Any) -> VenueTop | None:
    """The top of a ccxt unified order book; None while a side is empty."""
    bids, asks = book.get("bids") or [], book.get("asks") or []
    if not bids or not asks:
        return None
    stamp = book.get("timestamp")
    return VenueTop(
        venue=venue,
        symbol=symbol,
        bid=parse_decimal(bids[0][0]),
        bid_qty=parse_decimal(bids[0][1]),
        ask=parse_decimal(asks[0][0]),
        ask_qty=parse_decimal(asks[0][1]),
        time_ms=int(stamp) if stamp else now_ms(),
    )


class BookSource(ABC):
    """One venue's book of one symbol, as a stream of tops. Owns its ccxt client (closed by `close`)."""

    def __init__(self, exchange: Any, venue: str, symbol: str) -> None:
        self.exchange = exchange
        self.venue = venue
        self.symbol = symbol

    @abstractmethod
    async def next_top(self) -> VenueTop | None:
        """The top after the next book update (None if a side is empty)."""

    async def close(self) -> None:
        await self.exchange.close()


class WatchedBook(BookSource):
    """ccxt.pro `watch_order_book`: the venue pushes depth diffs, ccxt merges them onto a snapshot."""

    async def next_top(self) -> VenueTop | None:
        return top_from_ccxt(self.venue, self.symbol, await self.exchange.watch_order_book(self.symbol))


class PolledBook(BookSource):
    """REST `fetch_order_book` every `interval_s`, for a venue without a depth stream."""

    def __init__(self, exchange: Any, venue: str, symbol: str, interval_s: float = 0.2, depth: int = 5):
        super().__init__(exchange, venue, symbol)
        self.interval_s = interval_s
        self.depth = depth
        self._polled = False

    async def next_top(self) -> VenueTop | None:
        if self._polled:
            await asyncio.sleep(self.interval_s)
        self._polled = True
        return top_from_ccxt(
            self.venue, self.symbol, await self.exchange.fetch_order_book(self.symbol, self.depth)
        )


@dataclass
class TopStats:
    updates: int = 0  # venue updates handled
    records: int = 0  # normalized records emitted (top changed)
    errors: int = 0


class MultiVenueTop(Collector):
    """Merges venue book sources into `NormalizedTop` records; each source reconnects on its own."""

    def __init__(
        self,
        sources: Sequence[BookSource],
        history: TopHistory | None = None,
        *,
        backoff_initial_s: float = 0.2,
        backoff_max_s: float = 10.0,
        queue_size: int = 10_000,
    ) -> None:
        self.sources = list(sources)
        self.history = history if history is not None else TopHistory()
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.stats = TopStats()
        self.latest: dict[str, VenueTop] = {}
        self._queue: asyncio.Queue[VenueTop] = asyncio.Queue(queue_size)

    @property
    def name(self) -> str:
        return "cex:top-of-book"

    async def _pump(self, source: BookSource) -> None:
        failures = 0
        while True:
            try:
                top = await source.next_top()
            except (ccxt_async.NetworkError, ccxt_async.ExchangeError) as exc:
                failures += 1
                self.stats.errors += 1
                delay = min(self.backoff_initial_s * 2 ** (failures - 1), self.backoff_max_s)
                log.warning(
                    "%s %s book: %s; retry in %.2fs", source.venue, source.symbol, type(exc).__name__, delay
                )
                await asyncio.sleep(delay)
                continue
            failures = 0
            if top is not None:
                await self._queue.put(top)

    def apply(self, top: VenueTop) -> NormalizedTop | None:
        """Fold one venue update in; the new normalized record if that venue's top changed."""
        self.stats.updates += 1
        if top.same_top(self.latest.get(top.venue)):
            return None
        self.latest[top.venue] = top
        record = NormalizedTop(
            event_time=now_ms(),
            venues=tuple(self.latest[s.venue] for s in self.sources if s.venue in self.latest),
            updated=top.venue,
        )
        self.history.add(record)
        self.stats.records += 1
        return record

    async def events(self) -> AsyncIterator[Event]:
        pumps = [asyncio.ensure_future(self._pump(s)) for s in self.sources]
        try:
            while True:
                record = self.apply(await self._queue.get())
                if record is not None:
                    yield record
        finally:
            for pump in pumps:
                pump.cancel()
            for pump in pumps:
                with contextlib.suppress(asyncio.CancelledError):
                    await pump

    async def close(self) -> None:
        for source in self.sources:
            await source.close()
