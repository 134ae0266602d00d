"""ccxt's real `bybit` class against a local venue speaking Bybit's V5 API (spot), through `urls` only:
markets, book, balances, orders and fills from the same matching engine as the Binance venue."""

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import ROUND_CEILING
from decimal import Decimal as D
from typing import Any

import aiohttp
import ccxt.async_support as ccxt
import pytest

from defibots.cex.book import parse_decimal
from defibots.devnet.exchange import LocalExchange, MarketSpec, RateLimits, ccxt_config

ETH = MarketSpec("ETH/USDT", D("3000"))
BTC = MarketSpec("BTC/USDT", D("65000"), tick_size=D("0.1"), lot_size=D("0.00001"), min_qty=D("0.00001"))
START = {"USDT": D("100000"), "ETH": D("10"), "BTC": D("1")}
EIGHT = D("0.00000001")


def dec(value: float) -> D:
    return parse_decimal(value)


def fee(received: D, bps: int) -> D:
    return (received * bps / 10_000).quantize(EIGHT, rounding=ROUND_CEILING)


@asynccontextmanager
async def venue() -> AsyncIterator[tuple[LocalExchange, Any]]:
    async with LocalExchange(
        None, [ETH, BTC], venue="bybit", balances=START, maker_fee_bps=2, taker_fee_bps=10, seed=5
    ) as ex:
        client = ccxt.bybit(ccxt_config(ex.url, "bybit", ex.api_key, ex.api_secret))
        try:
            await client.load_markets()
            yield ex, client
        finally:
            await client.close()


async def test_markets_book_and_balance() -> None:
    async with venue() as (ex, client):
        assert sorted(client.markets) == ["BTC/USDT", "ETH/USDT"]
        btc = client.markets["BTC/USDT"]
        assert (btc["id"], btc["spot"], btc["precision"]["price"], btc["precision"]["amount"]) == (
            "BTCUSDT",
            True,
            0.1,
            0.00001,
        )
        for symbol in ("ETH/USDT", "BTC/USDT"):
            book = await client.fetch_order_book(symbol, 10)
            server = ex.depth(symbol, 10)
            assert [(dec(p), dec(q)) for p, q in book["bids"]] == [(lv.price, lv.qty) for lv in server.bids]
            assert [(dec(p), dec(q)) for p, q in book["asks"]] == [(lv.price, lv.qty) for lv in server.asks]
        ticker = await client.fetch_ticker("ETH/USDT")
        assert (dec(ticker["bid"]), dec(ticker["ask"])) == (D("2999.99"), D("3000.01"))
        balance = await client.fetch_balance()
        assert {k: dec(balance[k]["free"]) for k in START} == START


async def test_orders_fill_rest_cancel_and_report_fees() -> None:
    async with venue() as (ex, client):
        resting = await client.create_order("ETH/USDT", "limit", "buy", 1, 2990, {"clientOrderId": "bid-1"})
        assert resting["clientOrderId"] == "bid-1"
        found = await client.fetch_open_order(resting["id"], "ETH/USDT")
        assert (found["status"], dec(found["price"]), dec(found["amount"])) == ("open", D(2990), D(1))
        assert [o["id"] for o in await client.fetch_open_orders("ETH/USDT")] == [resting["id"]]
        balance = await client.fetch_balance()
        assert dec(balance["USDT"]["used"]) == 2990

        ex.set_mid("ETH/USDT", "2980")  # the market maker's new asks cross our bid: filled as maker
        filled = await client.fetch_order(resting["id"], "ETH/USDT", {"acknowledged": True})
        assert (filled["status"], dec(filled["filled"]), dec(filled["cost"])) == ("closed", D(1), D(2990))
        assert dec(filled["fee"]["cost"]) == fee(D(1), 2) and filled["fee"]["currency"] == "ETH"

        asks = ex.depth("ETH/USDT").asks
        market = await client.create_order("ETH/USDT", "market", "buy", 0.5)
        bought = await client.fetch_closed_order(market["id"], "ETH/USDT")
        assert (bought["status"], dec(bought["filled"])) == ("closed", D("0.5"))
        assert dec(bought["cost"]) == asks[0].price * D("0.5")
        by_cost = await client.create_market_buy_order_with_cost("ETH/USDT", 100)
        spent = await client.fetch_closed_order(by_cost["id"], "ETH/USDT")
        assert dec(spent["cost"]) <= 100 and dec(spent["filled"]) > 0

        trades = await client.fetch_my_trades("ETH/USDT")
        assert sorted(t["takerOrMaker"] for t in trades) == ["maker", "taker", "taker"]

        asking = await client.create_order("ETH/USDT", "limit", "sell", 2, 3050)
        canceled = await client.cancel_order(asking["id"], "ETH/USDT")
        assert canceled["id"] == asking["id"]
        assert (await client.fetch_closed_order(asking["id"], "ETH/USDT"))["status"] == "canceled"
        assert ex.account.locked["ETH"] == 0
        closed = await client.fetch_closed_orders("ETH/USDT")
        assert {o["id"] for o in closed} == {resting["id"], market["id"], by_cost["id"], asking["id"]}
        usdt = START["USDT"] - 2990 - D(bought["info"]["cumExecValue"]) - D(spent["info"]["cumExecValue"])
        assert dec((await client.fetch_balance())["USDT"]["free"]) == usdt == ex.balances["USDT"]


async def test_errors_map_to_ccxt_exceptions() -> None:
    async with venue() as (ex, client):
        with pytest.raises(ccxt.InsufficientFunds):
            await client.create_order("ETH/USDT", "market", "sell", 50)
        with pytest.raises(ccxt.InvalidOrder, match="170218"):  # post-only that would take
            await client.create_order("ETH/USDT", "limit", "buy", 0.1, 3000.01, {"postOnly": True})
        await client.create_order("ETH/USDT", "market", "buy", 0.1, None, {"clientOrderId": "once"})
        with pytest.raises(ccxt.InvalidOrder, match="OrderLinkedID is duplicate"):
            await client.create_order("ETH/USDT", "market", "buy", 0.1, None, {"clientOrderId": "once"})
        with pytest.raises(ccxt.OrderNotFound):
            await client.cancel_order("12345", "ETH/USDT")
        client.secret = "0" * 64
        with pytest.raises(ccxt.AuthenticationError, match="10004"):
            await client.fetch_balance()
        assert ex.balances["ETH"] == START["ETH"] + D("0.1") - fee(D("0.1"), 10)


async def test_raw_signing_and_envelope_are_bybit_s() -> None:
    async with LocalExchange(None, [ETH], venue="bybit", balances=START) as ex:
        body = json.dumps(
            {"category": "spot", "symbol": "ETHUSDT", "side": "Buy", "orderType": "Market", "qty": "10"}
        )
        timestamp, window = str(time.time_ns() // 1_000_000), "5000"
        payload = timestamp + ex.api_key + window + body
        headers = {
            "X-BAPI-API-KEY": ex.api_key,
            "X-BAPI-TIMESTAMP": timestamp,
            "X-BAPI-RECV-WINDOW": window,
            "X-BAPI-SIGN": hmac.new(ex.api_secret.encode(), payload.encode(), hashlib.sha256).hexdigest(),
            "Content-Type": "application/json",
        }
        async with aiohttp.ClientSession() as session:
            async with session.post(ex.url + "/v5/order/create", data=body, headers=headers) as response:
                reply = await response.json()
            assert (reply["retCode"], reply["retMsg"]) == (0, "OK")
            assert set(reply["result"]) == {"orderId", "orderLinkId"}
            assert ex.balances["USDT"] < START["USDT"]  # a market buy's qty is quote to spend by default
            async with session.post(
                ex.url + "/v5/order/create", data=body + " ", headers=headers
            ) as response:
                assert (await response.json())["retCode"] == 10004


async def test_rate_limit_is_retcode_10006_then_http_403() -> None:
    limits = RateLimits(weight_per_window=3, window_s=60, strikes_before_ban=2, ban_s=60)
    async with LocalExchange(None, [ETH], venue="bybit", rate_limits=limits) as ex:
        client = ccxt.bybit(ccxt_config(ex.url, "bybit") | {"enableRateLimit": False})
        try:
            ex.limiter.clock = lambda: 0.0  # frozen at the start of a window
            for _ in range(3):
                await client.fetch_time()
            with pytest.raises(ccxt.RateLimitExceeded, match="10006"):
                await client.fetch_time()
            with pytest.raises(ccxt.RateLimitExceeded, match="10006"):
                await client.fetch_time()
            with pytest.raises(ccxt.RateLimitExceeded, match="403"):
                await client.fetch_time()
            assert client.last_response_headers["Retry-After"] == "60"
        finally:
            await client.close()
