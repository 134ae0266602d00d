"""ccxt's real `binance` class against the local exchange: what ccxt reads must equal the server's book."""

import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import ROUND_CEILING
from decimal import Decimal as D
from typing import Any
from urllib.parse import urlencode

import aiohttp
import ccxt.async_support as ccxt
import pytest

from defibots.cex.book import executable_price, floor_to_step, parse_decimal
from defibots.cex.feed import make_exchange
from defibots.devnet.exchange import LocalExchange, MarketSpec

ETH = MarketSpec("ETH/USDT", D("3000"))
BTC = MarketSpec("BTC/USDT", D("65000.5"), tick_size=D("0.1"), lot_size=D("0.00001"), min_qty=D("0.00001"))
START = {"USDT": D("1000000"), "ETH": D("100"), "BTC": D("2")}
EIGHT = D("0.00000001")


@asynccontextmanager
async def venue() -> AsyncIterator[tuple[LocalExchange, Any]]:
    async with LocalExchange(None, [ETH, BTC], balances=START, taker_fee_bps=10, seed=7) as ex:
        client = make_exchange("binance", url_override=ex.url, api_key=ex.api_key, secret=ex.api_secret)
        try:
            yield ex, client
        finally:
            await client.close()


def dec(value: float) -> D:
    return parse_decimal(value)


async def test_markets_ticker_and_book_equal_the_server_book() -> None:
    async with venue() as (ex, client):
        markets = await client.load_markets()
        assert sorted(markets) == ["BTC/USDT", "ETH/USDT"]
        eth = markets["ETH/USDT"]
        assert (eth["id"], eth["spot"], eth["precision"]["price"], eth["precision"]["amount"]) == (
            "ETHUSDT",
            True,
            0.01,
            0.0001,
        )
        assert eth["limits"]["cost"]["min"] == 5.0

        for symbol in ("ETH/USDT", "BTC/USDT"):
            server = ex.depth(symbol, 10)
            ticker = await client.fetch_ticker(symbol)
            assert (dec(ticker["bid"]), dec(ticker["bidVolume"])) == (
                server.bids[0].price,
                server.bids[0].qty,
            )
            assert (dec(ticker["ask"]), dec(ticker["askVolume"])) == (
                server.asks[0].price,
                server.asks[0].qty,
            )
            book = await client.fetch_order_book(symbol, 10)
            assert [(dec(p), dec(q)) for p, q in book["bids"]] == [(lv.price, lv.qty) for lv in server.bids]
            assert [(dec(p), dec(q)) for p, q in book["asks"]] == [(lv.price, lv.qty) for lv in server.asks]
            assert book["nonce"] == server.nonce
            assert len(book["bids"]) == 10

        tops = await client.fetch_bids_asks(["ETH/USDT", "BTC/USDT"])
        assert dec(tops["BTC/USDT"]["ask"]) == ex.depth("BTC/USDT").asks[0].price
        server_time = await client.fetch_time()
        assert isinstance(server_time, int) and server_time >= ex.started_ms


async def test_set_mid_and_random_walk_move_the_book() -> None:
    async with venue() as (ex, client):
        ex.set_mid("ETH/USDT", "2500")
        ticker = await client.fetch_ticker("ETH/USDT")
        assert (dec(ticker["bid"]), dec(ticker["ask"])) == (D("2499.99"), D("2500.01"))
        for _ in range(20):
            mid = ex.random_walk("BTC/USDT", sigma_bps=5)
            assert mid % D("0.1") == 0
        book = await client.fetch_order_book("BTC/USDT", 5)
        assert dec(book["bids"][0][0]) < mid < dec(book["asks"][0][0])
        assert dec(book["asks"][0][0]) - dec(book["bids"][0][0]) == D("0.2")  # spread of 2 ticks


async def test_signed_market_buy_fills_level_by_level_with_taker_fee() -> None:
    async with venue() as (ex, client):
        await client.load_markets()
        asks = ex.depth("ETH/USDT").asks
        qty = asks[0].qty + asks[1].qty + D("0.5")  # takes two whole levels and half a lot of the third
        legs = [(asks[0].price, asks[0].qty), (asks[1].price, asks[1].qty), (asks[2].price, D("0.5"))]
        cost = sum(p * q for p, q in legs)
        fees = [(q * D("0.001")).quantize(EIGHT, rounding=ROUND_CEILING) for _, q in legs]
        expected_price = executable_price(ex.depth("ETH/USDT"), "buy", qty, 10)

        order = await client.create_order("ETH/USDT", "market", "buy", float(qty))

        assert order["status"] == "closed" and order["side"] == "buy"
        assert dec(order["filled"]) == qty
        assert dec(order["cost"]) == cost
        fills = order["info"]["fills"]
        assert [(D(f["price"]), D(f["qty"]), D(f["commission"])) for f in fills] == [
            (p, q, fee) for (p, q), fee in zip(legs, fees, strict=True)
        ]
        assert {f["commissionAsset"] for f in fills} == {"ETH"}
        assert cost / (qty - sum(fees)) == expected_price  # book.py's all-in price is what the fill cost
        assert ex.balances["USDT"] == START["USDT"] - cost
        assert ex.balances["ETH"] == START["ETH"] + qty - sum(fees)
        balance = await client.fetch_balance()
        assert dec(balance["USDT"]["free"]) == START["USDT"] - cost
        assert dec(balance["ETH"]["free"]) == START["ETH"] + qty - sum(fees)
        # taken liquidity stays taken: the new best ask is what is left of the third level
        assert ex.depth("ETH/USDT").asks[0].price == asks[2].price
        assert ex.depth("ETH/USDT").asks[0].qty == asks[2].qty - D("0.5")


async def test_market_sell_pays_fee_in_quote_and_buy_with_cost() -> None:
    async with venue() as (ex, client):
        await client.load_markets()
        bid = ex.depth("BTC/USDT").bids[0]
        order = await client.create_order("BTC/USDT", "market", "sell", 0.01234)
        proceeds = bid.price * D("0.01234")
        fee = (proceeds * D("0.001")).quantize(EIGHT, rounding=ROUND_CEILING)
        assert dec(order["cost"]) == proceeds
        assert order["info"]["fills"][0]["commissionAsset"] == "USDT"
        assert ex.balances["USDT"] == START["USDT"] + proceeds - fee
        assert ex.balances["BTC"] == START["BTC"] - D("0.01234")

        ask = ex.depth("ETH/USDT").asks[0]
        order = await client.create_market_buy_order_with_cost("ETH/USDT", 1000)
        assert order["info"]["origQuoteOrderQty"] == "1000.00000000"
        assert dec(order["filled"]) == floor_to_step(D(1000) / ask.price, ETH.lot_size)


async def test_limit_ioc_stops_at_its_price() -> None:
    async with venue() as (ex, client):
        await client.load_markets()
        asks = ex.depth("ETH/USDT").asks
        order = await client.create_order(
            "ETH/USDT", "limit", "buy", 50, float(asks[1].price), {"timeInForce": "IOC"}
        )
        assert order["status"] == "expired"
        assert dec(order["filled"]) == asks[0].qty + asks[1].qty


async def test_auth_and_balance_errors_map_to_ccxt_exceptions() -> None:
    async with venue() as (ex, client):
        await client.load_markets()
        client.secret = "0" * 64
        with pytest.raises(ccxt.AuthenticationError, match="Signature for this request is not valid"):
            await client.create_order("ETH/USDT", "market", "buy", 0.01)
        client.secret, client.apiKey = ex.api_secret, "not-the-key"
        with pytest.raises(ccxt.AuthenticationError, match="-2015"):
            await client.fetch_balance()
        client.apiKey = ex.api_key
        with pytest.raises(ccxt.InsufficientFunds):
            await client.create_order("ETH/USDT", "market", "buy", 500)
        assert ex.balances == START  # nothing moved


async def signed_post(ex: LocalExchange, query: dict[str, Any], body: dict[str, Any], secret: str) -> Any:
    """Binance's signing rule by hand: HMAC-SHA256 over query string + body; signature last in the body."""
    q, b = urlencode(query), urlencode(body)
    signature = hmac.new(secret.encode(), (q + b).encode(), hashlib.sha256).hexdigest()
    headers = {"X-MBX-APIKEY": ex.api_key, "Content-Type": "application/x-www-form-urlencoded"}
    url = ex.url + "/api/v3/order" + (f"?{q}" if q else "")
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=f"{b}&signature={signature}", headers=headers) as response,
    ):
        return response.status, await response.json()


async def test_raw_error_shapes_are_binance_s() -> None:
    async with venue() as (ex, _):
        now = time.time_ns() // 1_000_000
        order = {"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01", "timestamp": now}
        status, reply = await signed_post(ex, {}, order, "bad" + ex.api_secret)
        assert (status, reply) == (400, {"code": -1022, "msg": "Signature for this request is not valid."})
        status, reply = await signed_post(ex, {}, order | {"timestamp": now - 60_000}, ex.api_secret)
        assert reply == {"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."}
        status, reply = await signed_post(ex, {}, order | {"quantity": "0.00005"}, ex.api_secret)
        assert reply == {"code": -1013, "msg": "Filter failure: LOT_SIZE"}
        status, reply = await signed_post(ex, {}, order | {"symbol": "NOPE"}, ex.api_secret)
        assert reply == {"code": -1121, "msg": "Invalid symbol."}
        # mixed query string and body, signed over their concatenation (Binance's documented example 3)
        query = {"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET"}
        status, reply = await signed_post(
            ex, query, {"quantity": "0.01", "timestamp": now, "newOrderRespType": "ACK"}, ex.api_secret
        )
        assert status == 200 and set(reply) == {
            "symbol",
            "orderId",
            "orderListId",
            "clientOrderId",
            "transactTime",
        }
