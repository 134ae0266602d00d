"""The CEX leads: the price driver walks two local venues' mids around one shared price, publishes it on
the Aave replica's WETH feed, and noise-trader arbitrage drags every WETH/stable pool after it."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

from defibots.chain.aave_addresses import aave_v3_ethereum
from defibots.chain.calldata import calldata
from defibots.devnet.exchange import ExchangeThread, LocalExchange, MarketSpec, admin_set_mid
from defibots.devnet.node import Devnet
from defibots.devnet.noise import MarketNoise
from defibots.devnet.price_driver import PriceDriver, PriceDriverParams, pool_price, weth_stable_pools


def feed_answer(devnet: Devnet, symbol: str) -> int:
    market = aave_v3_ethereum()
    feed = market.asset(symbol).price_source
    reply = devnet.w3.eth.call({"to": feed, "data": calldata("latestAnswer()")})  # type: ignore[typeddict-item]
    return int.from_bytes(reply, "big", signed=True)


def oracle_price(devnet: Devnet, symbol: str) -> int:
    market = aave_v3_ethereum()
    data = calldata("getAssetPrice(address)", market.asset(symbol).underlying)
    return int.from_bytes(devnet.w3.eth.call({"to": market.oracle, "data": data}), "big")  # type: ignore[typeddict-item]


def mid_of(ex: LocalExchange) -> D:
    return ex.market("ETH/USDT").mid


def test_pools_and_the_aave_feed_follow_the_cex_walk(devnet: Devnet) -> None:
    spec = [MarketSpec("ETH/USDT", D(3000))]
    binance, bybit = LocalExchange(None, spec, seed=1), LocalExchange(None, spec, venue="bybit", seed=2)
    with ExchangeThread(binance) as b, ExchangeThread(bybit) as y:
        venues: dict[str, Any] = {
            "binance": lambda symbol, mid: admin_set_mid(b.url, symbol, mid),
            "bybit": lambda symbol, mid: admin_set_mid(y.url, symbol, mid),
        }
        noise = MarketNoise(devnet.http_url, devnet.accounts[5:], seed=3)
        noise.approve_routers()
        params = PriceDriverParams(sigma_bps=40, arb_probability=1.0, arb_share=1.0, basis_max_bps=5)
        driver = PriceDriver(venues, rpc_url=devnet.http_url, noise=noise, seed=4, params=params)
        steps = driver.run(6)

        last = steps[-1]
        assert len({s.mid for s in steps}) > 1  # the walk moved
        for name, ex in (("binance", binance), ("bybit", bybit)):
            assert mid_of(ex) == last.venue_mids[name]
            assert abs(mid_of(ex) - last.mid) / last.mid <= D("0.0005")  # basis within 5 bps
        assert feed_answer(devnet, "WETH") == last.feed_price == int(last.mid * 10**8)
        assert oracle_price(devnet, "WETH") == last.feed_price
        assert driver.stats.arb_swaps >= len(weth_stable_pools())
        for pool in weth_stable_pools():  # every pool within 2 bps of the walk after the arbitrage
            price = pool_price(noise, pool)
            assert abs(price - last.mid) / last.mid < D("0.0002"), (pool, price, last.mid)
