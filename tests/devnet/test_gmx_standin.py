"""The GMX stand-in on the Arbitrum replica: at the SDK's addresses, its markets GMX's own (the SDK's
MARKETS[42161]) and seeded as gmx_markets.toml says, the pools really funded, and only the keeper may
execute orders."""

from __future__ import annotations

import pytest
from eth_abi import decode
from web3 import Web3
from web3.exceptions import ContractCustomError

from defibots.chain.calldata import calldata, selector
from defibots.chain.gmx import keys as K
from defibots.devnet import gmx_standin as g
from defibots.devnet.node import Devnet

pytestmark = pytest.mark.devnet


def call(w3: Web3, to: str, data: str, sender: str | None = None) -> bytes:
    tx = {"to": Web3.to_checksum_address(to), "data": data}
    if sender is not None:
        tx["from"] = Web3.to_checksum_address(sender)
    return bytes(w3.eth.call(tx))  # type: ignore[arg-type]


def reverts_with(w3: Web3, to: str, data: str, sender: str, error: str) -> None:
    """The call reverts with GMX's custom error `error` (its selector leads the revert data)."""
    with pytest.raises(ContractCustomError) as raised:
        call(w3, to, data, sender)
    assert str(raised.value.data).startswith("0x" + selector(error).hex())


def uint(w3: Web3, key: bytes) -> int:
    data_store = g.deployment()["DataStore"]
    return int(decode(["uint256"], call(w3, data_store, calldata("getUint(bytes32)", key)))[0])


def test_every_stand_in_sits_at_its_sdk_address(arbitrum: Devnet) -> None:
    sdk, d = g.sdk_contracts(), g.deployment()
    for p in g.PLACEMENTS:
        assert arbitrum.w3.eth.get_code(d[p.name]) != b"", p.name
        if p.in_sdk:
            assert d[p.name] == sdk[p.name]
    assert {"DataStore", "ExchangeRouter", "SyntheticsRouter", "OrderVault", "SyntheticsReader"} <= {
        p.name for p in g.PLACEMENTS if p.in_sdk
    }


def test_markets_are_gmx_own_and_seeded_from_the_config(arbitrum: Devnet) -> None:
    w3, d = arbitrum.w3, g.deployment()
    out = call(
        w3, d["SyntheticsReader"], calldata("getMarkets(address,uint256,uint256)", d["DataStore"], 0, 10)
    )
    markets = decode(["(address,address,address,address)[]"], out)[0]
    sdk = g.sdk_markets()
    assert len(markets) == len(d.markets.markets) == 2
    for (token, index, long, short), params in zip(markets, d.markets.markets, strict=True):
        listed = sdk[Web3.to_checksum_address(token)]
        assert (index, long, short) == tuple(
            str(listed[f]).lower() for f in ("indexTokenAddress", "longTokenAddress", "shortTokenAddress")
        )
        assert Web3.to_checksum_address(token) == params.market_token
        mk = params.market_token
        assert uint(w3, K.position_fee_factor(mk, False)) == params.position_fee_factor_negative
        assert uint(w3, K.min_collateral_factor(mk)) == params.min_collateral_factor
        assert uint(w3, K.position_impact_exponent_factor(mk, True)) == 2 * 10**30
        for tok, amount in ((params.long, params.long_pool_amount), (params.short, params.short_pool_amount)):
            assert uint(w3, K.pool_amount(mk, tok.address)) == amount
            held = call(w3, tok.address, calldata("balanceOf(address)", mk))
            assert int.from_bytes(held, "big") == amount
    eth = d.markets.market("ETH-USD")
    assert eth.position_fee_factor_positive == 5 * 10**26  # "0.0005" x 1e30, exactly
    assert uint(w3, K.MIN_COLLATERAL_USD) == 10**30


def test_only_the_keeper_may_execute_and_only_controllers_write(arbitrum: Devnet) -> None:
    w3, d = arbitrum.w3, g.deployment()
    has_role = "hasRole(address,bytes32)"
    for role in (K.ORDER_KEEPER, K.LIQUIDATION_KEEPER):
        assert call(w3, d["RoleStore"], calldata(has_role, d.keeper, role))[-1] == 1
    user = arbitrum.accounts[1].address
    assert call(w3, d["RoleStore"], calldata(has_role, user, K.ORDER_KEEPER))[-1] == 0
    empty = ((), (), ())
    execute = calldata("executeOrder(bytes32,(address[],address[],bytes[]))", b"\x01" * 32, empty)
    unauthorized = "Unauthorized(address,string)"
    reverts_with(w3, d["OrderHandler"], execute, user, unauthorized)
    write = calldata("setUint(bytes32,uint256)", K.MIN_COLLATERAL_USD, 0)
    reverts_with(w3, d["DataStore"], write, user, unauthorized)
    # the keeper passes the role check and reaches the order lookup
    reverts_with(w3, d["OrderHandler"], execute, d.keeper, "EmptyOrder()")
