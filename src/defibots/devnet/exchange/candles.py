"""The local exchange's price history as OHLCV candles (Binance `GET /api/v3/klines`, what ccxt's
`fetch_ohlcv` reads): every mid the market maker quotes around and every trade is a print, trades with
their volume. A bucket with no print repeats the last close, as an exchange's chart does."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from decimal import Decimal

INTERVAL_MS = {
    "1s": 1_000, "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
    "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000, "8h": 28_800_000,
    "12h": 43_200_000, "1d": 86_400_000,
}  # fmt: skip
"""Binance's spot kline intervals (the weekly and monthly ones left out)."""

MAX_PRINTS = 200_000


@dataclass(frozen=True)
class Candle:
    open_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    quote_volume: Decimal
    trades: int


@dataclass
class PriceHistory:
    """Prints in time order (timestamps never go back: a print stamped earlier is stamped at the last)."""

    times: list[int] = field(default_factory=list)
    prices: list[Decimal] = field(default_factory=list)
    qtys: list[Decimal] = field(default_factory=list)

    def record(self, t_ms: int, price: Decimal, qty: Decimal = Decimal(0)) -> None:
        if self.times and t_ms < self.times[-1]:
            t_ms = self.times[-1]
        self.times.append(t_ms)
        self.prices.append(price)
        self.qtys.append(qty)
        if len(self.times) > MAX_PRINTS:
            drop = len(self.times) - MAX_PRINTS
            del self.times[:drop], self.prices[:drop], self.qtys[:drop]

    def candles(self, interval_ms: int, start_ms: int | None, end_ms: int, limit: int) -> list[Candle]:
        """Up to `limit` candles from `start_ms` (default: the latest `limit` up to `end_ms`)."""
        if not self.times:
            return []
        first = self.times[0] - self.times[0] % interval_ms
        last = end_ms - end_ms % interval_ms
        begin = first if start_ms is None else max(first, start_ms - start_ms % interval_ms)
        if start_ms is None:
            begin = max(first, last - (limit - 1) * interval_ms)
        out: list[Candle] = []
        i = bisect.bisect_left(self.times, begin)
        close = self.prices[i - 1] if i > 0 else self.prices[0]
        t = begin
        while t <= last and len(out) < limit:
            j = bisect.bisect_left(self.times, t + interval_ms, lo=i)
            if j > i:
                window = self.prices[i:j]
                volume = sum(self.qtys[i:j], Decimal(0))
                quote = sum((p * q for p, q in zip(window, self.qtys[i:j], strict=True)), Decimal(0))
                trades = sum(1 for q in self.qtys[i:j] if q > 0)
                out.append(Candle(t, window[0], max(window), min(window), window[-1], volume, quote, trades))
                close = window[-1]
            else:
                out.append(Candle(t, close, close, close, close, Decimal(0), Decimal(0), 0))
            i, t = j, t + interval_ms
        return out
