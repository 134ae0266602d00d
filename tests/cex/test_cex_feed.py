"""CexFeed through ccxt's binance class against the local exchange: exact tops, errors, engine wiring."""

import asyncio
from collections.abc import Sequence
from decimal import Decimal as D

import pytest

from defibots.cex.events import BookTop
from defibots.cex.feed import CexFeed
from defibots.config import CexSettings
from defibots.devnet.exchange import LocalExchange, MarketSpec
from defibots.engine import Action, Engine, Strategy
from defibots.errors import UserError
from defibots.events import Event
from defibots.foundry.anvil import free_port

ETH = MarketSpec("ETH/USDT", D("3000"))
BTC = MarketSpec("BTC/USDT", D("65000"), tick_size=D("0.1"), lot_size=D("0.00001"), min_qty=D("0.00001"))


def fast_feed(ex: LocalExchange, symbols: Sequence[str] = ("ETH/USDT", "BTC/USDT")) -> CexFeed:
    return CexFeed(
        "binance", symbols, url_override=ex.url, poll_interval_s=0.01, backoff_initial_s=0.01, depth_limit=5
    )


async def test_poll_gives_exact_tops_with_depth_and_only_changes() -> None:
    async with LocalExchange(None, [ETH, BTC], seed=1) as ex:
        feed = fast_feed(ex)
        try:
            tops = {t.symbol: t for t in await feed.poll_once()}
            assert sorted(tops) == ["BTC/USDT", "ETH/USDT"]
            for symbol, top in tops.items():
                server = ex.depth(symbol, 5)
                assert (top.venue, top.bid, top.bid_qty) == (
                    "binance",
                    server.bids[0].price,
                    server.bids[0].qty,
                )
                assert (top.ask, top.ask_qty) == (server.asks[0].price, server.asks[0].qty)
                assert top.depth is not None
                assert (top.depth.bids, top.depth.asks) == (server.bids, server.asks)
                assert top.stamps.received > 0
            assert await feed.poll_once() == []  # nothing moved, nothing emitted
            ex.set_mid("ETH/USDT", "3100")
            (moved,) = await feed.poll_once()
            assert (moved.symbol, moved.bid, moved.ask) == ("ETH/USDT", D("3099.99"), D("3100.01"))
            assert moved.mid == D("3100")
        finally:
            await feed.close()


async def test_unknown_symbol_and_unreachable_exchange_are_user_errors() -> None:
    async with LocalExchange(None, [ETH]) as ex:
        feed = CexFeed.from_settings(
            CexSettings(exchange="binance", url=ex.url, symbols=["ETH/USDT", "DOGE/USDT"])
        )
        try:
            with pytest.raises(UserError, match="has no market DOGE/USDT"):
                await feed.open()
        finally:
            await feed.close()
    feed = CexFeed(
        "binance", ["ETH/USDT"], url_override=f"http://127.0.0.1:{free_port()}", backoff_initial_s=0.01
    )
    try:
        with pytest.raises(UserError, match="unreachable after 3 attempts"):
            await feed.open()
        assert feed.stats.network_errors == 3
    finally:
        await feed.close()
    with pytest.raises(UserError, match="unknown exchange"):
        CexFeed("nosuchexchange", ["ETH/USDT"])


async def test_network_errors_are_counted_and_retried_until_the_exchange_is_back() -> None:
    ex = LocalExchange(None, [ETH], seed=2)
    await ex.start()
    feed = fast_feed(ex, ["ETH/USDT"])
    stream = feed.events()
    try:
        first = await anext(stream)
        assert isinstance(first, BookTop)
        await ex.stop()  # the venue goes away mid-stream
        ex.set_mid("ETH/USDT", "2900")
        pending = asyncio.ensure_future(anext(stream))
        while feed.stats.network_errors < 2:
            await asyncio.sleep(0.01)
        assert not pending.done()
        await ex.start()  # same port, back again
        second = await pending
        assert isinstance(second, BookTop) and second.bid == D("2899.99")
        assert feed.stats.consecutive_failures == 0
        assert (feed.stats.last_error or "").startswith("ExchangeNotAvailable")  # a ccxt NetworkError
    finally:
        await stream.aclose()
        await feed.close()
        await ex.stop()


class Recorder(Strategy):
    def __init__(self, wanted: int) -> None:
        self.seen: list[Event] = []
        self.done = asyncio.Event()
        self.wanted = wanted

    async def process_event(self, event: Event) -> Sequence[Action]:
        self.seen.append(event)
        if len(self.seen) >= self.wanted:
            self.done.set()
        return []


async def test_feed_emits_book_tops_into_the_engine() -> None:
    async with LocalExchange(None, [ETH, BTC], seed=3) as ex:
        ex.start_noise(interval_s=0.01, sigma_bps=5)
        recorder = Recorder(wanted=6)
        engine = Engine([fast_feed(ex)], [recorder], [])
        await engine.start()
        try:
            await asyncio.wait_for(recorder.done.wait(), 30)
        finally:
            await engine.stop()
        assert all(isinstance(e, BookTop) for e in recorder.seen)
        assert {e.symbol for e in recorder.seen if isinstance(e, BookTop)} == {"ETH/USDT", "BTC/USDT"}
        stats = engine.stats()
        assert stats.events_total >= 6 and stats.collector_restarts == {"cex:binance": 0}
        assert all(e.stamps.queued >= e.stamps.received > 0 for e in recorder.seen)
