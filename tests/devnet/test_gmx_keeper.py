"""The devnet keeper executes the stand-in's orders at the local oracle's prices, the same prices its
oracle-keeper routes serve: a market increase with a take profit and a stop loss in one multicall, the
take profit firing on a price move, a liquidation after a crash, and a trigger order left pending until
its price is reached."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from decimal import Decimal as D

import pytest
from aiohttp.test_utils import TestClient, TestServer
from eth_account.signers.local import LocalAccount
from web3 import Web3

from defibots.chain.calldata import calldata
from defibots.chain.gmx import events
from defibots.chain.gmx import keys as K
from defibots.chain.gmx.orders import OrderRequest, OrderType, order_multicall
from defibots.chain.gmx.reader import GmxReader
from defibots.devnet import gmx_standin as g
from defibots.devnet.exchange import ExchangeThread, LocalExchange, MarketSpec, admin_set_mid
from defibots.devnet.gmx_keeper import GmxKeeper
from defibots.devnet.gmx_oracle import GmxOracle, oracle_app
from defibots.devnet.gmx_service import GmxServiceConfig, gmx_service
from defibots.devnet.node import Devnet

pytestmark = pytest.mark.devnet

WETH = g.deployment().markets.market("ETH-USD").long.address
FEE = 10**15  # 0.001 ETH execution fee per order
USD = 10**30


@pytest.fixture
def world(arb_devnet: Devnet) -> Iterator[tuple[Devnet, GmxOracle, GmxKeeper]]:
    d = g.deployment()
    oracle = GmxOracle(d.markets, d.oracle_provider, spread_bps=Decimal(2))
    yield arb_devnet, oracle, GmxKeeper(arb_devnet.w3, d, oracle)


def send(w3: Web3, account: LocalAccount, to: str, data: bytes | str, value: int = 0) -> dict[str, object]:
    tx = {"from": account.address, "to": Web3.to_checksum_address(to), "data": data, "value": value}
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction(tx))  # type: ignore[arg-type]
    assert receipt["status"] == 1
    return dict(receipt)


def order(market: g.GmxMarketParams, user: str, kind: OrderType, size_usd: int, collateral: int,
          acceptable: int, trigger: int = 0, is_long: bool = True) -> OrderRequest:  # fmt: skip
    """A take profit or stop loss is cancelled with its position (autoCancel), as GMX's front end sets it."""
    return OrderRequest(
        market=market.market_token,
        initial_collateral_token=market.short.address,
        order_type=kind,
        is_long=is_long,
        size_delta_usd=size_usd,
        initial_collateral_delta_amount=collateral,
        acceptable_price=acceptable,
        trigger_price=trigger,
        execution_fee=FEE,
        receiver=user,
        auto_cancel=kind.is_decrease and kind is not OrderType.MARKET_DECREASE,
    )


def eth_unit(usd: int) -> int:
    """USD per ETH -> GMX's per-wei price x 1e30."""
    return usd * 10**12


def open_long(devnet: Devnet, keeper: GmxKeeper, user: LocalAccount, size_usd: int, collateral_usd: int,
              tp: int | None = None, sl: int | None = None) -> dict[str, object]:  # fmt: skip
    d = keeper.d
    eth = d.markets.market("ETH-USD")
    usdc = eth.short.address
    send(devnet.w3, user, usdc, calldata("approve(address,uint256)", d["SyntheticsRouter"], 2**256 - 1))
    main = order(eth, user.address, OrderType.MARKET_INCREASE, size_usd * USD, collateral_usd * 10**6,
                 eth_unit(4000))  # fmt: skip
    take = stop = None
    if tp is not None:
        take = order(
            eth, user.address, OrderType.LIMIT_DECREASE, size_usd * USD, 0, eth_unit(tp), eth_unit(tp)
        )
    if sl is not None:
        stop = order(eth, user.address, OrderType.STOP_LOSS_DECREASE, size_usd * USD, 0, 0, eth_unit(sl))
    call = order_multicall(d["OrderVault"], main, take_profit=take, stop_loss=stop)
    return send(devnet.w3, user, d["ExchangeRouter"], call.data, call.value)


def test_market_increase_then_take_profit_at_the_served_prices(
    world: tuple[Devnet, GmxOracle, GmxKeeper],
) -> None:
    devnet, oracle, keeper = world
    user = devnet.accounts[2]
    reader = GmxReader(devnet.w3, keeper.d["SyntheticsReader"], keeper.d["DataStore"])
    created = open_long(devnet, keeper, user, 5_000, 1_000, tp=3_300, sl=2_700)
    assert len(events.created_order_keys(created["logs"])) == 3  # type: ignore[arg-type]

    keeper.step()
    assert (keeper.stats.executed, keeper.stats.waiting) == (1, 2)  # TP and SL wait for their prices
    (position,) = reader.account_positions(user.address)
    assert position.size_in_usd == 5_000 * USD and position.is_long
    increase = next(e for e in keeper.stats.outcomes if e.name == "OrderExecuted")
    assert increase.topic2 is not None

    weth = oracle.token("WETH").address
    oracle.set_usd("WETH", Decimal(3_400))
    keeper.step()
    assert keeper.stats.executed == 2
    assert reader.account_positions(user.address) == []
    assert keeper.stats.waiting == 0  # the stop loss went with its position
    assert reader.account_orders(user.address) == []

    async def served() -> tuple[int, int]:
        async with TestClient(TestServer(oracle_app(oracle))) as client:
            tickers = await (await client.get("/prices/tickers")).json()
            row = next(t for t in tickers if t["tokenAddress"] == weth)
            return int(row["minPrice"]), int(row["maxPrice"])

    low, high = asyncio.run(served())
    assert (low, high) == (oracle.price(weth).min, oracle.price(weth).max)
    assert low < eth_unit(3_400) < high


def test_a_crash_gets_the_position_liquidated(world: tuple[Devnet, GmxOracle, GmxKeeper]) -> None:
    devnet, oracle, keeper = world
    user = devnet.accounts[3]
    reader = GmxReader(devnet.w3, keeper.d["SyntheticsReader"], keeper.d["DataStore"])
    open_long(devnet, keeper, user, 50_000, 1_000)  # 50x
    keeper.step()
    assert len(reader.account_positions(user.address)) == 1
    oracle.set_usd("WETH", Decimal(2_950))  # -1.7%: $833 of a $965 collateral lost, under the 0.5% minimum
    keeper.step()
    assert keeper.stats.liquidated == 1
    assert reader.account_positions(user.address) == []


def test_the_keeper_refuses_a_chain_without_the_stand_in(replica: Devnet) -> None:
    cli = [sys.executable, "-m", "defibots.cli.main", "devnet", "keeper", "--rpc", replica.http_url]
    done = subprocess.run(cli, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: no GMX stand-in at {replica.http_url} (start one with `defibots devnet up --chain arbitrum`)"
    ]


def test_the_oracle_follows_the_exchange_and_fills_at_its_price(arb_devnet: Devnet) -> None:
    """The devnet's prices move together: the keeper's oracle takes the local exchange's mid each round,
    and an order the keeper executes after the exchange moved fills at the new price."""
    venue = LocalExchange(None, [MarketSpec("ETH/USDT", D(3000)), MarketSpec("BTC/USDT", D(60000))], seed=5)
    with ExchangeThread(venue) as ex:
        config = GmxServiceConfig(arb_devnet.http_url, exchange_url=ex.url, poll_seconds=3600)
        with gmx_service(config) as svc:
            admin_set_mid(ex.url, "ETH/USDT", D("3123.45"))
            top = venue.market("ETH/USDT")
            user = arb_devnet.accounts[4]
            open_long(arb_devnet, svc.keeper, user, 2_000, 500)
            svc.step()
            assert svc.oracle.usd("WETH") == (top.book.best_price("buy") + top.book.best_price("sell")) / 2
            increase = events.position_increases(last_receipt_logs(arb_devnet))
            assert increase and increase[0].uint("indexTokenPrice.max") == svc.oracle.price(WETH).max
            assert svc.oracle.usd("BTC") == svc.oracle.usd("WBTC")  # the synthetic index follows WBTC


def last_receipt_logs(devnet: Devnet) -> list[dict[str, object]]:
    block = devnet.w3.eth.get_block("latest")
    receipt = devnet.w3.eth.get_transaction_receipt(block["transactions"][-1])
    return [dict(log) for log in receipt["logs"]]


def set_max_long_open_interest(devnet: Devnet, keeper: GmxKeeper, market: str, usd: int) -> None:
    """As GMX's config keeper would, through the stand-in's Config (a DataStore controller)."""
    config = keeper.d["Config"]
    devnet.w3.provider.make_request("anvil_setBalance", [config, hex(10**18)])  # type: ignore[arg-type]
    devnet.w3.provider.make_request("anvil_impersonateAccount", [config])  # type: ignore[arg-type]
    data = calldata("setUint(bytes32,uint256)", K.max_open_interest(market, True), usd)
    tx = {"from": config, "to": keeper.d["DataStore"], "data": data}
    assert devnet.w3.eth.wait_for_transaction_receipt(devnet.w3.eth.send_transaction(tx))["status"] == 1  # type: ignore[arg-type]


def test_a_frozen_limit_order_executes_once_its_cause_is_gone(
    world: tuple[Devnet, GmxOracle, GmxKeeper],
) -> None:
    """GMX freezes a triggered limit order whose execution fails (here: the market's open-interest cap) and
    its keepers execute it later, once it would succeed; until then the keeper sends nothing for it."""
    devnet, _, keeper = world
    user = devnet.accounts[5]
    d = keeper.d
    eth = d.markets.market("ETH-USD")
    reader = GmxReader(devnet.w3, d["SyntheticsReader"], d["DataStore"])
    cap = eth.max_open_interest_long_usd
    send(
        devnet.w3,
        user,
        eth.short.address,
        calldata("approve(address,uint256)", d["SyntheticsRouter"], 2**256 - 1),
    )
    limit = order(eth, user.address, OrderType.LIMIT_INCREASE, 2_000 * USD, 500 * 10**6, eth_unit(3_100),
                  eth_unit(3_100))  # fmt: skip
    call = order_multicall(d["OrderVault"], limit)
    (key,) = events.created_order_keys(
        send(devnet.w3, user, d["ExchangeRouter"], call.data, call.value)["logs"]
    )  # type: ignore[arg-type]
    set_max_long_open_interest(devnet, keeper, eth.market_token, 1)
    try:
        keeper.step()
        assert keeper.stats.outcomes[-1].name == "OrderFrozen" and keeper.stats.frozen == 1
        assert reader.order(key).is_frozen and keeper.stats.waiting == 1
        head = devnet.w3.eth.block_number
        keeper.step()  # still capped: a freeze again would only burn the keeper's gas
        assert devnet.w3.eth.block_number == head and keeper.stats.waiting == 1
    finally:
        set_max_long_open_interest(devnet, keeper, eth.market_token, cap)
    keeper.step()
    assert keeper.stats.outcomes[-1].name == "OrderExecuted" and keeper.stats.outcomes[-1].topic1 == key
    (position,) = reader.account_positions(user.address)
    assert position.size_in_usd == 2_000 * USD and keeper.stats.waiting == 0
