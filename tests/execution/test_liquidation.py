"""A liquidation found by the exact models and carried out by the Liquidator contract on the replica: a
mined price update leaves a borrower under HF 1; the plan (Aave model + Uniswap model, from the store's
state alone) is simulated at the next block's time, sent, and what the contract's event and the Pool's
own log report equals the plan to the wei: debt covered, collateral seized, swap output, flash premium,
profit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_abi import decode as abi_decode
from eth_utils import keccak
from tests.chain.aave_world import MARKET, load_store
from tests.execution.executor_market import balance_of
from tests.protocols.aave_v3.replica_state import AaveOnChain
from tests.protocols.conftest import JsonRpc as ContractRpc

from defibots.chain.addresses import TOKENS
from defibots.chain.pool_discovery import discover_pools
from defibots.chain.pool_loader import load_pools
from defibots.chain.rpc import JsonRpc
from defibots.devnet.aave_replica import set_aave_price
from defibots.devnet.node import Devnet
from defibots.execution.executor_client import ExecutorRevert
from defibots.execution.liquidator import LiquidatorClient, parse_liquidated
from defibots.protocols.aave_v3.account import HEALTH_FACTOR_LIQUIDATION_THRESHOLD
from defibots.protocols.liquidation_plan import LiquidationCosts, plan_liquidation
from defibots.state.aave import aave, account_data, account_positions

pytestmark = pytest.mark.devnet

WETH, USDC = TOKENS["WETH"].address, TOKENS["USDC"].address
LIQUIDATION_CALL = (
    "0x" + keccak(text="LiquidationCall(address,address,address,uint256,uint256,address,bool)").hex()
)
FLASH_PREMIUM_BPS = 5


@pytest.fixture
def chain(devnet: Devnet) -> Iterator[AaveOnChain]:
    rpc = ContractRpc(devnet.http_url)
    try:
        yield AaveOnChain(rpc)
    finally:
        rpc.close()


def make_borrower(devnet: Devnet, aave_chain: AaveOnChain, weth: int, usdc: int, price: int) -> str:
    """Dev account 3 supplies `weth` WETH and borrows `usdc` USDC; the WETH feed then moves to `price`."""
    user = devnet.accounts[3].address
    amount = weth * 10**18 // 100
    aave_chain.send(user, WETH, aave_chain.erc20(WETH), "approve", MARKET.pool, amount)
    aave_chain.send(user, MARKET.pool, aave_chain.pool, "supply", WETH, amount, user, 0)
    aave_chain.send(user, MARKET.pool, aave_chain.pool, "borrow", USDC, usdc * 10**6, 2, 0, user)
    set_aave_price(devnet.http_url, "WETH", price * 10**8)
    return user


CASES = {
    # name: (WETH supplied in hundredths, USDC borrowed, new WETH price), HF = WETH * price * 0.83 / USDC
    "hf_0.97_half": (1_000, 24_000, 2_805),  # HF > 0.95 and both sides >= $2,000: at most 50% of the debt
    "hf_0.94_full": (1_000, 24_000, 2_718),  # HF <= 0.95: all of it
    "under_2000_full": (50, 1_150, 2_700),  # HF 0.97 but under $2,000 of debt: all of it
    "collateral_shortfall": (1_000, 24_000, 2_024),  # HF 0.70: the collateral runs out first (bad debt)
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_mined_price_drop_is_liquidated_exactly_as_planned(
    devnet: Devnet, chain: AaveOnChain, case: str
) -> None:
    user = make_borrower(devnet, chain, *CASES[case])
    rpc = JsonRpc(devnet.http_url)
    market, snapshot = load_store(rpc, [user])
    part = aave(market)
    assert account_data(part, user, snapshot.timestamp).health_factor < HEALTH_FACTOR_LIQUIDATION_THRESHOLD
    pools = list(load_pools(rpc, discover_pools(rpc, [WETH, USDC])).values())
    at = snapshot.timestamp + 12
    costs = LiquidationCosts(
        FLASH_PREMIUM_BPS, gas=450_000, gas_price=10**9, weth_price=CASES[case][2] * 10**8
    )
    positions = account_positions(part, user)
    plan = plan_liquidation(user, positions, at, pools, costs)
    assert plan is not None and plan.collateral == WETH and plan.debt == USDC and plan.gross_profit > 0
    debt = next(p for p in positions if p.reserve.asset == USDC).debt(at)
    collateral = next(p for p in positions if p.reserve.asset == WETH).a_token_balance(at)
    if case == "hf_0.97_half":
        assert plan.debt_to_cover < debt * 51 // 100
    elif case == "collateral_shortfall":  # all the collateral goes (checked on chain below), not all the debt
        assert collateral - plan.collateral_seized - plan.protocol_fee <= 1 and plan.debt_to_cover < debt
    else:
        assert plan.debt_to_cover == debt

    owner = devnet.accounts[0]
    liquidator = LiquidatorClient.deploy(devnet.w3, owner)
    assert liquidator.simulate(plan, plan.gross_profit, at).profit == plan.gross_profit
    with pytest.raises(ExecutorRevert, match="InsufficientProfit"):
        liquidator.simulate(plan, plan.gross_profit + 1, at)

    devnet.rpc("evm_setNextBlockTimestamp", at)
    receipt = liquidator.send(plan, plan.gross_profit // 2, at)  # the guard; realized must equal the plan
    assert receipt["status"] == 1
    done = parse_liquidated(receipt, liquidator.address)
    assert done is not None
    assert (done.debt_covered, done.collateral_seized, done.swap_out, done.premium, done.profit) == (
        plan.debt_to_cover,
        plan.collateral_seized,
        plan.swap_out,
        plan.flash_premium,
        plan.gross_profit,
    )
    pool_logs = [log for log in receipt["logs"] if log["address"].lower() == MARKET.pool.lower()]
    (pool_log,) = [log for log in pool_logs if "0x" + bytes(log["topics"][0]).hex() == LIQUIDATION_CALL]
    covered, seized, _, _ = abi_decode(["uint256", "uint256", "address", "bool"], bytes(pool_log["data"]))
    assert (covered, seized) == (plan.debt_to_cover, plan.collateral_seized)
    usdc_held = balance_of(devnet.w3, USDC, liquidator.address)
    assert usdc_held == plan.gross_profit  # the profit is in the contract, for the owner to withdraw
    if case == "collateral_shortfall":  # no collateral left: the rest of the debt is booked as deficit
        assert chain.a_token(WETH).call("balanceOf", user) == 0
        assert chain.debt_token(USDC).call("balanceOf", user) == 0
