"""The Aave v3.6 model against the real Pool on the mainnet replica: account data of every seeded account
(also after random price moves), index accrual after a time warp, supply/borrow/repay/withdraw state
transitions, and liquidations (close factor 50% and 100%, aTokens out, bad debt, e-mode, dust rule),
all to the wei. The `devnet` fixture reverts the replica to its snapshot after each test."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from typing import Any

import pytest
from eth_abi import decode, encode

from defibots.devnet.aave_params import RESERVE_ORDER, aave_params
from defibots.devnet.aave_replica import seeded_address, set_aave_price, usd_price_8dec
from defibots.devnet.node import Devnet
from defibots.protocols.aave_v3 import (
    FLASHLOAN_PREMIUM_TO_PROTOCOL,
    AaveV3Revert,
    UserReserve,
    borrow,
    flash_loan_premium,
    flash_loan_simple,
    liquidation_call,
    repay,
    supply,
    user_account_data,
    validate_borrow_health,
    withdraw,
)

from ..conftest import JsonRpc
from .aave_abi import Contract, artifact
from .replica_state import MARKET, MAX_UINT256, AaveOnChain, token

PARAMS = aave_params()
SEED = int(os.environ.get("AAVE_PARITY_SEED", "20261203"))
LIQUIDATION_CALL_TOPIC = "0x" + "e413a321e8681d831f4dbccbca790d2952b56f977908e45be37335533e005286"

pytestmark = pytest.mark.devnet


@pytest.fixture
def aave(devnet: Devnet) -> Iterator[AaveOnChain]:
    rpc = JsonRpc(devnet.http_url)
    try:
        yield AaveOnChain(rpc)
    finally:
        rpc.close()


def seeded_accounts() -> list[str]:
    borrowers = [seeded_address("borrower", i) for i in range(len(PARAMS.borrowers))]
    return borrowers + [seeded_address("supplier", i) for i in range(len(PARAMS.suppliers))]


def model_account(aave: AaveOnChain, user: str, reserves: Any = None) -> tuple[int, ...]:
    positions = aave.positions(user, reserves)
    return user_account_data(positions, aave.timestamp(), aave.e_mode_of(user)).as_tuple()


def test_account_data_of_every_seeded_account(aave: AaveOnChain, devnet: Devnet) -> None:
    # a freshly built replica may have had no time pass since its last update: accrual must be exercised
    devnet.rpc("evm_increaseTime", 3 * 86_400 + 1)
    devnet.rpc("evm_mine")
    reserves = aave.reserves()
    assert any(r.last_update_timestamp < aave.timestamp() for r in reserves.values())  # accrual is exercised
    for user in [*seeded_accounts(), devnet.accounts[0].address]:
        assert model_account(aave, user, reserves) == tuple(aave.pool.call("getUserAccountData", user)), user
    assert model_account(aave, devnet.accounts[0].address)[5] == MAX_UINT256


def test_account_data_after_random_price_moves(aave: AaveOnChain, devnet: Devnet) -> None:
    rng = random.Random(SEED)
    print(f"seed {SEED}")
    for _ in range(3):
        for sym in RESERVE_ORDER:
            set_aave_price(devnet.http_url, sym, int(usd_price_8dec(sym) * rng.uniform(0.4, 1.6)))
        reserves = aave.reserves()
        for user in seeded_accounts():
            assert model_account(aave, user, reserves) == tuple(aave.pool.call("getUserAccountData", user))


def test_indexes_after_a_time_warp(aave: AaveOnChain, devnet: Devnet) -> None:
    before = aave.reserves()
    devnet.rpc("evm_increaseTime", 45 * 86_400 + 17)
    devnet.rpc("evm_mine")
    now = aave.timestamp()
    for asset, r in before.items():
        assert r.normalized_income(now) == aave.pool.call("getReserveNormalizedIncome", asset)
        assert r.normalized_debt(now) == aave.pool.call("getReserveNormalizedVariableDebt", asset)
        if r.scaled_variable_debt:
            assert r.liquidity_index < r.normalized_income(now)
        assert r.total_a_token_supply(now) == aave.a_token(asset).call("totalSupply")
        assert r.total_variable_debt(now) == aave.debt_token(asset).call("totalSupply")
    for user in seeded_accounts():
        assert model_account(aave, user) == tuple(aave.pool.call("getUserAccountData", user))


class Lender:
    """One dev account acting on the Pool, each action checked against the model's transition."""

    def __init__(self, aave: AaveOnChain, user: str) -> None:
        self.aave, self.user = aave, user
        for sym in ("WETH", "USDC", "DAI", "WBTC"):
            aave.send(user, token(sym), aave.erc20(token(sym)), "approve", MARKET.pool, MAX_UINT256)

    def act(self, action: str, sym: str, amount: int) -> None:
        aave, asset = self.aave, token(sym)
        before = aave.reserve(asset)
        position = aave.positions(self.user)[before.id]
        wallet = aave.erc20(asset).call("balanceOf", self.user)
        pool = aave.pool
        if action == "supply":
            receipt = aave.send(self.user, MARKET.pool, pool, "supply", asset, amount, self.user, 0)
        elif action == "withdraw":
            receipt = aave.send(self.user, MARKET.pool, pool, "withdraw", asset, amount, self.user)
        elif action == "borrow":
            receipt = aave.send(self.user, MARKET.pool, pool, "borrow", asset, amount, 2, 0, self.user)
        else:
            receipt = aave.send(self.user, MARKET.pool, pool, "repay", asset, amount, 2, self.user)
        ts = aave.block_timestamp(receipt)
        if action == "supply":
            result = supply(before, amount, ts, position.scaled_a_token_balance)
        elif action == "withdraw":
            result = withdraw(before, amount, ts, position.scaled_a_token_balance)
        elif action == "borrow":
            result = borrow(before, amount, ts, position.scaled_variable_debt)
        else:
            result = repay(before, amount, ts, position.scaled_variable_debt)
        assert result.reserve == aave.reserve(asset), (action, sym)
        scaled_token = aave.a_token(asset) if action in ("supply", "withdraw") else aave.debt_token(asset)
        assert result.scaled_balance == scaled_token.call("scaledBalanceOf", self.user)
        moved = aave.erc20(asset).call("balanceOf", self.user) - wallet
        assert moved == (result.amount if action in ("withdraw", "borrow") else -result.amount)
        after = aave.positions(self.user)
        account = user_account_data(after, ts, None)
        assert account.as_tuple() == tuple(pool.call("getUserAccountData", self.user))
        if action == "borrow":
            validate_borrow_health(account)


def test_supply_borrow_repay_withdraw_transitions(aave: AaveOnChain, devnet: Devnet) -> None:
    rng = random.Random(SEED)
    lender = Lender(aave, devnet.accounts[2].address)
    lender.act("supply", "WETH", 10 * 10**18 + rng.randrange(10**18))
    lender.act("supply", "USDC", 12_345 * 10**6 + rng.randrange(10**6))
    lender.act("borrow", "USDC", 5_000 * 10**6 + rng.randrange(10**6))
    lender.act("borrow", "DAI", 3_000 * 10**18 + rng.randrange(10**18))
    devnet.rpc("evm_increaseTime", 3 * 86_400 + 5)
    devnet.rpc("evm_mine")
    lender.act("repay", "USDC", 1_000 * 10**6 + 1)
    lender.act("supply", "WBTC", 3 * 10**8 + 7)
    devnet.rpc("evm_increaseTime", 86_400)
    lender.act("repay", "USDC", MAX_UINT256)
    lender.act("repay", "DAI", MAX_UINT256)
    lender.act("withdraw", "WETH", 3 * 10**18 + 3)
    lender.act("withdraw", "USDC", MAX_UINT256)
    lender.act("withdraw", "WETH", MAX_UINT256)


def governance(aave: AaveOnChain, signature_name: str, *args: Any) -> None:
    """A PoolConfigurator call as the market's ACL admin (impersonated)."""
    gov = MARKET.acl_admin
    configurator = Contract(aave.rpc, artifact("PoolConfiguratorInstance")["abi"], MARKET.pool_configurator)
    aave.rpc.call("anvil_impersonateAccount", [gov])
    try:
        aave.send(gov, MARKET.pool_configurator, configurator, signature_name, *args)
    finally:
        aave.rpc.call("anvil_stopImpersonatingAccount", [gov])


def test_model_reverts_like_the_pool(aave: AaveOnChain, devnet: Devnet) -> None:
    """Reserve-level validations fail first and with the same custom error in the model and the Pool."""
    user = devnet.accounts[3].address
    governance(aave, "setBorrowCap", token("WETH"), 1)
    governance(aave, "setSupplyCap", token("USDC"), 1)
    aave.send(user, token("USDC"), aave.erc20(token("USDC")), "approve", MARKET.pool, MAX_UINT256)
    now = aave.timestamp()
    weth, usdc = aave.reserve(token("WETH")), aave.reserve(token("USDC"))
    pool_weth = aave.a_token(token("WETH")).call("totalSupply")
    cases = [
        (lambda: borrow(weth, pool_weth + 1, now), ("borrow", token("WETH"), pool_weth + 1, 2, 0, user)),
        (lambda: borrow(weth, 10**18, now), ("borrow", token("WETH"), 10**18, 2, 0, user)),
        (lambda: supply(usdc, 2 * 10**6, now), ("supply", token("USDC"), 2 * 10**6, user, 0)),
        (lambda: withdraw(weth, 10**18, now, 0), ("withdraw", token("WETH"), 10**18, user)),
        (lambda: repay(usdc, 10**6, now, 0), ("repay", token("USDC"), 10**6, 2, user)),
    ]
    reasons = []
    for model, (name, *args) in cases:
        tx = {"from": user, "to": MARKET.pool, "data": "0x" + aave.pool.calldata(name, *args).hex()}
        with pytest.raises(AaveV3Revert) as revert:
            model()
        assert revert.value.reason == aave.revert_of(tx)
        reasons.append(revert.value.reason)
    assert reasons == [
        "InvalidAmount",
        "BorrowCapExceeded",
        "SupplyCapExceeded",
        "NotEnoughAvailableUserBalance",
        "NoDebtOfSelectedType",
    ]


LIQUIDATIONS = {
    # name: (borrower index, price factors, debt to cover as a fraction of the debt (None = max), aTokens)
    "close_factor_50": (0, {"WETH": 0.95}, None, False),
    "close_factor_100": (0, {"WETH": 0.86}, None, False),
    "partial_to_atokens": (2, {"WBTC": 0.78}, 0.2, True),
    "bad_debt": (0, {"WETH": 1 / 3}, None, False),
    "e_mode_same_asset": (6, {}, None, False),
}


def lower_e_mode_threshold(aave: AaveOnChain) -> None:
    """Governance cuts the ETH e-mode to 85% / 90% / +1%: the e-mode borrower (HF 1.03) goes under."""
    gov = MARKET.acl_admin
    configurator = Contract(aave.rpc, artifact("PoolConfiguratorInstance")["abi"], MARKET.pool_configurator)
    aave.rpc.call("anvil_impersonateAccount", [gov])
    try:
        aave.send(
            gov, MARKET.pool_configurator, configurator, "setEModeCategory", 1, 8500, 9000, 10100, "ETH"
        )
    finally:
        aave.rpc.call("anvil_stopImpersonatingAccount", [gov])


def debt_and_collateral(borrower_index: int) -> tuple[str, str]:
    b = PARAMS.borrowers[borrower_index]
    (coll,) = b.collateral
    return token(coll), token(b.debt)


def liquidate_and_compare(
    aave: AaveOnChain, liquidator: str, index: int, fraction: float | None, to_a_tokens: bool
) -> str:
    """Liquidate seeded borrower `index` for `fraction` of its debt (None = as much as allowed) at a fixed
    time 12 s after the latest block; check every transfer and the whole state after against the model.
    Returns '' or, when the model says the call reverts, that reason (checked against eth_call)."""
    borrower = seeded_address("borrower", index)
    collateral, debt = debt_and_collateral(index)
    aave.send(liquidator, debt, aave.erc20(debt), "approve", MARKET.pool, MAX_UINT256)
    positions = aave.positions(borrower)
    e_mode = aave.e_mode_of(borrower)
    ts = aave.timestamp() + 12
    owed = {p.reserve.asset: p for p in positions}[debt].debt(ts)
    cover = MAX_UINT256 if fraction is None else int(owed * fraction)
    args = (collateral, debt, borrower, cover, to_a_tokens)
    aave.rpc.call("evm_setNextBlockTimestamp", [ts])
    try:
        result = liquidation_call(
            positions, collateral, debt, cover, ts, e_mode=e_mode, receive_a_token=to_a_tokens
        )
    except AaveV3Revert as revert:
        aave.rpc.call("evm_mine", [])  # eth_call runs at `latest`: give it the model's timestamp
        tx = {
            "from": liquidator,
            "to": MARKET.pool,
            "data": "0x" + aave.pool.calldata("liquidationCall", *args).hex(),
        }
        assert aave.revert_of(tx) == revert.reason
        return revert.reason
    a_coll, a_debt = aave.a_token(collateral), aave.erc20(debt)
    treasury = a_coll.call("RESERVE_TREASURY_ADDRESS")
    wallet = {
        "debt": a_debt.call("balanceOf", liquidator),
        "coll": aave.erc20(collateral).call("balanceOf", liquidator),
        "a_coll": a_coll.call("scaledBalanceOf", liquidator),
        "treasury": a_coll.call("scaledBalanceOf", treasury),
    }
    receipt = aave.send(liquidator, MARKET.pool, aave.pool, "liquidationCall", *args)
    assert aave.block_timestamp(receipt) == ts

    paid = wallet["debt"] - a_debt.call("balanceOf", liquidator)
    if debt == collateral and not to_a_tokens:
        paid += result.collateral_to_liquidator  # the same token came back as collateral
    assert paid == result.debt_repaid > 0
    if to_a_tokens:
        got = a_coll.call("scaledBalanceOf", liquidator) - wallet["a_coll"]
        assert got == result.collateral_scaled_to_liquidator
    elif debt != collateral:
        got = aave.erc20(collateral).call("balanceOf", liquidator) - wallet["coll"]
        assert got == result.collateral_to_liquidator
    assert a_coll.call("scaledBalanceOf", treasury) - wallet["treasury"] == result.protocol_fee_scaled
    (log,) = [entry for entry in receipt["logs"] if entry["topics"][0] == LIQUIDATION_CALL_TOPIC]
    repaid, seized, _, _ = decode(["uint256", "uint256", "address", "bool"], bytes.fromhex(log["data"][2:]))
    assert (repaid, seized) == (result.debt_repaid, result.collateral_to_liquidator)

    after = aave.reserves()
    assert result.reserves == after
    chain_positions = aave.positions(borrower, after)
    assert list(result.borrower) == chain_positions
    assert {a: r.deficit for a, r in after.items() if r.deficit} == result.deficits
    model_after = user_account_data(result.borrower, ts, e_mode).as_tuple()
    assert model_after == tuple(aave.pool.call("getUserAccountData", borrower))
    return ""


@pytest.mark.parametrize("case", list(LIQUIDATIONS))
def test_liquidation_matches_the_real_call(aave: AaveOnChain, devnet: Devnet, case: str) -> None:
    index, moves, fraction, to_a_tokens = LIQUIDATIONS[case]
    for sym, factor in moves.items():
        set_aave_price(devnet.http_url, sym, int(usd_price_8dec(sym) * factor))
    if case == "e_mode_same_asset":
        lower_e_mode_threshold(aave)
    borrower = seeded_address("borrower", index)
    assert aave.pool.call("getUserAccountData", borrower)[5] < 10**18
    assert liquidate_and_compare(aave, devnet.accounts[1].address, index, fraction, to_a_tokens) == ""
    if case == "bad_debt":
        (_, debt) = debt_and_collateral(index)
        assert aave.pool.call("getReserveDeficit", debt) > 0
        assert aave.pool.call("getUserAccountData", borrower)[:2] == (0, 0)


def test_random_liquidations(aave: AaveOnChain, devnet: Devnet) -> None:
    """Seeded random price drops, debt fractions and aToken choices over the non-e-mode seeded borrowers."""
    rng = random.Random(SEED)
    print(f"seed {SEED}")
    outcomes = []
    for _ in range(12):
        index = rng.randrange(6)
        borrower = PARAMS.borrowers[index]
        (coll_sym,) = borrower.collateral
        factor = rng.uniform(0.3, 0.99 / borrower.health_factor)
        fraction = rng.choice([None, rng.uniform(0.01, 1.0), rng.uniform(0.9, 1.0)])
        snapshot = devnet.snapshot()
        try:
            set_aave_price(devnet.http_url, coll_sym, int(usd_price_8dec(coll_sym) * factor))
            outcomes.append(
                liquidate_and_compare(aave, devnet.accounts[1].address, index, fraction, rng.random() < 0.3)
            )
        finally:
            devnet.revert(snapshot)
    print("outcomes", outcomes)
    assert outcomes.count("") >= 6, outcomes


def test_flash_loan_simple(aave: AaveOnChain, devnet: Devnet) -> None:
    """Premium (rounded up, all to the protocol) and the reserve after a repaid flashLoanSimple."""
    user = devnet.accounts[4].address
    data = artifact("AaveFlashLoanReceiverHarness", "AaveMathHarness")
    code = data["bytecode"]["object"] + encode(["address"], [MARKET.pool]).hex()
    tx_hash = aave.rpc.call("eth_sendTransaction", [{"from": user, "data": code, "gas": hex(3_000_000)}])
    receiver = None
    while receiver is None:
        receipt = aave.rpc.call("eth_getTransactionReceipt", [tx_hash])
        receiver = receipt and receipt["contractAddress"]
    harness = Contract(aave.rpc, data["abi"], receiver)
    premium_total = aave.pool.call("FLASHLOAN_PREMIUM_TOTAL")
    assert premium_total == PARAMS.flashloan_premium_total
    assert aave.pool.call("FLASHLOAN_PREMIUM_TO_PROTOCOL") == FLASHLOAN_PREMIUM_TO_PROTOCOL
    rng = random.Random(SEED)
    premium_funds = {"WETH": 50 * 10**18, "USDC": 100_000 * 10**6, "DAI": 100_000 * 10**18}
    for sym in ("WETH", "USDC", "DAI", "USDC"):
        asset = token(sym)
        aave.send(user, asset, aave.erc20(asset), "transfer", receiver, premium_funds[sym])
        before = aave.reserve(asset)
        amount = rng.randrange(1, aave.a_token(asset).call("totalSupply") // 3)
        held = aave.erc20(asset).call("balanceOf", receiver)
        receipt = aave.send(user, MARKET.pool, aave.pool, "flashLoanSimple", receiver, asset, amount, b"", 0)
        model = flash_loan_simple(before, amount, premium_total, aave.block_timestamp(receipt))
        assert model.premium == flash_loan_premium(amount, premium_total) == harness.call("lastPremium") > 0
        assert held - aave.erc20(asset).call("balanceOf", receiver) == model.premium
        assert model.reserve == aave.reserve(asset)


def test_dust_rule_reverts_in_both(aave: AaveOnChain, devnet: Devnet) -> None:
    """At HF < 0.95 the whole debt may go, but leaving $500 of it behind is refused."""
    set_aave_price(devnet.http_url, "WETH", int(usd_price_8dec("WETH") * 0.86))
    borrower, (collateral, debt) = seeded_address("borrower", 0), debt_and_collateral(0)
    liquidator = devnet.accounts[1].address
    aave.send(liquidator, debt, aave.erc20(debt), "approve", MARKET.pool, MAX_UINT256)
    positions = aave.positions(borrower)
    now = aave.timestamp()
    owed = {p.reserve.asset: p for p in positions}[debt].debt(now + 1)
    for left, reason in ((500 * 10**6, "MustNotLeaveDust"), (1_500 * 10**6, "")):
        cover = owed - left
        data = aave.pool.calldata("liquidationCall", collateral, debt, borrower, cover, False)
        aave.rpc.call("evm_setNextBlockTimestamp", [now + 1])  # eth_call runs at `latest`: mine to fix it
        aave.rpc.call("evm_mine", [])
        chain = aave.revert_of({"from": liquidator, "to": MARKET.pool, "data": "0x" + data.hex()})
        try:
            liquidation_call(positions, collateral, debt, cover, now + 1)
            model = ""
        except AaveV3Revert as revert:
            model = revert.reason
        assert model == chain == reason
        now += 1


def test_positions_helper_sees_flags(aave: AaveOnChain) -> None:
    """The reader decodes getUserConfiguration: seeded borrower 0 supplies WETH and borrows USDC."""
    by_asset: dict[str, UserReserve] = {
        p.reserve.asset: p for p in aave.positions(seeded_address("borrower", 0))
    }
    assert by_asset[token("WETH")].using_as_collateral and not by_asset[token("WETH")].borrowing
    assert by_asset[token("USDC")].borrowing and not by_asset[token("USDC")].using_as_collateral
    assert by_asset[token("DAI")].scaled_a_token_balance == by_asset[token("DAI")].scaled_variable_debt == 0
