"""The shipped GMX addresses and token list (chain/abi/gmx/arbitrum.json) are @gmx-io/sdk's own, read by node
from the pinned package: CONTRACTS[42161] for every contract the client uses, TOKENS[42161] field by field."""

from __future__ import annotations

import pytest

from defibots.chain.gmx.deployment import CONTRACT_NAMES, TOKEN_FIELDS, gmx_deployment, market_name
from defibots.errors import UserError

from .sdk import run_node


def sdk(expression: str) -> object:
    return run_node(
        "out((() => { const c = require('@gmx-io/sdk/configs/contracts');"
        " const t = require('@gmx-io/sdk/configs/tokens');"
        f" return {expression}; }})())"
    )


def test_contracts_equal_the_sdks() -> None:
    contracts = sdk("c.CONTRACTS[42161]")
    assert isinstance(contracts, dict)
    d = gmx_deployment(42161)
    for name in CONTRACT_NAMES:
        assert d[name].lower() == str(contracts[name]).lower(), name
    assert gmx_deployment(31338).contracts == d.contracts  # the replica holds the stand-in at GMX's addresses


def test_tokens_equal_the_sdks() -> None:
    tokens = sdk("t.TOKENS[42161].filter(x => /^0x[0-9a-fA-F]{40}$/.test(x.address))")
    assert isinstance(tokens, list)
    d = gmx_deployment(42161)
    assert len(d.tokens) == len(tokens) > 50
    for ours, theirs in zip(d.tokens, tokens, strict=True):
        assert ours.address.lower() == theirs["address"].lower()
        assert (ours.symbol, ours.decimals) == (theirs["symbol"], theirs["decimals"])
        assert ours.is_synthetic == bool(theirs.get("isSynthetic", False))
        assert ours.base_symbol == theirs.get("baseSymbol")
        assert ours.asset_symbol == theirs.get("assetSymbol")
        assert ours.is_native == bool(theirs.get("isNative", False))
    assert set(TOKEN_FIELDS) >= {"symbol", "address", "decimals", "isSynthetic"}


def test_names_users_type() -> None:
    d = gmx_deployment(42161)
    weth, wbtc, usdc = (d.token_named(n) for n in ("WETH", "wbtc", "USDC"))
    assert weth is not None and weth.address == "0x82aF49447D8a07e3bd95BD0d56f35241523fBab1"
    assert wbtc is not None and wbtc.address == "0x2f2a2543B76A4166549F7aaB2e75Bef0aefC5B0f"
    assert usdc is not None and usdc.decimals == 6
    btc = d.token_at("0x47904963fc8b2340414262125aF798B9655E58Cd")  # GMX's synthetic BTC index token
    assert btc is not None and btc.is_synthetic
    assert market_name(weth, weth.address) == "ETH" and market_name(btc, btc.address) == "BTC"


def test_overrides_and_unknown_chains() -> None:
    other = "0x" + "11" * 20
    assert gmx_deployment(42161, {"DataStore": other}).data_store.lower() == other
    with pytest.raises(UserError, match="not a GMX contract"):
        gmx_deployment(42161, {"Vault": other})
    with pytest.raises(UserError, match="not an address"):
        gmx_deployment(42161, {"DataStore": "nope"})
    with pytest.raises(UserError, match="GMX is not known on chain 1"):
        gmx_deployment(1)
