"""Benchmark of the CEX leg on local venues (prints numbers, asserts nothing):

1. normalized top-of-book updates handled per second across two venues (binance over ccxt.pro's depth
   stream, bybit polled over REST) while both mids move as fast as the venues allow, plus the pure merge
   (`MultiVenueTop.apply`) alone;
2. CEX book update -> IOC order acknowledged, p50/p99: a mid move on the binance venue, the depth diff
   through ccxt.pro into a `NormalizedTop`, then `CexOrderExecutor.place` of an IOC until the venue's answer
   (the on-chain leg comes later), with ccxt's client-side throttle (`enableRateLimit`) on and off.
   Venue, client and bot share one process and one event loop.
3. CEX book update -> both legs sent, p50/p99 (`cex_amm_arb` on the mainnet replica): the venue's mid
   moves under the pools, its book arrives (`CexFeed`, REST), the strategy prices it, and
   `HedgedArbExecutor` simulates and sends the swap, waits for its receipt (anvil automines) and places the
   IOC until the venue's answer. Each round starts from the same replica snapshot (not timed).

    .venv/bin/python scripts/bench_cex.py [--seconds 5] [--orders 200] [--trips 30]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import ccxt.async_support as ccxt_async
import ccxt.pro as ccxtpro

from defibots.cex.order_cache import OrderIntent
from defibots.cex.orders import CexOrderExecutor
from defibots.cex.top_of_book import MultiVenueTop, NormalizedTop, PolledBook, VenueTop, WatchedBook
from defibots.devnet.exchange import LocalExchange, MarketSpec, ccxt_config

ETH = MarketSpec("ETH/USDT", Decimal(3000))
BALANCES = {"USDT": Decimal(10_000_000), "ETH": Decimal(10_000)}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def mover(venues: list[LocalExchange], rng: random.Random) -> None:
    while True:
        for ex in venues:
            ex.random_walk("ETH/USDT", 3.0)
        await asyncio.sleep(0.001)


async def book_throughput(seconds: float) -> None:
    async with (
        LocalExchange(None, [ETH], venue="binance", seed=1) as binance,
        LocalExchange(None, [ETH], venue="bybit", seed=2) as bybit,
    ):
        top = MultiVenueTop(
            [
                WatchedBook(ccxtpro.binance(ccxt_config(binance.url, "binance")), "binance", "ETH/USDT"),
                PolledBook(ccxt_async.bybit(ccxt_config(bybit.url, "bybit")), "bybit", "ETH/USDT", 0.0),
            ]
        )
        moving = asyncio.create_task(mover([binance, bybit], random.Random(3)))
        events = top.events()
        start = time.perf_counter()
        try:
            async for _ in events:
                if time.perf_counter() - start >= seconds:
                    break
        finally:
            elapsed = time.perf_counter() - start
            moving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await moving
            await events.aclose()  # type: ignore[attr-defined]
            await top.close()
    print(
        f"normalized book, two live venues: {top.stats.updates / elapsed:,.0f} venue updates/s handled, "
        f"{top.stats.records / elapsed:,.0f} records/s ({top.stats.records} in {elapsed:.1f} s)"
    )

    merge = MultiVenueTop([])
    tops = [
        VenueTop(venue, "ETH/USDT", Decimal(3000 + i % 50), Decimal(1), Decimal(3001 + i % 50), Decimal(1), 0)
        for i in range(100_000)
        for venue in ("binance", "bybit")
    ]
    start = time.perf_counter()
    for t in tops:
        merge.apply(t)
    elapsed = time.perf_counter() - start
    print(f"normalized book, merge alone: {len(tops) / elapsed:,.0f} updates/s")


async def update_to_ioc(orders: int, throttle: bool) -> None:
    async with LocalExchange(None, [ETH], balances=BALANCES, seed=4) as ex:
        config = ccxt_config(ex.url, "binance", ex.api_key, ex.api_secret) | {"enableRateLimit": throttle}
        client = ccxtpro.binance(config)
        executor = CexOrderExecutor(client, "binance", None, strategy="bench")
        await executor.open()
        feed = MultiVenueTop([WatchedBook(client, "binance", "ETH/USDT")])
        events = feed.events()
        latencies: list[float] = []
        try:
            first = await anext(events)  # subscribed
            assert isinstance(first, NormalizedTop)
            warm = OrderIntent("ETH/USDT", "buy", "limit", Decimal("0.01"), first.venues[0].ask, "IOC")
            await executor.place(warm, "warm-up")  # ccxt's first signed call is slow (~0.5 s): not counted
            for i in range(orders):
                ex.random_walk("ETH/USDT", 3.0)
                depth = ex.depth("ETH/USDT", 1)
                want = (depth.bids[0].price, depth.bids[0].qty, depth.asks[0].price, depth.asks[0].qty)
                while True:  # skip records of earlier changes (our own fills): wait for this move's
                    record = await anext(events)
                    assert isinstance(record, NormalizedTop)
                    top = record.venues[0]
                    if (top.bid, top.bid_qty, top.ask, top.ask_qty) == want:
                        break
                side = "buy" if i % 2 == 0 else "sell"
                price = top.ask * Decimal("1.001") if side == "buy" else top.bid * Decimal("0.999")
                intent = OrderIntent(
                    "ETH/USDT", side, "limit", Decimal("0.01"), price.quantize(Decimal("0.01")), "IOC"
                )
                order = await executor.place(intent, f"bench-{i}")
                latencies.append((time.perf_counter_ns() - record.stamps.received) / 1e6)
                if order.status != "filled":
                    print(f"order {i}: {order.status}")
        finally:
            await events.aclose()  # type: ignore[attr-defined]
            await executor.close()
    mode = "on" if throttle else "off"
    print(
        f"CEX book update -> IOC acknowledged ({orders} orders, ccxt throttle {mode}): "
        f"p50 {statistics.median(latencies):.2f} ms, p99 {pct(latencies, 0.99):.2f} ms, "
        f"max {max(latencies):.2f} ms"
    )


async def update_to_both_legs(trips: int) -> None:
    from defibots.cex.feed import CexFeed
    from defibots.chain.addresses import TOKENS
    from defibots.chain.calldata import calldata
    from defibots.chain.pool_discovery import discover_pools
    from defibots.chain.pool_loader import load_pools
    from defibots.chain.rpc import JsonRpc
    from defibots.config import LegRiskPolicy
    from defibots.devnet.node import Devnet, DevnetOptions
    from defibots.devnet.noise import MarketNoise
    from defibots.devnet.price_driver import pool_price, weth_stable_pools
    from defibots.execution.executor_client import ExecutorClient
    from defibots.execution.hedged_arb import HedgedArbExecutor
    from defibots.journal import Journal
    from defibots.state.uniswap import pool_market
    from defibots.strategies.cex_amm_arb import CexAmmArbSettings, CexAmmArbStrategy
    from defibots.strategies.cex_arb import markets_for

    tokens = [TOKENS[s].address for s in ("WETH", "USDC", "USDT")]
    with Devnet.start(DevnetOptions()) as devnet, tempfile.TemporaryDirectory() as tmp:
        owner = devnet.accounts[0]
        deployed, _ = ExecutorClient.deploy(devnet.w3, owner, owner.address)
        wei = 100 * 10**18
        for data, value in ((calldata("deposit()"), wei),
                            (calldata("transfer(address,uint256)", deployed.address, wei), 0)):  # fmt: skip
            devnet.rpc("eth_sendTransaction", {"from": owner.address, "to": tokens[0], "data": data,
                                               "value": hex(value)})  # fmt: skip
        mid = pool_price(MarketNoise(devnet.http_url, [devnet.accounts[2]], seed=1),
                         next(p for p in weth_stable_pools() if p.protocol == "v3"))  # fmt: skip
        snapshot = devnet.snapshot()
        async with LocalExchange(None, [ETH], balances=BALANCES, seed=4) as ex:
            config = ccxt_config(ex.url, "binance", ex.api_key, ex.api_secret)
            orders = CexOrderExecutor(ccxtpro.binance(config), "binance", None, strategy="bench")
            await orders.open()
            feed = CexFeed("binance", ("ETH/USDT",), ex.url)
            await feed.open()
            latencies: list[float] = []
            statuses: dict[str, int] = {}
            try:
                for i in range(trips + 1):  # the first trip warms ccxt's signed path: not counted
                    devnet.revert(snapshot)
                    snapshot = devnet.snapshot()
                    rpc = JsonRpc(devnet.http_url)
                    state = pool_market(load_pools(rpc, discover_pools(rpc, tokens)).values())
                    settings = CexAmmArbSettings(sizes=[Decimal(1)], min_edge_bps=Decimal(1))
                    strategy = CexAmmArbStrategy(state, settings, markets_for(["ETH/USDT"], True))
                    journal = Journal(Path(tmp) / f"journal-{i}.sqlite")
                    hedged = HedgedArbExecutor(
                        ExecutorClient(devnet.w3, deployed.address, owner), orders, journal, devnet.chain_id,
                        state, LegRiskPolicy(confirmations=0), rpc_url=devnet.http_url, shadow=False,
                        poll_s=0.002,
                    )  # fmt: skip
                    ex.set_mid("ETH/USDT", (mid * Decimal("0.99")).quantize(Decimal("0.01")))
                    (top,) = await feed.poll_once()
                    actions = await strategy.process_event(top)
                    action = next(a for a in actions if a.direction == "sell_amm_buy_cex")
                    await hedged.execute(action)
                    if i:
                        latencies.append((action.stamps.sent - top.stamps.received) / 1e6)
                    (trip,) = journal.round_trips()
                    statuses[trip.status] = statuses.get(trip.status, 0) + 1
                    await hedged.close()
                    journal.close()
            finally:
                await feed.close()
                await orders.close()
    print(
        f"CEX book update -> both legs sent ({trips} round trips, swap mined + IOC answered; {statuses}): "
        f"p50 {statistics.median(latencies):.2f} ms, p99 {pct(latencies, 0.99):.2f} ms, "
        f"max {max(latencies):.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--trips", type=int, default=30)
    args = parser.parse_args()
    asyncio.run(book_throughput(args.seconds))
    asyncio.run(update_to_ioc(args.orders, throttle=True))  # ccxt's default: spaces REST calls by rateLimit
    asyncio.run(update_to_ioc(args.orders, throttle=False))  # the venue's own limits only
    asyncio.run(update_to_both_legs(args.trips))


if __name__ == "__main__":
    main()
