"""ccxt's real `binance` class trading against the local venue's matching engine, through `urls` only:
resting orders, price-time priority, maker/taker fees, post-only, FOK, idempotent client ids."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import ROUND_CEILING
from decimal import Decimal as D
from typing import Any

import ccxt.async_support as ccxt
import pytest

from defibots.cex.book import parse_decimal
from defibots.devnet.exchange import Account, LocalExchange, MarketSpec, ccxt_config

ETH = MarketSpec("ETH/USDT", D("3000"))
START = {"USDT": D("100000"), "ETH": D("10")}
EIGHT = D("0.00000001")
MAKER_BPS, TAKER_BPS = 2, 10


def fee(received: D, bps: int) -> D:
    return (received * bps / 10_000).quantize(EIGHT, rounding=ROUND_CEILING)


def dec(value: float) -> D:
    return parse_decimal(value)


def client_for(ex: LocalExchange, account: Account) -> Any:
    return ccxt.binance(ccxt_config(ex.url, "binance", account.api_key, account.api_secret))


@asynccontextmanager
async def venue() -> AsyncIterator[tuple[LocalExchange, Any]]:
    async with LocalExchange(
        None, [ETH], balances=START, maker_fee_bps=MAKER_BPS, taker_fee_bps=TAKER_BPS, seed=3
    ) as ex:
        client = client_for(ex, ex.account)
        try:
            await client.load_markets()
            yield ex, client
        finally:
            await client.close()


async def test_limit_order_rests_locks_funds_and_cancels() -> None:
    async with venue() as (ex, client):
        order = await client.create_order("ETH/USDT", "limit", "buy", 1.5, 2990)
        assert (order["status"], dec(order["filled"])) == ("open", D(0))
        assert ex.depth("ETH/USDT").bids[0].price == D("2999.99")  # below the market maker's bid
        assert D("2990") in [lv.price for lv in ex.depth("ETH/USDT").bids]
        balance = await client.fetch_balance()
        assert (dec(balance["USDT"]["free"]), dec(balance["USDT"]["used"])) == (D("95515"), D("4485"))

        by_id = await client.fetch_order(order["id"], "ETH/USDT")
        by_client_id = await client.fetch_order(None, "ETH/USDT", {"clientOrderId": order["clientOrderId"]})
        assert by_id["id"] == by_client_id["id"] == order["id"]
        assert [o["id"] for o in await client.fetch_open_orders("ETH/USDT")] == [order["id"]]
        assert [o["id"] for o in await client.fetch_open_orders()] == [order["id"]]

        canceled = await client.cancel_order(order["id"], "ETH/USDT")
        assert canceled["status"] == "canceled"
        assert ex.balances["USDT"] == START["USDT"] and ex.account.locked["USDT"] == 0
        assert await client.fetch_open_orders("ETH/USDT") == []
        assert (await client.fetch_order(order["id"], "ETH/USDT"))["status"] == "canceled"
        with pytest.raises(ccxt.OrderNotFound):
            await client.fetch_order("999", "ETH/USDT")
        with pytest.raises(ccxt.ExchangeError, match="Unknown order sent"):
            await client.cancel_order(order["id"], "ETH/USDT")  # no longer open

        await client.create_order("ETH/USDT", "limit", "sell", 1, 3010)
        await client.create_order("ETH/USDT", "limit", "sell", 2, 3020)
        assert ex.account.locked["ETH"] == 3
        assert {o["status"] for o in await client.cancel_all_orders("ETH/USDT")} == {"canceled"}
        assert ex.balances == START
        history = await client.fetch_orders("ETH/USDT")  # /api/v3/allOrders
        assert [(o["side"], o["status"]) for o in history] == [("buy", "canceled")] + [
            ("sell", "canceled")
        ] * 2


async def test_price_time_priority_and_maker_taker_fees() -> None:
    async with venue() as (ex, first):
        second_account = ex.add_account(balances=START, maker_fee_bps=MAKER_BPS, taker_fee_bps=TAKER_BPS)
        seller_account = ex.add_account(balances=START, maker_fee_bps=MAKER_BPS, taker_fee_bps=TAKER_BPS)
        second, seller = client_for(ex, second_account), client_for(ex, seller_account)
        try:
            # both bid inside the market maker's spread (2999.99 / 3000.01), first one first
            a = await first.create_order("ETH/USDT", "limit", "buy", 1, 3000)
            b = await second.create_order("ETH/USDT", "limit", "buy", 1, 3000)
            assert ex.depth("ETH/USDT").bids[0].price == D("3000") and ex.depth("ETH/USDT").bids[0].qty == 2

            sold = await seller.create_order("ETH/USDT", "market", "sell", 1.5)

            fills = sold["info"]["fills"]
            assert [(D(f["price"]), D(f["qty"])) for f in fills] == [
                (D("3000"), D("1")),
                (D("3000"), D("0.5")),
            ]
            assert [D(f["commission"]) for f in fills] == [
                fee(D("3000"), TAKER_BPS),
                fee(D("1500"), TAKER_BPS),
            ]
            assert seller_account.free["USDT"] == START["USDT"] + D("4500") - sum(
                D(f["commission"]) for f in fills
            )
            assert seller_account.free["ETH"] == START["ETH"] - D("1.5")

            a_now = await first.fetch_order(a["id"], "ETH/USDT")
            b_now = await second.fetch_order(b["id"], "ETH/USDT")
            assert (a_now["status"], dec(a_now["filled"])) == ("closed", D("1"))
            assert (b_now["status"], dec(b_now["filled"]), dec(b_now["remaining"])) == (
                "open",
                D("0.5"),
                D("0.5"),
            )
            assert ex.balances["ETH"] == START["ETH"] + 1 - fee(D(1), MAKER_BPS)
            assert ex.balances["USDT"] == START["USDT"] - 3000
            assert second_account.locked["USDT"] == 1500

            maker_trades = await first.fetch_my_trades("ETH/USDT")
            taker_trades = await seller.fetch_my_trades("ETH/USDT")
            assert [t["takerOrMaker"] for t in maker_trades] == ["maker"]
            assert dec(maker_trades[0]["fee"]["cost"]) == fee(D(1), MAKER_BPS)
            assert maker_trades[0]["fee"]["currency"] == "ETH"
            assert [t["takerOrMaker"] for t in taker_trades] == ["taker", "taker"]
            assert (
                maker_trades[0]["id"] == taker_trades[0]["id"] == str(fills[0]["tradeId"])
            )  # one match, one id
            assert {t["fee"]["currency"] for t in taker_trades} == {"USDT"}

            fees = await first.fetch_trading_fees()
            assert (dec(fees["ETH/USDT"]["maker"]), dec(fees["ETH/USDT"]["taker"])) == (
                D("0.0002"),
                D("0.001"),
            )
        finally:
            await second.close()
            await seller.close()


async def test_resting_order_is_hit_when_the_mid_moves_through_it() -> None:
    async with venue() as (ex, client):
        order = await client.create_order("ETH/USDT", "limit", "buy", 1, 2990)
        ex.set_mid("ETH/USDT", "2995")  # the maker's asks start at 2995.01: still above our bid
        assert (await client.fetch_order(order["id"], "ETH/USDT"))["status"] == "open"
        ex.set_mid("ETH/USDT", "2980")  # asks from 2980.01 cross our 2990 bid: we are filled at our price
        filled = await client.fetch_order(order["id"], "ETH/USDT")
        assert (filled["status"], dec(filled["filled"]), dec(filled["cost"])) == ("closed", D(1), D(2990))
        assert ex.balances["USDT"] == START["USDT"] - 2990
        assert ex.balances["ETH"] == START["ETH"] + 1 - fee(D(1), MAKER_BPS)
        trades = await client.fetch_my_trades("ETH/USDT")
        assert [(t["takerOrMaker"], dec(t["price"])) for t in trades] == [("maker", D(2990))]
        book = ex.depth("ETH/USDT")
        assert book.bids[0].price < D(2980) < book.asks[0].price  # the book is whole around the new mid


async def test_post_only_fok_and_client_id_idempotence() -> None:
    async with venue() as (ex, client):
        with pytest.raises(ccxt.OrderImmediatelyFillable, match="would immediately match and take"):
            await client.create_order("ETH/USDT", "limit", "buy", 1, 3000.01, {"postOnly": True})
        maker = await client.create_order("ETH/USDT", "limit", "buy", 1, 3000, {"postOnly": True})
        assert maker["info"]["type"] == "LIMIT_MAKER" and maker["status"] == "open"
        await client.cancel_order(maker["id"], "ETH/USDT")

        asks = ex.depth("ETH/USDT").asks
        fok = await client.create_order(
            "ETH/USDT",
            "limit",
            "buy",
            float(asks[0].qty + asks[1].qty + 1),
            float(asks[1].price),
            {"timeInForce": "FOK"},
        )
        assert (fok["status"], dec(fok["filled"])) == ("expired", D(0))
        assert ex.balances == START

        bought = await client.create_order(
            "ETH/USDT", "market", "buy", 0.5, None, {"clientOrderId": "hedge-1"}
        )
        assert bought["clientOrderId"] == "hedge-1" and bought["status"] == "closed"
        after_first = dict(ex.balances)
        with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):  # a retry after a time-out
            await client.create_order("ETH/USDT", "market", "buy", 0.5, None, {"clientOrderId": "hedge-1"})
        assert ex.balances == after_first and len(await client.fetch_my_trades("ETH/USDT")) == 1

        resting = await client.create_order(
            "ETH/USDT", "limit", "sell", 1, 3050, {"clientOrderId": "quote-1"}
        )
        with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
            await client.create_order("ETH/USDT", "limit", "sell", 1, 3050, {"clientOrderId": "quote-1"})
        assert [o["id"] for o in await client.fetch_open_orders("ETH/USDT")] == [resting["id"]]
