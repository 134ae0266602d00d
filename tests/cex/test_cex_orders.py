"""The ccxt order executor through ccxt's real binance (pro) class against the local venue: fees journaled
as the venue charged them, a timed-out create retried under the same client id that fills once, a
websocket drop with an order in flight that loses and doubles nothing, rate-limit backoff without a ban,
and secrets that never reach a log line or the journal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import aiohttp
import ccxt.async_support as ccxt_async
import ccxt.pro as ccxtpro
import pytest

from defibots.cex.order_cache import OrderIntent, client_order_id
from defibots.cex.orders import CexOrderExecutor
from defibots.cex.secrets import (
    ApiCredentials,
    credentials_from_env,
    credentials_from_file,
    encrypt_credentials,
    scrub,
)
from defibots.devnet.exchange import LocalExchange, MarketSpec, RateLimits, ccxt_config
from defibots.errors import UserError
from defibots.journal import Journal

ETH = MarketSpec("ETH/USDT", D("3000"))
START = {"USDT": D("100000"), "ETH": D("10")}


@dataclass
class Setup:
    venue: LocalExchange
    executor: CexOrderExecutor
    journal: Journal


@contextlib.asynccontextmanager
async def setup(
    tmp_path: Path, *, timeout_ms: int = 10_000, rate_limits: RateLimits | None = None, **kwargs: Any
) -> AsyncIterator[Setup]:
    async with LocalExchange(
        None, [ETH], balances=START, taker_fee_bps=10, maker_fee_bps=2, seed=3, rate_limits=rate_limits
    ) as ex:
        config = ccxt_config(ex.url, "binance", ex.api_key, ex.api_secret) | {"timeout": timeout_ms}
        if rate_limits is not None:
            config["enableRateLimit"] = False  # ccxt's own throttle off: the venue's limits must bite
        journal = Journal(tmp_path / "journal.sqlite")
        executor = CexOrderExecutor(
            ccxtpro.binance(config), "binance", journal, strategy="test", backoff_initial_s=0.05, **kwargs
        )
        try:
            await executor.open()
            yield Setup(ex, executor, journal)
        finally:
            await executor.close()
            journal.close()


def venue_orders(ex: LocalExchange, client_id: str) -> list[Any]:
    account = ex.account.account_id
    return [o for o in ex.engine.orders.values() if o.account_id == account and o.client_id == client_id]


def venue_trades(ex: LocalExchange) -> list[Any]:
    return list(ex.engine.trades[ex.account.account_id])


async def eventually(predicate: Any, timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def test_client_order_ids_are_deterministic_and_fit_the_venues() -> None:
    first = client_order_id("db", "opp:12:cex")
    assert first == client_order_id("db", "opp:12:cex") != client_order_id("db", "opp:13:cex")
    assert len(first) == 36 and first.startswith("db-")


async def test_ioc_fill_journals_the_fees_the_venue_charged(tmp_path: Path) -> None:
    async with setup(tmp_path) as s:
        intent = OrderIntent("ETH/USDT", "buy", "limit", D("3"), D("3010"), "IOC")
        order = await s.executor.place(intent, "ioc-1")

        trades = venue_trades(s.venue)
        assert order.status == "filled" and order.state == "closed" and order.filled == D("3")
        assert len(trades) >= 2  # 3 ETH walks more than the top level (2 ETH, jittered)
        journaled = s.journal.orders(venue="binance")
        assert [(o.client_order_id, o.status, o.venue_order_id) for o in journaled] == [
            (order.client_order_id, "filled", order.venue_order_id)
        ]
        fills = s.journal.fills(order_id=journaled[0].id)
        assert sorted((f.venue_trade_id, f.price, f.amount, f.fee, f.fee_currency) for f in fills) == sorted(
            (str(t.trade_id), t.price, t.qty, t.commission, t.commission_asset) for t in trades
        )
        assert sum(f.amount for f in fills) == D("3")
        assert {f.fee_currency for f in fills} == {"ETH"}  # a buy pays the taker fee in the asset received
        assert order.fees["ETH"] == sum(t.commission for t in trades) > 0


async def test_bybit_ioc_is_reconciled_from_its_acknowledgement(tmp_path: Path) -> None:
    async with LocalExchange(None, [ETH], venue="bybit", balances=START, taker_fee_bps=10, seed=4) as ex:
        journal = Journal(tmp_path / "journal.sqlite")
        client = ccxt_async.bybit(ccxt_config(ex.url, "bybit", ex.api_key, ex.api_secret))
        async with CexOrderExecutor(client, "bybit", journal) as executor:
            order = await executor.place(
                OrderIntent("ETH/USDT", "sell", "limit", D("1"), D("2990"), "IOC"), "y"
            )
        trades = venue_trades(ex)
        assert order.status == "filled" and order.state == "closed"
        fills = journal.fills()
        assert sorted((f.venue_trade_id, f.price, f.amount, f.fee, f.fee_currency) for f in fills) == sorted(
            (str(t.trade_id), t.price, t.qty, t.commission, t.commission_asset) for t in trades
        )
        assert {f.fee_currency for f in fills} == {"USDT"} and sum(f.amount for f in fills) == D("1")
        assert journal.orders(venue="bybit")[0].status == "filled"
        journal.close()


async def test_create_timeout_then_retry_with_the_same_id_fills_once(tmp_path: Path) -> None:
    async with setup(tmp_path, timeout_ms=300) as s:
        # the venue fills the create but its answer comes too late, and so does the first lookup
        async with aiohttp.ClientSession() as http:  # the test-only admin route (another process could)
            hold = {"method": "POST", "path": "/api/v3/order", "seconds": 1.0, "count": 1}
            async with http.post(s.venue.url + "/admin/test/delay", json=hold) as reply:
                assert reply.status == 200
        s.venue.delay_responses("GET", "/api/v3/order", 1.0)
        intent = OrderIntent("ETH/USDT", "buy", "limit", D("1"), D("3010"), "IOC")
        order = await s.executor.place(intent, "retried")

        assert s.executor.stats.timeouts == 1 and s.executor.stats.create_retries == 1
        assert s.executor.stats.duplicates_reconciled == 1  # the resend hit -2010 "Duplicate order sent."
        assert len(venue_orders(s.venue, order.client_order_id)) == 1
        trades = venue_trades(s.venue)
        assert sum(t.qty for t in trades) == D("1")  # filled once, not twice
        assert order.status == "filled" and order.filled == D("1")
        fills = s.journal.fills()
        assert sum(f.amount for f in fills) == D("1") and len(fills) == len(trades)
        assert sorted(e.kind for e in s.journal.errors()) == ["reconcile", "timeout"]

        again = await s.executor.place(intent, "retried")  # the same intent again: no new order
        assert again is order and len(venue_trades(s.venue)) == len(trades)


async def test_websocket_drop_with_an_order_in_flight_loses_and_doubles_nothing(tmp_path: Path) -> None:
    async with setup(tmp_path, timeout_ms=400, reconcile_interval_s=60.0) as s:
        stream = asyncio.create_task(s.executor.run_stream())
        try:
            await asyncio.sleep(0.3)  # subscribed
            s.venue.delay_responses("POST", "/api/v3/order", 1.0)
            intent = OrderIntent("ETH/USDT", "buy", "limit", D("0.5"), D("2990"), "GTC")
            placing = asyncio.create_task(s.executor.place(intent, "in-flight"))
            await asyncio.sleep(0.2)  # the order rests on the venue; its answer is still held back
            await s.venue.streams.close_all()  # every websocket dropped
            s.venue.set_mid("ETH/USDT", "2980")  # ... and the order fills while the stream is down
            order = await placing
            await eventually(lambda: order.state == "closed")

            assert s.executor.stats.stream_drops >= 1
            assert len(venue_orders(s.venue, order.client_order_id)) == 1
            assert order.status == "filled" and order.filled == D("0.5")
            fills = s.journal.fills()
            assert len({f.venue_trade_id for f in fills}) == len(fills)  # no trade journaled twice
            assert sum(f.amount for f in fills) == D("0.5")
            assert [f.venue_trade_id for f in fills] == [str(t.trade_id) for t in venue_trades(s.venue)]

            # the stream is back: a later fill arrives through it (the periodic reconcile is 60 s away)
            later = await s.executor.place(
                OrderIntent("ETH/USDT", "buy", "limit", D("0.5"), D("2970"), "GTC"), "after-drop"
            )
            updates = s.executor.stats.stream_updates
            s.venue.set_mid("ETH/USDT", "2960")
            await eventually(lambda: later.state == "closed")
            assert s.executor.stats.stream_updates > updates
            assert sum(f.amount for f in s.journal.fills()) == D("1")
        finally:
            stream.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stream


async def test_an_order_the_venue_never_got_is_resent_on_reconcile(tmp_path: Path) -> None:
    async with setup(tmp_path, timeout_ms=500, max_attempts=2) as s:
        await s.venue.stop()  # the venue is down: every create attempt fails to connect
        intent = OrderIntent("ETH/USDT", "buy", "limit", D("0.5"), D("3010"), "IOC")
        order = await s.executor.place(intent, "while-down")
        assert order.state == "pending" and order.error is not None and not venue_trades(s.venue)

        await s.venue.start()  # back: reconciling finds no such order and resends it under the same id
        await s.executor.reconcile()
        assert order.status == "filled" and order.state == "closed"
        assert len(venue_orders(s.venue, order.client_order_id)) == 1
        assert sum(f.amount for f in s.journal.fills()) == D("0.5")
        assert [o.status for o in s.journal.orders()] == ["filled"]


async def test_cancel_of_a_resting_order_is_journaled(tmp_path: Path) -> None:
    async with setup(tmp_path) as s:
        intent = OrderIntent("ETH/USDT", "sell", "limit", D("0.2"), D("3100"), "GTC")
        order = await s.executor.place(intent, "resting")
        assert order.status == "open" and order.state == "confirmed"
        await s.executor.cancel(order)
        assert order.status == "canceled" and order.state == "closed"
        assert [o.status for o in s.journal.orders()] == ["canceled"]
        assert not [o for o in venue_orders(s.venue, order.client_order_id) if o.is_open]


async def test_rate_limits_are_waited_out_without_a_ban(tmp_path: Path) -> None:
    limits = RateLimits(weight_per_window=30, window_s=1, strikes_before_ban=2, ban_s=60)
    async with setup(tmp_path, rate_limits=limits) as s:
        orders = []
        for i in range(15):  # load_markets (20) and 15 creates (1 each) overrun the 30 per second
            intent = OrderIntent("ETH/USDT", "sell", "limit", D("0.01"), D("2990"), "IOC")
            orders.append(await s.executor.place(intent, f"burst-{i}"))

        assert s.executor.stats.rate_limited >= 1
        assert all(o.status == "filled" for o in orders)
        assert len(venue_trades(s.venue)) == 15
        waits = [e.message for e in s.journal.errors() if e.kind == "rate_limit"]
        assert waits and all(" 429 " in m and " 418 " not in m for m in waits)
        await s.executor.exchange.fetch_time()  # not banned


async def test_secrets_never_reach_logs_or_the_journal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with setup(tmp_path, timeout_ms=300) as s:
        s.venue.delay_responses("GET", "/api/v3/openOrders", 1.0)
        raw: list[str] = []
        try:
            await s.executor.exchange.fetch_open_orders("ETH/USDT")
        except Exception as exc:
            raw.append(str(exc))
        assert "signature=" in raw[0]  # ccxt's timeout text carries the signed URL
        signature = raw[0].split("signature=")[1].split("&")[0].split()[0]

        # the same kind of failure through the executor: timeouts on a resting order's lookups
        intent = OrderIntent("ETH/USDT", "buy", "limit", D("0.5"), D("2900"), "GTC")
        order = await s.executor.place(intent, "resting")
        s.venue.delay_responses("GET", "/api/v3/openOrders", 1.0)
        s.venue.delay_responses("GET", "/api/v3/order", 1.0)
        await s.executor.reconcile()
        bad = CexOrderExecutor(
            ccxtpro.binance(
                ccxt_config(s.venue.url, "binance", s.venue.api_key, "wrong-" + s.venue.api_secret)
            ),
            "binance",
            s.journal,
        )
        rejected = await bad.place(intent, "bad-signature")
        await bad.close()

        assert order.status == "open" and rejected.status == "rejected"
        kinds = {e.kind for e in s.journal.errors()}
        assert {"reconcile", "reject"} <= kinds
        s.journal.close()
        text = caplog.text + (tmp_path / "journal.sqlite").read_bytes().decode("latin-1")
        assert "Timeout" in text and "signature=<redacted>" in text
        for secret in (s.venue.api_key, s.venue.api_secret, signature):
            assert secret not in text


def test_credentials_come_from_env_or_an_encrypted_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T_KEY", "key-0123456789")
    monkeypatch.setenv("T_SECRET", "secret-0123456789")
    from_env = credentials_from_env("T_KEY", "T_SECRET")
    assert (from_env.api_key, from_env.secret) == ("key-0123456789", "secret-0123456789")
    assert "0123456789" not in repr(from_env)
    assert scrub("failed with key-0123456789") == "failed with <redacted>"

    import json

    path = tmp_path / "binance.json"
    creds = ApiCredentials("A" * 64, "B" * 64)
    path.write_text(json.dumps(encrypt_credentials(creds, "hunter22", work_factor=2**10)))
    assert "A" * 64 not in path.read_text()
    monkeypatch.setenv("DEFIBOTS_KEYSTORE_PASSWORD", "hunter22")
    assert credentials_from_file(path) == creds
    with pytest.raises(UserError, match="wrong password") as wrong:
        credentials_from_file(path, "nope")
    assert "A" * 16 not in str(wrong.value)
    monkeypatch.delenv("T_SECRET")
    with pytest.raises(UserError, match="T_SECRET is not set"):
        credentials_from_env("T_KEY", "T_SECRET")
