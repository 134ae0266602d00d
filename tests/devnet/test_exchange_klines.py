"""ccxt's own `fetch_ohlcv` against the local exchange's klines: the candles are the mids and trades it
printed, bucketed as Binance buckets them."""

from __future__ import annotations

import itertools
import time
from decimal import Decimal as D

import aiohttp
import ccxt.async_support as ccxt
import pytest

from defibots.cex.feed import make_exchange
from defibots.devnet.exchange import LocalExchange, MarketSpec
from defibots.devnet.exchange.candles import PriceHistory

ETH = MarketSpec("ETH/USDT", D("3000"))


def test_buckets_carry_open_high_low_close_and_fill_gaps() -> None:
    h = PriceHistory()
    for t, p, q in ((1_000, "10", "0"), (1_400, "12", "1"), (1_900, "9", "2"), (4_100, "11", "0")):
        h.record(t, D(p), D(q))
    rows = h.candles(1_000, None, 4_999, 10)
    assert [(c.open_ms, c.open, c.high, c.low, c.close, c.volume, c.trades) for c in rows] == [
        (1_000, D(10), D(12), D(9), D(9), D(3), 2),
        (2_000, D(9), D(9), D(9), D(9), D(0), 0),  # no print: the last close
        (3_000, D(9), D(9), D(9), D(9), D(0), 0),
        (4_000, D(11), D(11), D(11), D(11), D(0), 0),
    ]
    assert [c.open_ms for c in h.candles(1_000, 2_500, 4_999, 2)] == [2_000, 3_000]
    assert [c.open_ms for c in h.candles(1_000, None, 4_999, 2)] == [3_000, 4_000]  # the latest


async def test_ccxt_fetch_ohlcv_reads_the_printed_mids() -> None:
    async with LocalExchange(None, [ETH], seed=3) as ex:
        client = make_exchange("binance", url_override=ex.url)
        try:
            mids = [D(3000), D(3010), D(2990), D(3005)]
            for mid in mids[1:]:
                ex.set_mid("ETH/USDT", mid)
            candles = await client.fetch_ohlcv("ETH/USDT", "1m", limit=5)
            opens = [c[0] for c in candles]
            assert opens[-1] == int(time.time() * 1000) // 60_000 * 60_000
            assert all(b - a == 60_000 for a, b in itertools.pairwise(opens))
            highs, lows = (D(str(c[2])) for c in candles), (D(str(c[3])) for c in candles)
            assert (max(highs), min(lows), D(str(candles[-1][4]))) == (max(mids), min(mids), mids[-1])
            with pytest.raises(ccxt.BadRequest, match="Invalid interval"):
                await client.public_get_klines({"symbol": "ETHUSDT", "interval": "7m"})
        finally:
            await client.close()
        bad_limit = ex.url + "/api/v3/klines?symbol=ETHUSDT&interval=1s&limit=0"
        async with aiohttp.ClientSession() as s, s.get(bad_limit) as r:
            assert r.status == 400 and (await r.json())["code"] == -1100
