"""Closed CEX candles on the engine's bus, from ccxt's `fetch_ohlcv` (the venue's own REST klines).

Only closed candles are published: the last row a venue returns is the candle still forming, and a
signal computed on it would flip back and forth within the bar.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from defibots.cex.book import parse_decimal
from defibots.engine import Collector
from defibots.errors import UserError
from defibots.events import Event

TIMEFRAME_MS = {"1s": 1_000, "1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000, "4h": 14_400_000,
                "1d": 86_400_000}  # fmt: skip


@dataclass(frozen=True, slots=True)
class CandlesClosed(Event):
    """The latest `len(closes)` closed candles of one symbol, oldest first; `open_ms` of the newest."""

    venue: str
    symbol: str
    timeframe: str
    open_ms: int
    closes: tuple[Decimal, ...]


def closed_rows(rows: list[list[Any]], timeframe_ms: int, now_ms: int) -> list[list[Any]]:
    """The rows whose bar has ended by `now_ms`."""
    return [r for r in rows if int(r[0]) + timeframe_ms <= now_ms]


class CandleFeed(Collector):
    """Polls `fetch_ohlcv` every `poll_s`; publishes each newly closed candle with the history behind it."""

    def __init__(
        self, client: Any, venue: str, symbol: str, timeframe: str, history: int, poll_s: float
    ) -> None:
        if timeframe not in TIMEFRAME_MS:
            raise UserError(f"unknown candle timeframe {timeframe!r} (known: {', '.join(TIMEFRAME_MS)})")
        self.client, self.venue, self.symbol, self.timeframe = client, venue, symbol, timeframe
        self.history, self.poll_s = history, poll_s
        self.last_open_ms = -1

    async def events(self) -> AsyncIterator[Event]:
        step = TIMEFRAME_MS[self.timeframe]
        while True:
            rows = await self.client.fetch_ohlcv(self.symbol, self.timeframe, limit=self.history + 1)
            done = closed_rows(rows, step, int(time.time() * 1000))
            if done and int(done[-1][0]) > self.last_open_ms:
                self.last_open_ms = int(done[-1][0])
                closes = tuple(parse_decimal(r[4]) for r in done[-self.history :])
                yield CandlesClosed(self.venue, self.symbol, self.timeframe, self.last_open_ms, closes)
            await asyncio.sleep(self.poll_s)

    async def close(self) -> None:
        await self.client.close()
