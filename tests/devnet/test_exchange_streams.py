"""ccxt.pro's real `binance` class on the local venue's WebSocket side: the depth diff stream merged onto
the REST snapshot, and the WebSocket API user data stream (executionReport, outboundAccountPosition)."""

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from decimal import ROUND_CEILING
from decimal import Decimal as D
from typing import Any, TypeVar

import aiohttp
import ccxt.pro as ccxtpro

from defibots.cex.book import parse_decimal
from defibots.devnet.exchange import LocalExchange, MarketSpec, ccxt_config

ETH = MarketSpec("ETH/USDT", D("3000"))
BTC = MarketSpec("BTC/USDT", D("65000"), tick_size=D("0.1"), lot_size=D("0.00001"), min_qty=D("0.00001"))
START = {"USDT": D("100000"), "ETH": D("10"), "BTC": D("1")}
T = TypeVar("T")


def dec(value: float) -> D:
    return parse_decimal(value)


async def soon(awaitable: Awaitable[T]) -> T:
    return await asyncio.wait_for(awaitable, 5)


@asynccontextmanager
async def venue() -> AsyncIterator[tuple[LocalExchange, Any]]:
    async with LocalExchange(None, [ETH, BTC], balances=START, taker_fee_bps=10, seed=11) as ex:
        client = ccxtpro.binance(ccxt_config(ex.url, "binance", ex.api_key, ex.api_secret))
        try:
            await client.load_markets()
            yield ex, client
        finally:
            await client.close()


def book_levels(book: Any, side: str) -> list[tuple[D, D]]:
    return [(dec(p), dec(q)) for p, q in book[side]]


async def test_watch_order_book_follows_set_mid_and_trades_exactly() -> None:
    async with venue() as (ex, client):
        book = await soon(client.watch_order_book("ETH/USDT"))
        server = ex.depth("ETH/USDT")
        assert book["nonce"] == server.nonce
        assert book_levels(book, "bids") == [(lv.price, lv.qty) for lv in server.bids]

        for mid in ("3012.34", "2987.5"):
            ex.set_mid("ETH/USDT", mid)
            book = await soon(client.watch_order_book("ETH/USDT"))
            server = ex.depth("ETH/USDT")
            assert book["nonce"] == server.nonce
            assert book_levels(book, "bids") == [(lv.price, lv.qty) for lv in server.bids]
            assert book_levels(book, "asks") == [(lv.price, lv.qty) for lv in server.asks]
            assert dec(book["bids"][0][0]) < D(mid) < dec(book["asks"][0][0])

        await client.create_order("ETH/USDT", "market", "buy", 3)  # takes the top ask level and more
        book = await soon(client.watch_order_book("ETH/USDT"))
        assert book_levels(book, "asks") == [(lv.price, lv.qty) for lv in ex.depth("ETH/USDT").asks]


async def test_depth_stream_messages_have_binance_s_shape() -> None:
    async with (
        LocalExchange(None, [ETH], seed=2) as ex,
        aiohttp.ClientSession() as session,
        session.ws_connect(ex.url.replace("http", "ws") + "/stream/ws/0") as ws,
    ):
        await ws.send_json({"method": "SUBSCRIBE", "params": ["ethusdt@depth@100ms"], "id": 7})
        assert await ws.receive_json(timeout=5) == {"result": None, "id": 7}
        before = ex.market("ETH/USDT").update_id
        ex.set_mid("ETH/USDT", "3100")
        event = await ws.receive_json(timeout=5)
        assert {k: event[k] for k in ("e", "s", "U", "u")} == {
            "e": "depthUpdate",
            "s": "ETHUSDT",
            "U": before + 1,
            "u": before + 1,
        }
        bids = {D(p): D(q) for p, q in event["b"]}
        assert bids[D("2999.99")] == 0  # the old best bid is gone
        assert bids[D("3099.99")] == ex.depth("ETH/USDT").bids[0].qty
        await ws.send_json({"method": "SUBSCRIBE", "params": ["nope@depth"], "id": 8})
        reply = await ws.receive_json(timeout=5)
        assert reply["id"] == 8 and reply["error"]["code"] == 2


async def test_watch_orders_and_balance_see_new_fills_and_cancels() -> None:
    async with venue() as (ex, client):
        orders_update = asyncio.ensure_future(client.watch_orders("ETH/USDT"))
        balance_update = asyncio.ensure_future(client.watch_balance())
        await asyncio.sleep(0.2)  # the user data stream is subscribed
        order = await client.create_order("ETH/USDT", "limit", "buy", 2, 2990)
        seen = await soon(orders_update)
        assert [(o["id"], o["status"], dec(o["filled"])) for o in seen] == [(order["id"], "open", D(0))]
        balance = await soon(balance_update)
        assert (dec(balance["USDT"]["free"]), dec(balance["USDT"]["used"])) == (D("94020"), D("5980"))

        ex.set_mid("ETH/USDT", "2992")  # the maker's asks from 2992.01: no fill yet
        assert (await client.fetch_order(order["id"], "ETH/USDT"))["status"] == "open"
        orders_update = asyncio.ensure_future(client.watch_orders("ETH/USDT"))
        balance_update = asyncio.ensure_future(client.watch_balance())
        await asyncio.sleep(0)
        ex.set_mid("ETH/USDT", "2980")  # its asks from 2980.01 cross our bid: filled as maker at 2990
        seen = await soon(orders_update)
        mine = [o for o in seen if o["id"] == order["id"]]
        assert mine[-1]["status"] == "closed" and dec(mine[-1]["filled"]) == 2
        assert {t["takerOrMaker"] for t in await client.fetch_my_trades("ETH/USDT")} == {"maker"}
        fee = (D(2) * D("0.001")).quantize(D("0.00000001"), rounding=ROUND_CEILING)
        balance = await soon(balance_update)
        assert dec(balance["ETH"]["free"]) == START["ETH"] + 2 - fee == ex.balances["ETH"]
        assert dec(balance["USDT"]["used"]) == 0

        resting = await client.create_order("ETH/USDT", "limit", "sell", 1, 3100)
        await client.cancel_order(resting["id"], "ETH/USDT")
        statuses: list[str] = []
        while "canceled" not in statuses:
            statuses = [
                o["status"] for o in await soon(client.watch_orders("ETH/USDT")) if o["id"] == resting["id"]
            ]
        assert ex.account.locked["ETH"] == 0


async def test_partial_fill_then_fill_are_reported_in_order() -> None:
    async with venue() as (ex, client):
        other = ex.add_account(balances=START)
        taker = ccxtpro.binance(ccxt_config(ex.url, "binance", other.api_key, other.api_secret))
        try:
            await taker.load_markets()
            update = asyncio.ensure_future(client.watch_orders("ETH/USDT"))
            await asyncio.sleep(0.2)
            order = await client.create_order("ETH/USDT", "limit", "sell", 1, 3000)  # inside the spread
            assert [o["info"]["X"] for o in await soon(update)] == ["NEW"]
            reports = []
            for qty in (0.4, 0.6):
                update = asyncio.ensure_future(client.watch_orders("ETH/USDT"))
                await taker.create_order("ETH/USDT", "market", "buy", qty)
                reports += [  # ccxt updates one cached dict per order: read it now
                    (o["info"]["x"], o["info"]["X"], o["status"], dec(o["filled"]), o["info"]["m"])
                    for o in await soon(update)
                    if o["id"] == order["id"]
                ]
            assert reports == [
                ("TRADE", "PARTIALLY_FILLED", "open", D("0.4"), True),  # m: we were the maker
                ("TRADE", "FILLED", "closed", D("1"), True),
            ]
        finally:
            await taker.close()
