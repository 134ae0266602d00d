"""Binance's rate-limit shapes on the local venue, as ccxt's real `binance` class meets them: 429 with
code -1003 and Retry-After, a 418 ban for a client that keeps hammering, recovery for one that waits."""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal as D
from typing import Any

import ccxt.async_support as ccxt
import pytest

from defibots.devnet.exchange import LocalExchange, MarketSpec, RateLimits, ccxt_config

ETH = MarketSpec("ETH/USDT", D("3000"))


class FrozenClock:
    def __init__(self) -> None:
        self.now = 960.0  # the start of a 60 s window

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def venue(limits: RateLimits) -> AsyncIterator[tuple[LocalExchange, Any]]:
    async with LocalExchange(None, [ETH], rate_limits=limits) as ex:
        config = ccxt_config(ex.url, "binance", ex.api_key, ex.api_secret) | {"enableRateLimit": False}
        client = ccxt.binance(config)
        try:
            yield ex, client
        finally:
            await client.close()


async def test_hammering_gets_429_then_a_418_ban_with_retry_after() -> None:
    limits = RateLimits(weight_per_window=30, window_s=60, strikes_before_ban=2, ban_s=120)
    async with venue(limits) as (ex, client):
        clock = FrozenClock()
        ex.limiter.clock = clock
        await client.load_markets()  # exchangeInfo: weight 20
        for _ in range(10):  # /api/v3/time: weight 1 each, 30 in all
            await client.fetch_time()
        assert client.last_response_headers["X-MBX-USED-WEIGHT-1M"] == "30"

        with pytest.raises(ccxt.DDoSProtection, match=" 429 ") as refused:
            await client.fetch_time()
        text = str(refused.value)  # "binance 429 Too Many Requests {body}"
        body = json.loads(text[text.index("{") :])
        assert body["code"] == -1003 and body["msg"].startswith("Too many requests;")
        assert client.last_response_headers["Retry-After"] == "60"

        clock.now += 1  # does not wait the 59 s left
        with pytest.raises(ccxt.DDoSProtection, match=" 429 "):
            await client.fetch_order_book("ETH/USDT")
        with pytest.raises(ccxt.DDoSProtection, match=" 418 ") as banned:
            await client.fetch_time()
        assert "banned until" in str(banned.value) and "-1003" in str(banned.value)
        assert client.last_response_headers["Retry-After"] == "120"
        clock.now += 100  # the window is over, the ban is not
        with pytest.raises(ccxt.DDoSProtection, match=" 418 "):
            await client.fetch_time()
        assert client.last_response_headers["Retry-After"] == "20"

        clock.now += 20
        assert await client.fetch_time() > 0  # the ban is over
        assert await client.fetch_balance()  # signed endpoints count too, and work again


async def test_a_client_that_honors_retry_after_recovers_without_a_ban() -> None:
    limits = RateLimits(weight_per_window=40, window_s=1, strikes_before_ban=2, ban_s=60)
    async with venue(limits) as (_, client):
        refusals: list[tuple[bool, str]] = []
        served = 0
        while served < 20:
            try:
                await client.fetch_order_book("ETH/USDT", 5)  # weight 5: 8 per window
                served += 1
            except ccxt.DDoSProtection as exc:
                retry_after = client.last_response_headers["Retry-After"]
                refusals.append((" 429 " in str(exc), retry_after))
                await asyncio.sleep(int(retry_after))
        assert len(refusals) >= 2 and set(refusals) == {(True, "1")}  # 429s only, never banned
