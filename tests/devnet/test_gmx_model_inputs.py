"""chain/gmx/model_inputs.py against the GMX stand-in on the Arbitrum replica: the execution model's
MarketParameters read from the DataStore are the markets gmx_markets.toml seeds, the ledger starts at the
seeded pools with nothing open, and a virtual token id with its inventory is read at the block asked
for (the stand-in seeds none; the parity test never exercises them)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from defibots.chain.calldata import calldata
from defibots.chain.gmx import keys as K
from defibots.chain.gmx.model_inputs import NO_VIRTUAL_TOKEN, ModelInputs
from defibots.chain.gmx.reader import GmxReader, MarketProps
from defibots.chain.rpc import JsonRpc
from defibots.devnet import gmx_standin as g
from defibots.devnet.gmx_markets import GmxMarketParams
from defibots.devnet.node import Devnet
from defibots.protocols.gmx_v2 import execution as X
from defibots.protocols.gmx_v2.market import MarketConfig

pytestmark = pytest.mark.devnet


def seeded_parameters(m: GmxMarketParams, min_collateral_usd: int, min_size_usd: int) -> X.MarketParameters:
    pricing = MarketConfig(
        position_fee_factor_for_balance_was_improved=m.position_fee_factor_positive,
        position_fee_factor_for_balance_was_not_improved=m.position_fee_factor_negative,
        position_impact_factor_positive=m.position_impact_factor_positive,
        position_impact_factor_negative=m.position_impact_factor_negative,
        position_impact_exponent_factor_positive=m.position_impact_exponent_factor,
        position_impact_exponent_factor_negative=m.position_impact_exponent_factor,
        max_position_impact_factor_positive=m.max_position_impact_factor_positive,
        max_position_impact_factor_negative=m.max_position_impact_factor_negative,
        max_position_impact_factor_for_liquidations=m.max_position_impact_factor_for_liquidations,
        min_collateral_factor_for_liquidation=m.min_collateral_factor_for_liquidation,
        max_pnl_factor_for_traders_long=m.max_pnl_factor_for_traders_long,
        max_pnl_factor_for_traders_short=m.max_pnl_factor_for_traders_short,
    )
    return X.MarketParameters(
        market=m.market_token.lower(),
        index_token=m.index.address.lower(),
        long_token=m.long.address.lower(),
        short_token=m.short.address.lower(),
        pricing=pricing,
        min_collateral_factor=m.min_collateral_factor,
        min_collateral_usd=min_collateral_usd,
        min_position_size_usd=min_size_usd,
        max_open_interest_long=m.max_open_interest_long_usd,
        max_open_interest_short=m.max_open_interest_short_usd,
        reserve_factor_long=m.reserve_factor_long,
        reserve_factor_short=m.reserve_factor_short,
        borrowing_factor_long=m.borrowing_factor_long,
        borrowing_factor_short=m.borrowing_factor_short,
        borrowing_exponent_factor_long=m.borrowing_exponent_factor_long,
        borrowing_exponent_factor_short=m.borrowing_exponent_factor_short,
        funding_factor=m.funding_factor,
        funding_exponent_factor=m.funding_exponent_factor,
    )


def test_market_inputs_are_the_seeded_markets(arb_devnet: Devnet) -> None:
    d = g.deployment()
    inputs = ModelInputs(JsonRpc(arb_devnet.http_url), d["SyntheticsReader"], d["DataStore"])
    reader = GmxReader(arb_devnet.w3, d["SyntheticsReader"], d["DataStore"])
    block = arb_devnet.block_number()
    config = d.markets
    assert len(config.markets) == 2
    for m in config.markets:
        props = reader.market(m.market_token)
        assert props == MarketProps(m.market_token, m.index.address, m.long.address, m.short.address)
        market = inputs.market(props, block)
        expected = seeded_parameters(m, config.min_collateral_usd, config.min_position_size_usd)
        assert market.parameters == expected
        assert market.virtual_token_id == NO_VIRTUAL_TOKEN
        ledger = inputs.ledger(market, block)
        assert (ledger.long_pool_amount, ledger.short_pool_amount) == (
            m.long_pool_amount,
            m.short_pool_amount,
        )
        assert ledger.position_impact_pool_amount == m.position_impact_pool_amount
        assert ledger.long_open_interest == ledger.short_open_interest == X.OpenInterest()
        assert ledger.virtual_inventory == 0


def test_virtual_inventory_is_read_at_the_block_asked_for(arb_devnet: Devnet) -> None:
    d = g.deployment()
    inputs = ModelInputs(JsonRpc(arb_devnet.http_url), d["SyntheticsReader"], d["DataStore"])
    m = d.markets.markets[0]
    props = MarketProps(m.market_token, m.index.address, m.long.address, m.short.address)
    before = arb_devnet.block_number()
    virtual_id = K.hash_string("VIRTUAL_TOKEN_ETH")
    controller = d["Config"]  # a CONTROLLER of the stand-in's DataStore
    arb_devnet.rpc("anvil_impersonateAccount", controller)
    arb_devnet.rpc("anvil_setBalance", controller, hex(10**18))
    writes = [
        calldata("setBytes32(bytes32,bytes32)", K.virtual_token_id(m.index.address), virtual_id),
        calldata("setInt(bytes32,int256)", K.virtual_inventory_for_positions(virtual_id), -7 * 10**30),
    ]
    for data in writes:
        tx: Any = {"from": controller, "to": d["DataStore"], "data": data}
        receipt = arb_devnet.w3.eth.wait_for_transaction_receipt(arb_devnet.w3.eth.send_transaction(tx))
        assert receipt["status"] == 1
    after = arb_devnet.block_number()

    market = inputs.market(props, after)
    assert market.virtual_token_id == virtual_id
    assert inputs.ledger(market, after).virtual_inventory == -7 * 10**30
    assert inputs.market(props, before).virtual_token_id == NO_VIRTUAL_TOKEN
    assert inputs.ledger(market, before).virtual_inventory == 0
    assert inputs.ledger(market, after) == replace(
        inputs.ledger(market, before), virtual_inventory=-7 * 10**30
    )
