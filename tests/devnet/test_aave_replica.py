"""Aave v3.6 on the mainnet replica: the real Pool at mainnet's address, the seeded risk parameters read
back through the protocol's own data provider, Chainlink-style feeds that move AaveOracle, seeded
borrowers over a range of health factors, and a dev account supplying and borrowing through the Pool."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from web3 import Web3

from defibots.chain import addresses as A
from defibots.chain.aave_addresses import aave_v3_ethereum
from defibots.devnet.aave_params import RESERVE_ORDER, aave_params
from defibots.devnet.aave_replica import (
    AAVE_OUT,
    feed_aggregator,
    seeded_address,
    set_aave_price,
    usd_price_8dec,
)
from defibots.devnet.node import Devnet
from defibots.devnet.replica import DEV_ACCOUNT_WETH
from defibots.paths import forge_artifact, project_root

MARKET = aave_v3_ethereum()
PARAMS = aave_params()
WAD = 10**18
ZERO = "0x" + "00" * 20


def aave(w3: Web3, name: str, address: str) -> Any:
    path = project_root() / AAVE_OUT / f"{name}.sol" / f"{name}.json"
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=json.loads(path.read_text())["abi"])


def feed(w3: Web3, symbol: str) -> Any:
    """The asset's price source: Chainlink's AggregatorProxy, as on mainnet."""
    path = project_root() / "out-chainlink" / "AggregatorProxy.sol" / "AggregatorProxy.json"
    return w3.eth.contract(address=MARKET.asset(symbol).price_source, abi=json.loads(path.read_text())["abi"])


def aggregator(w3: Web3, symbol: str) -> Any:
    """The OCR2 aggregator behind the proxy, which takes the updates and emits AnswerUpdated."""
    data = json.loads(forge_artifact("ReplicaAggregator.sol", "ReplicaAggregator").read_text())
    return w3.eth.contract(address=feed_aggregator(symbol), abi=data["abi"])


def test_address_json_equals_the_npm_address_book() -> None:
    script = project_root() / "scripts" / "gen_aave_addresses.py"
    done = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    for sym in RESERVE_ORDER:  # the replica's tokens are the address book's underlyings
        assert MARKET.asset(sym).underlying == A.TOKENS[sym].address
        assert MARKET.asset(sym).decimals == A.TOKENS[sym].decimals


def test_pool_at_mainnet_address_is_revision_10(devnet: Devnet) -> None:
    w3 = devnet.w3
    revision = w3.eth.call({"to": MARKET.pool, "data": Web3.keccak(text="POOL_REVISION()")[:4].hex()})
    assert int.from_bytes(revision, "big") == 10
    provider = aave(w3, "PoolAddressesProvider", MARKET.pool_addresses_provider).functions
    assert provider.getPool().call() == MARKET.pool
    assert provider.getPoolConfigurator().call() == MARKET.pool_configurator
    assert provider.getPriceOracle().call() == MARKET.oracle
    assert provider.getACLManager().call() == MARKET.acl_manager
    assert provider.getPoolDataProvider().call() == MARKET.protocol_data_provider
    assert provider.getACLAdmin().call() == MARKET.acl_admin
    gateway = aave(w3, "WrappedTokenGatewayV3", MARKET.weth_gateway).functions
    assert gateway.getWETHAddress().call() == A.TOKENS["WETH"].address
    for address in (MARKET.ui_pool_data_provider, MARKET.liquidation_data_provider):
        assert len(w3.eth.get_code(address)) > 1000


def test_reserves_list_has_the_five_tokens(devnet: Devnet) -> None:
    pool = aave(devnet.w3, "PoolInstance", MARKET.pool).functions
    assert pool.getReservesList().call() == [A.TOKENS[sym].address for sym in RESERVE_ORDER]


def test_data_provider_returns_the_seeded_params(devnet: Devnet) -> None:
    w3 = devnet.w3
    data = aave(w3, "AaveProtocolDataProvider", MARKET.protocol_data_provider).functions
    pool = aave(w3, "PoolInstance", MARKET.pool).functions
    rates = aave(w3, "DefaultReserveInterestRateStrategyV2", MARKET.asset("WETH").interest_rate_strategy)
    for sym in RESERVE_ORDER:
        r, asset = PARAMS.reserves[sym], A.TOKENS[sym].address
        config = data.getReserveConfigurationData(asset).call()
        assert config == [
            A.TOKENS[sym].decimals,
            r.ltv,
            r.liquidation_threshold,
            r.liquidation_bonus,
            r.reserve_factor,
            True,  # usable as collateral
            True,  # borrowing enabled
            False,  # stable borrowing (gone in v3.2+)
            True,  # active
            False,  # frozen
        ]
        assert data.getReserveCaps(asset).call() == [r.borrow_cap, r.supply_cap]
        assert data.getLiquidationProtocolFee(asset).call() == r.liquidation_protocol_fee
        assert data.getFlashLoanEnabled(asset).call() is True
        tokens = data.getReserveTokensAddresses(asset).call()
        address_book = MARKET.asset(sym)
        assert tokens == [address_book.a_token, ZERO, address_book.replica_variable_debt_token]
        curve = rates.functions.getInterestRateDataBps(asset).call()
        assert tuple(curve) == (
            r.optimal_usage_ratio,
            r.base_variable_borrow_rate,
            r.variable_rate_slope1,
            r.variable_rate_slope2,
        )
    assert pool.FLASHLOAN_PREMIUM_TOTAL().call() == PARAMS.flashloan_premium_total
    (emode,) = PARAMS.e_modes
    assert tuple(pool.getEModeCategoryCollateralConfig(emode.category_id).call()) == (
        emode.ltv,
        emode.liquidation_threshold,
        emode.liquidation_bonus,
    )
    assert pool.getEModeCategoryLabel(emode.category_id).call() == emode.label
    weth_bit = 1 << RESERVE_ORDER.index("WETH")
    assert pool.getEModeCategoryCollateralBitmap(emode.category_id).call() == weth_bit
    assert pool.getEModeCategoryBorrowableBitmap(emode.category_id).call() == weth_bit


def test_feeds_answer_seeded_prices_and_updates_move_the_oracle(devnet: Devnet) -> None:
    w3 = devnet.w3
    oracle = aave(w3, "AaveOracle", MARKET.oracle).functions
    assert oracle.BASE_CURRENCY_UNIT().call() == PARAMS.base_currency_unit == 10**8
    for sym in RESERVE_ORDER:
        source = feed(w3, sym).functions
        assert oracle.getSourceOfAsset(A.TOKENS[sym].address).call() == MARKET.asset(sym).price_source
        assert source.aggregator().call() == feed_aggregator(sym) and source.phaseId().call() == 1
        assert source.decimals().call() == 8 and source.description().call() == f"{sym} / USD"
        round_id, answer, _, updated_at, _ = source.latestRoundData().call()
        assert answer == usd_price_8dec(sym) == oracle.getAssetPrice(A.TOKENS[sym].address).call()
        assert updated_at > 0 and round_id == (1 << 64) + 1  # phase 1, the aggregator's first round
    weth_feed, weth_aggregator = feed(w3, "WETH"), aggregator(w3, "WETH")
    round_before = weth_aggregator.functions.latestRound().call()
    receipt = w3.eth.wait_for_transaction_receipt(set_aave_price(devnet.http_url, "WETH", 2_500 * 10**8))
    assert receipt["status"] == 1 and receipt["to"] == feed_aggregator("WETH")
    (event,) = weth_aggregator.events.AnswerUpdated().process_receipt(receipt)
    assert event["address"] == feed_aggregator("WETH")  # the aggregator emits it, not the proxy
    assert event["args"]["current"] == 2_500 * 10**8
    assert event["args"]["roundId"] == round_before + 1
    (transmission,) = weth_aggregator.events.NewTransmission().process_receipt(receipt)
    observations = transmission["args"]["observations"]
    assert observations[len(observations) // 2] == 2_500 * 10**8
    assert oracle.getAssetPrice(A.TOKENS["WETH"].address).call() == 2_500 * 10**8
    assert weth_feed.functions.latestRoundData().call()[:2] == [(1 << 64) + round_before + 1, 2_500 * 10**8]


def test_seeded_borrowers_sit_at_their_health_factors(devnet: Devnet) -> None:
    pool = aave(devnet.w3, "PoolInstance", MARKET.pool).functions
    factors = []
    for i, borrower in enumerate(PARAMS.borrowers):
        collateral, debt, _, _, _, hf = pool.getUserAccountData(seeded_address("borrower", i)).call()
        assert collateral > 0 and debt > 0
        assert hf / WAD == pytest.approx(borrower.health_factor, rel=0.005)
        assert pool.getUserEMode(seeded_address("borrower", i)).call() == borrower.e_mode
        factors.append(hf / WAD)
    assert min(factors) < 1.05 and max(factors) > 2.9
    for i in range(len(PARAMS.suppliers)):
        collateral, debt, *_ = pool.getUserAccountData(seeded_address("supplier", i)).call()
        assert collateral > 0 and debt == 0


def test_liquidatable_after_a_price_drop(devnet: Devnet) -> None:
    """The most leveraged non-e-mode WETH borrower (HF 1.04) goes under 1 when WETH falls 5%."""
    pool = aave(devnet.w3, "PoolInstance", MARKET.pool).functions
    who = seeded_address("borrower", 0)
    assert PARAMS.borrowers[0].collateral.keys() == {"WETH"}
    hf_before = pool.getUserAccountData(who).call()[5]
    set_aave_price(devnet.http_url, "WETH", usd_price_8dec("WETH") * 95 // 100)
    hf_after = pool.getUserAccountData(who).call()[5]
    assert hf_after < WAD < hf_before
    assert hf_after == pytest.approx(hf_before * 0.95, rel=1e-4)


def test_dev_account_supplies_weth_and_borrows_usdc(devnet: Devnet) -> None:
    w3 = devnet.w3
    user = devnet.accounts[0].address
    pool = aave(w3, "PoolInstance", MARKET.pool)
    weth = aave(w3, "IERC20", A.TOKENS["WETH"].address)
    usdc = aave(w3, "IERC20", A.TOKENS["USDC"].address)
    data = aave(w3, "AaveProtocolDataProvider", MARKET.protocol_data_provider).functions
    a_weth, _, _ = data.getReserveTokensAddresses(A.TOKENS["WETH"].address).call()
    _, _, v_usdc = data.getReserveTokensAddresses(A.TOKENS["USDC"].address).call()
    supplied, borrowed = 10 * 10**18, 15_000 * 10**6
    usdc_before = usdc.functions.balanceOf(user).call()

    def send(call: Any) -> None:
        receipt = w3.eth.wait_for_transaction_receipt(call.transact({"from": user}))
        assert receipt["status"] == 1

    send(weth.functions.approve(MARKET.pool, supplied))
    send(pool.functions.supply(A.TOKENS["WETH"].address, supplied, user, 0))
    send(pool.functions.borrow(A.TOKENS["USDC"].address, borrowed, 2, 0, user))

    assert usdc.functions.balanceOf(user).call() - usdc_before == borrowed
    assert aave(w3, "IERC20", a_weth).functions.balanceOf(user).call() >= supplied - 1
    assert aave(w3, "IERC20", v_usdc).functions.balanceOf(user).call() >= borrowed
    collateral, debt, _, lt, ltv, hf = pool.functions.getUserAccountData(user).call()
    assert collateral == pytest.approx(10 * usd_price_8dec("WETH"), abs=2)  # aToken rounding
    assert debt == pytest.approx(15_000 * 10**8, abs=200)  # v3.6 rounds debt up: <= 2 wei of USDC
    assert (lt, ltv) == (PARAMS.reserves["WETH"].liquidation_threshold, PARAMS.reserves["WETH"].ltv)
    assert hf == pytest.approx(collateral * lt * WAD // 10_000 // debt, rel=1e-6)


def test_dev_accounts_stay_clean(devnet: Devnet) -> None:
    """The Aave build touches no dev account: only the base replica's own WETH wrap (nonce 1), no position."""
    pool = aave(devnet.w3, "PoolInstance", MARKET.pool).functions
    weth = aave(devnet.w3, "IERC20", A.TOKENS["WETH"].address).functions
    for account in devnet.accounts:
        assert devnet.w3.eth.get_transaction_count(account.address) == 1
        assert weth.balanceOf(account.address).call() == DEV_ACCOUNT_WETH * 10**18
        assert pool.getUserAccountData(account.address).call()[:2] == [0, 0]
