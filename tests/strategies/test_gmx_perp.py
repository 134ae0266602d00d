"""`gmx_perp` on candles the real feed reads (ccxt fetch_ohlcv) from the local exchange: an SMA crossover
up opens a long, the cross back down closes it and opens a short, long-only stays flat instead, and
manual entry opens once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal as D

import pytest

from defibots.actions import GmxPerpOrder
from defibots.cex.candles import CandleFeed, CandlesClosed
from defibots.cex.feed import make_exchange
from defibots.devnet.exchange import LocalExchange, MarketSpec
from defibots.errors import UserError
from defibots.strategies.gmx_perp import STRATEGY, GmxPerpSettings, GmxPerpStrategy, crossing

ON_CHART_LOOP = pytest.mark.asyncio(loop_scope="session")  # the chart fixture's exchange runs on that loop

FLAT, UP, DOWN = (
    [D(3000)] * 20,
    [D(3000 + 10 * i) for i in range(1, 6)],
    [D(3050 - 15 * i) for i in range(1, 8)],
)


async def clear_of_minute_end(margin_ms: int = 2_000) -> None:
    """Wait out a minute's last seconds: a bar that ends between printing the past and reading it is a
    real new candle (it repeats the last close) and shifts the crossing by one bar."""
    left = 60_000 - int(time.time() * 1000) % 60_000
    if left < margin_ms:
        await asyncio.sleep(left / 1000 + 0.05)


class Chart:
    """A local exchange whose past is set candle by candle, read by the real feed."""

    def __init__(self, ex: LocalExchange) -> None:
        self.ex = ex
        self.client = make_exchange("binance", url_override=ex.url)

    async def closed(self, closes: Sequence[D], history: int = 21) -> CandlesClosed:
        """What the feed publishes after the exchange printed `closes` as 1-minute candles."""
        await clear_of_minute_end()
        self.ex.load_history("ETH/USDT", closes, 60_000)
        feed = CandleFeed(self.client, "local", "ETH/USDT", "1m", history, 0.01)
        async for event in feed.events():
            assert isinstance(event, CandlesClosed)
            return event
        raise AssertionError("no candles")

    async def decide(self, strategy: GmxPerpStrategy, closes: Sequence[D]) -> list[GmxPerpOrder]:
        actions = await strategy.process_event(await self.closed(closes))
        assert all(isinstance(a, GmxPerpOrder) for a in actions)
        return list(actions)  # type: ignore[arg-type]

    async def walk(self, strategy: GmxPerpStrategy, path: Sequence[D], start: int) -> list[GmxPerpOrder]:
        """Every action over the closes of `path` from candle `start` on, one closed candle at a time."""
        out: list[GmxPerpOrder] = []
        for end in range(start, len(path) + 1):
            out += await self.decide(strategy, path[:end])
        return out


@pytest.fixture
async def chart() -> AsyncIterator[Chart]:
    async with LocalExchange(None, [MarketSpec("ETH/USDT", D(3000))], seed=1) as ex:
        chart = Chart(ex)
        try:
            yield chart
        finally:
            await chart.client.close()


@ON_CHART_LOOP
async def test_the_feed_publishes_the_printed_closes(chart: Chart) -> None:
    event = await chart.closed([*FLAT, *UP])
    assert event.closes == tuple([*FLAT, *UP][-21:]) and event.timeframe == "1m"


@ON_CHART_LOOP
async def test_cross_up_opens_long_and_cross_down_flips_to_short(chart: Chart) -> None:
    strategy = GmxPerpStrategy(GmxPerpSettings(fast=3, slow=10, leverage=D(5)))
    assert await chart.decide(strategy, FLAT) == []
    (open_long,) = await chart.decide(strategy, [*FLAT, UP[0]])
    assert (open_long.intent, open_long.is_long, open_long.leverage) == ("open", True, D(5))
    assert open_long.max_portfolio_share == D("0.25") and "crossed above" in open_long.reason
    assert await chart.decide(strategy, [*FLAT, *UP]) == []  # still above: no new signal
    close_long, open_short = await chart.walk(strategy, [*FLAT, *UP, *DOWN], len(FLAT) + len(UP) + 1)
    assert (close_long.intent, close_long.is_long, open_short.intent, open_short.is_long) == (
        "close", True, "open", False,
    )  # fmt: skip


@ON_CHART_LOOP
async def test_long_only_goes_flat_and_manual_opens_once(chart: Chart) -> None:
    long_only = GmxPerpStrategy(GmxPerpSettings(fast=3, slow=10, sides="long"))
    await chart.decide(long_only, [*FLAT, UP[0]])
    (close,) = await chart.walk(long_only, [*FLAT, *UP, *DOWN], len(FLAT) + len(UP) + 1)
    assert (close.intent, close.is_long, long_only.wanted) == ("close", True, None)
    manual = GmxPerpStrategy(GmxPerpSettings(signal="manual", manual_side="short"))
    (first,) = await chart.decide(manual, FLAT)
    assert (first.intent, first.is_long) == ("open", False)
    assert await chart.decide(manual, FLAT) == []


def test_crossing_needs_the_slow_window_and_a_change_of_sign() -> None:
    assert crossing(FLAT[:10], 3, 10) is None
    assert crossing([*FLAT, UP[0]], 3, 10) == "long"
    assert crossing([*FLAT, D(2990)], 3, 10) == "short"


def test_bad_settings_are_one_error() -> None:
    with pytest.raises(UserError, match=r"strategies\.gmx_perp"):
        STRATEGY.parse_settings({"fast": 20, "slow": 5})
    with pytest.raises(UserError, match=r"strategies\.gmx_perp\.max_portfolio_share"):
        STRATEGY.parse_settings({"max_portfolio_share": "1.5"})
