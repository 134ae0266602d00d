"""The normalized multi-venue top of book from two local venues through real ccxt: binance over
ccxt.pro's depth stream, bybit polled over REST; each record holds every venue's exact top, and the
history keeps only its time horizon."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal as D
from typing import Any

import ccxt.async_support as ccxt_async
import ccxt.pro as ccxtpro

from defibots.cex.top_of_book import MultiVenueTop, NormalizedTop, PolledBook, TopHistory, WatchedBook
from defibots.devnet.exchange import LocalExchange, MarketSpec, ccxt_config

ETH = MarketSpec("ETH/USDT", D("3000"))


@contextlib.asynccontextmanager
async def two_venues(history: TopHistory | None = None) -> AsyncIterator[tuple[Any, Any, MultiVenueTop]]:
    async with (
        LocalExchange(None, [ETH], venue="binance", seed=1) as binance,
        LocalExchange(None, [ETH], venue="bybit", seed=2) as bybit,
    ):
        sources = [
            WatchedBook(ccxtpro.binance(ccxt_config(binance.url, "binance")), "binance", "ETH/USDT"),
            PolledBook(
                ccxt_async.bybit(ccxt_config(bybit.url, "bybit")), "bybit", "ETH/USDT", interval_s=0.05
            ),
        ]
        top = MultiVenueTop(sources, history)
        try:
            yield binance, bybit, top
        finally:
            await top.close()


def expected(ex: LocalExchange) -> tuple[D, D, D, D]:
    depth = ex.depth("ETH/USDT")
    bid, ask = depth.best_bid, depth.best_ask
    assert bid is not None and ask is not None
    return bid.price, bid.qty, ask.price, ask.qty


async def until(events: AsyncIterator[Any], done: Any, timeout_s: float = 5.0) -> NormalizedTop:
    async def wait() -> NormalizedTop:
        async for event in events:
            assert isinstance(event, NormalizedTop)
            if done(event):
                return event
        raise AssertionError("stream ended")

    return await asyncio.wait_for(wait(), timeout_s)


def matches(record: NormalizedTop, venue: str, ex: LocalExchange) -> bool:
    top = record.top(venue)
    return top is not None and (top.bid, top.bid_qty, top.ask, top.ask_qty) == expected(ex)


async def test_records_follow_both_venues_moving_mids_exactly() -> None:
    async with two_venues() as (binance, bybit, top):
        events = top.events()
        try:
            first = await until(events, lambda r: len(r.venues) == 2)
            assert matches(first, "binance", binance) and matches(first, "bybit", bybit)
            for step, (b_mid, y_mid) in enumerate(
                [("3010.5", "3011.25"), ("2990", "2989.1"), ("3100", "3101")]
            ):
                binance.set_mid("ETH/USDT", b_mid)
                bybit.set_mid("ETH/USDT", y_mid)
                record = await until(
                    events, lambda r: matches(r, "binance", binance) and matches(r, "bybit", bybit)
                )
                flat = record.record()
                assert list(flat) == ["event_time", "binance", "bybit"]
                assert flat["binance"]["symbol"] == flat["bybit"]["symbol"] == "ETH/USDT"
                assert D(flat["binance"]["bid"]) < D(b_mid) < D(flat["binance"]["ask"]), step
                assert D(flat["bybit"]["bid"]) < D(y_mid) < D(flat["bybit"]["ask"]), step
                assert top.history.latest() == record
            assert top.stats.updates >= top.stats.records == len(top.history) >= 4
            everything = top.history.window(first.event_time)
            assert everything[0] == first and everything[-1] == top.history.latest()
            times = [r.event_time for r in everything]
            assert times == sorted(times)
        finally:
            await events.aclose()  # type: ignore[attr-defined]


async def test_history_keeps_only_its_horizon() -> None:
    async with two_venues(TopHistory(horizon_ms=300)) as (binance, _, top):
        events = top.events()
        try:
            await until(events, lambda r: len(r.venues) == 2)
            for mid in ("3001", "3002", "3003", "3004"):
                binance.set_mid("ETH/USDT", mid)
                await until(events, lambda r: matches(r, "binance", binance))
                await asyncio.sleep(0.15)
            kept = top.history.window(0)
            latest = top.history.latest()
            assert latest is not None and kept[-1] == latest
            assert all(latest.event_time - r.event_time <= 300 for r in kept)
            assert top.stats.records > len(kept)  # older records were dropped
        finally:
            await events.aclose()  # type: ignore[attr-defined]
