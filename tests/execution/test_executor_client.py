"""ExecutorClient on the mainnet replica: simulate and send real arbitrage, named reverts, admin calls."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3

from defibots.devnet.node import Devnet
from defibots.execution.executor_client import ExecutorClient, ExecutorRevert
from defibots.execution.route import Funding, Payment, Route, RouteHop

from .executor_market import (
    USDC,
    V2_WETH_USDC,
    V3_WETH_USDC_500,
    WETH,
    balance_of,
    dump_on_v2,
    fund_weth,
    v2_reserve_of,
)

pytestmark = pytest.mark.devnet


@dataclass
class Setup:
    w3: Web3
    owner: ExecutorClient
    bot: ExecutorClient
    trader: LocalAccount


@pytest.fixture
def setup(devnet: Devnet) -> Setup:
    owner, bot, trader = devnet.accounts[0], devnet.accounts[1], devnet.accounts[2]
    client, _ = ExecutorClient.deploy(devnet.w3, owner, owner.address, [bot.address])
    return Setup(devnet.w3, client, ExecutorClient(devnet.w3, client.address, bot), trader)


def v3_then_v2(amount_in: int, **kw: object) -> Route:
    hops = (RouteHop.v3(V3_WETH_USDC_500, USDC, 500), RouteHop.v2(V2_WETH_USDC, WETH))
    return Route(WETH, amount_in, hops, funding=Funding.V3_FLASH_SWAP, **kw)  # type: ignore[arg-type]


def test_simulated_profit_is_what_execute_makes(setup: Setup) -> None:
    w3 = setup.w3
    depth = v2_reserve_of(w3, V2_WETH_USDC, WETH, USDC)
    dump_on_v2(w3, setup.trader.address, V2_WETH_USDC, WETH, USDC, depth // 20)
    route = v3_then_v2(depth // 500)

    sim = setup.bot.simulate(route)
    assert sim.profit > 0 and sim.gas > 0
    before = balance_of(w3, WETH, setup.bot.address)
    receipt = setup.bot.execute(route)
    assert receipt["status"] == 1
    assert balance_of(w3, WETH, setup.bot.address) == before + sim.profit

    # the owner takes the profit out; the sweep leaves nothing behind
    owner_before = balance_of(w3, WETH, setup.owner.owner())
    setup.owner.withdraw_token(WETH, setup.owner.owner(), 2**256 - 1)
    assert balance_of(w3, WETH, setup.owner.owner()) == owner_before + before + sim.profit
    assert balance_of(w3, WETH, setup.owner.address) == 0


def test_unprofitable_route_is_a_named_error_and_nothing_is_sent(setup: Setup, devnet: Devnet) -> None:
    w3 = setup.w3
    fund_weth(w3, setup.owner.address, 10**18, setup.trader.address)  # pays the flash swap's shortfall
    before = balance_of(w3, WETH, setup.owner.address)
    route = v3_then_v2(10**18, min_profit=5)
    nonce = w3.eth.get_transaction_count(setup.bot.signer.address)  # type: ignore[union-attr]

    with pytest.raises(ExecutorRevert, match=r"InsufficientProfit\(balanceAfter=\d+, required=\d+\)") as info:
        setup.bot.execute(route)
    reason = info.value.reason
    assert reason is not None and reason.name == "InsufficientProfit"
    assert reason.arg("required") == before + 5
    assert before - 10**16 < reason.arg("balanceAfter") < before  # lost the two pools' fees
    assert w3.eth.get_transaction_count(setup.bot.signer.address) == nonce  # type: ignore[union-attr]


def test_strangers_and_bad_routes_are_named(setup: Setup, devnet: Devnet) -> None:
    stranger = ExecutorClient(setup.w3, setup.owner.address, devnet.accounts[3])
    with pytest.raises(ExecutorRevert, match=r"Unauthorized\(\)"):
        stranger.simulate(v3_then_v2(10**18))
    with pytest.raises(ExecutorRevert, match=r"Unauthorized\(\)"):
        setup.bot.withdraw_eth(setup.bot.signer.address, 1)  # type: ignore[union-attr]
    aave = Route(WETH, 10**18, v3_then_v2(1).hops, funding=Funding.AAVE_FLASH_LOAN)
    with pytest.raises(ExecutorRevert, match=r"NotSupported\(\)"):
        setup.bot.simulate(aave)
    with pytest.raises(
        ExecutorRevert, match=r"PaymentFailed\(\)"
    ):  # USDC profit, builder paid from ETH: none
        usdc_cycle = (RouteHop.v3(V3_WETH_USDC_500, WETH, 500), RouteHop.v2(V2_WETH_USDC, USDC))
        dump_on_v2(setup.w3, setup.trader.address, V2_WETH_USDC, USDC, WETH, 5_000_000 * 10**6)
        setup.bot.simulate(
            Route(
                USDC, 10_000 * 10**6, usdc_cycle, Funding.V3_FLASH_SWAP, payment=Payment.WEI, payment_value=1
            )
        )


def test_owner_manages_callers(setup: Setup, devnet: Devnet) -> None:
    newcomer = devnet.accounts[4]
    assert not setup.owner.is_caller(newcomer.address)
    setup.owner.set_caller(newcomer.address, True)
    assert setup.owner.is_caller(newcomer.address)
    setup.owner.set_caller(newcomer.address, False)
    assert not setup.owner.is_caller(newcomer.address)
